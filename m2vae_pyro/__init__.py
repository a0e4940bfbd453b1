"""m2vae-pyro: M²VAE (multi-modal multi-view VAE for cold-start item recommendation) as a Pyro program."""

from .data import DataError, Dataset, cold_start_split, load_dataset

__version__ = "0.1.0"
__all__ = ["DataError", "Dataset", "cold_start_split", "load_dataset", "__version__"]
