"""Exact chunked scoring, ranking metrics, the two evaluation protocols, posterior draws."""
