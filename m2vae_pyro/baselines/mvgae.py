"""Placeholder until the method is written (issue 20)."""

UNAVAILABLE = "not implemented yet"
