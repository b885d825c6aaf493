"""What the inventory service does with stock, one module per concern."""
