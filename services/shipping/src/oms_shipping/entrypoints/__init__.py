"""How the world reaches the shipping service."""
