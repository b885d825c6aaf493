"""The inventory service's event handlers, one module per input topic."""
