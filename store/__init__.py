"""Parity: a point-in-time correct feature store."""
