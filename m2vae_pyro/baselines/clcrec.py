"""clcrec (interim: the shared contrastive model until it is rewritten as published)."""

from .contrastive import ContrastiveCF


class CLCRec(ContrastiveCF):
    def __init__(self, ds, split, settings, tau: float = 0.2, weight: float = 0.5):
        super().__init__(ds, split, settings, form="clcrec", tau=tau, weight=weight)


MODEL = CLCRec
DEFAULTS = dict(lr=1e-3, d=64, tau=0.2, weight=0.5)
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128]}
