"""Delivery guarantees proven with real worker processes (issue 3)."""
