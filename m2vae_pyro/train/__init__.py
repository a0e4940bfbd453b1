"""The SVI loop and its errors."""
