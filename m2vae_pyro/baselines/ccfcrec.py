"""ccfcrec (interim: the shared contrastive model until it is rewritten as published)."""

from .contrastive import ContrastiveCF


class CCFCRec(ContrastiveCF):
    def __init__(self, ds, split, settings, tau: float = 0.1, weight: float = 0.5):
        super().__init__(ds, split, settings, form="ccfcrec", tau=tau, weight=weight)


MODEL = CCFCRec
DEFAULTS = dict(lr=1e-3, d=64, tau=0.1, weight=0.5)
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128]}
