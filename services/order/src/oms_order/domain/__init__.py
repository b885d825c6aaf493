"""The order's pure model and rules: no database, broker or HTTP here."""
