"""Baselines behind the same interface as M²VAE (``fit()``, then ``score_indices(users, items) → [U, I]``).

``BASELINES`` names every comparison model (learned baselines and untrained references); ``build_baseline``
makes one at its published defaults ← tuned preset ← overrides (``registry.py``).
"""

from .base import FixedScorer, Recommender, Settings, TrainedBaseline
from .reference import content_activity_scorer, content_activity_v1_scorer, random_scorer, userpop_scorer
from .registry import BASELINE_NAMES as BASELINES
from .registry import baseline_defaults, build_baseline, spec

__all__ = ["BASELINES", "FixedScorer", "Recommender", "Settings", "TrainedBaseline", "baseline_defaults",
           "build_baseline", "content_activity_scorer", "content_activity_v1_scorer", "random_scorer", "spec",
           "userpop_scorer"]
