"""What the order service does with orders: intake, payment, changes and progress."""
