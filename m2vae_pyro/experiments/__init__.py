"""Comparisons over models and seeds: ``run_experiment`` writes ``results.csv`` and ``table.md``."""

from .harness import ABLATIONS, DEFAULT_MODELS, run_experiment
from .table import results_table

__all__ = ["ABLATIONS", "DEFAULT_MODELS", "results_table", "run_experiment"]
