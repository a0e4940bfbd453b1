"""Baselines behind the same scoring interface as M²VAE."""

from .reference import content_activity_scorer, random_scorer, userpop_scorer

__all__ = ["content_activity_scorer", "random_scorer", "userpop_scorer"]
