"""Which customer-visible changes call for which message: pure rules."""
