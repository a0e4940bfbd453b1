"""gorec (interim: the shared CVAE until it is rewritten as published)."""

from .cvae_shared import ContentCVAE


class GoRec(ContentCVAE):
    def __init__(self, ds, split, settings):
        super().__init__(ds, split, settings, joint=False)


MODEL = GoRec
DEFAULTS = dict(lr=1e-3, d=64)
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128]}
