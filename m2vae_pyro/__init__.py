"""m2vae-pyro: M²VAE (multi-modal multi-view VAE for cold-start item recommendation) as a Pyro program.

``M2VAE``, ``Config`` and ``load_config`` are imported on first use, so that ``m2vae --help`` and the data
commands do not pay for torch and Pyro.
"""

from .data import DataError, Dataset, cold_start_split, load_dataset

__version__ = "0.1.0"
__all__ = ["M2VAE", "Config", "DataError", "Dataset", "cold_start_split", "load_config", "load_dataset",
           "__version__"]

_LAZY = {"M2VAE": ("m2vae", "M2VAE"), "Config": ("config", "Config"), "load_config": ("config", "load_config")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
