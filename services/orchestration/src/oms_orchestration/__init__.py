"""The OMS orchestration service: where and how each order is fulfilled, and its saga."""
