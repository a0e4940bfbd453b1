"""Training loop, exact chunked scoring, evaluation protocols."""
