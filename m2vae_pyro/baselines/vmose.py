"""VMoSE: a Table-3 row of the M²VAE paper whose own description could not be found (issue 20).

The M²VAE paper names VMoSE only in its baseline list, Table 1 ("modality uncertainty modelling" and a "dynamic
weighting mechanism", no common/specific disentanglement) and one sentence of its Discussion ("incorporating a
gating network for dynamic weighting, yet it still performs a 'flat' fusion"); its reference list has no entry for
it, and searches of the docs, pages, code and issues corpora for the name and for its likely title (variational
mixture of (sub-)experts / encoders for multi-modal cold-start recommendation) found no paper and no code. Those
two lines fix neither the objective, nor what the gate reads, nor how a cold item is scored, so any model written
from them would be ours, not VMoSE.
"""

UNAVAILABLE = ("no paper or code found: the M²VAE paper does not cite it, and its two lines on it (a gated mixture "
               "of modality Gaussians) fix neither the objective nor the cold-item inference")
