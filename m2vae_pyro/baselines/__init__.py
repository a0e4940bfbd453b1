"""Baselines behind the same interface as M²VAE (``fit()``, then ``score_indices(users, items) → [U, I]``).

``BASELINES`` maps each name to a factory ``(ds, split, settings) → Recommender``.
"""

from .base import FixedScorer, Recommender, Settings, TrainedBaseline
from .contrastive import ContrastiveCF
from .cvae import ContentCVAE
from .dropoutnet import DropoutNet
from .reference import content_activity_scorer, content_activity_v1_scorer, random_scorer, userpop_scorer

BASELINES = {
    "random": lambda ds, split, s: FixedScorer(random_scorer(ds, split, s.seed)),
    "userpop": lambda ds, split, s: FixedScorer(userpop_scorer(ds, split)),
    "content_activity": lambda ds, split, s: FixedScorer(content_activity_scorer(ds, split)),
    "content_activity_v1": lambda ds, split, s: FixedScorer(content_activity_v1_scorer(ds, split)),
    "cvae": lambda ds, split, s: ContentCVAE(ds, split, s, joint=True),
    "gorec": lambda ds, split, s: ContentCVAE(ds, split, s, joint=False),
    "dropoutnet": lambda ds, split, s: DropoutNet(ds, split, s),
    "clcrec": lambda ds, split, s: ContrastiveCF(ds, split, s, form="clcrec", tau=0.2),
    "ccfcrec": lambda ds, split, s: ContrastiveCF(ds, split, s, form="ccfcrec", tau=0.1),
}

__all__ = ["BASELINES", "FixedScorer", "Recommender", "Settings", "TrainedBaseline", "content_activity_scorer",
           "content_activity_v1_scorer", "random_scorer", "userpop_scorer"]
