"""Plain PyTorch building blocks (no Pyro): encoders, experts, decoder, losses."""
