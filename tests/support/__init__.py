"""Helpers for tests on the real broker and database."""
