"""Data: loaders for the original public files, the cold-start split, vectorised samplers."""

from .batch import TripleBatch
from .dataset import Dataset, Modality
from .errors import DataError
from .loaders import available_datasets, default_data_dir, load_dataset
from .sampling import PairSet, Triples, TripleSampler
from .split import ColdStartSplit, cold_start_split, load_split

__all__ = [
    "ColdStartSplit", "DataError", "Dataset", "Modality", "PairSet", "TripleBatch", "TripleSampler", "Triples",
    "available_datasets", "cold_start_split", "default_data_dir", "load_dataset", "load_split",
]
