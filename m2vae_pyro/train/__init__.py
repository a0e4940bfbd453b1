"""The one training loop of every model (trainer.py), the plans it runs (plan.py; M²VAE's SVI: svi.py), its
errors."""
