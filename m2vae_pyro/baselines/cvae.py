"""cvae (interim: the shared CVAE until it is rewritten as Li & She's collaborative VAE)."""

from .cvae_shared import ContentCVAE


class CVAE(ContentCVAE):
    def __init__(self, ds, split, settings):
        super().__init__(ds, split, settings, joint=True)


MODEL = CVAE
DEFAULTS = dict(lr=1e-3, d=64)
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128]}
