"""What the encoders and the fusion hand on: per-item views (Eq. 2–7) and the fused view (Eq. 11–16)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Views:
    """Per-item encodings. ``M`` modalities (attribute, then image when the data has one).

    ``mu``/``logvar`` ``[M, B, d]`` unique views (Eq. 3, 5); ``present`` ``[M, B]``; ``raw`` the ``M`` raw
    content vectors ``a_i``, ``c_i`` ``[B, d]`` (Eq. 3–4), with a learned stand-in where a modality is absent;
    ``mu_com``/``logvar_com`` ``[B, d]`` the common view (Eq. 7), ``None`` without one. ``id_present`` ``[B]``:
    which items keep their ID view (ID dropout), drawn with the encoder pass when both programs need it
    (``Config.dropped_id = cold``), else ``None`` (the guide draws it).

    ``items`` ``[B]`` the examples' item ids; ``distinct`` ``[n]`` the distinct items the encoder pass ran on, with
    their raw content ``item_raw``, their own view parameters ``item_params`` (:meth:`of_items`) and ``row`` ``[B]``
    the index of each example's item among them (``per_item``).

    ``memo``: what the networks derive from these views once and reuse within the step (the content path ``F_c``,
    the residual scale of the batch, the conditional prior's parameters): the guide, the model and the ranking terms
    each ask for them, and recomputing them was a sixth of a training step. Not an ``__init__`` argument, so a copy
    made with ``dataclasses.replace`` starts empty.
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    present: torch.Tensor
    raw: list[torch.Tensor]
    mu_com: torch.Tensor | None
    logvar_com: torch.Tensor | None
    id_present: torch.Tensor | None = None
    items: torch.Tensor | None = None
    distinct: torch.Tensor | None = None
    item_raw: list[torch.Tensor] | None = None
    row: torch.Tensor | None = None
    # the distinct items' own (mu, logvar, present, mu_com, logvar_com), before indexing by example (of_items)
    item_params: tuple | None = None
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def of_items(self) -> Views:
        """The views of the distinct items themselves (``[M, n, d]``…, one row per item, ``row`` none): what the view
        sites are drawn from under ``Config.view_draws = item``."""
        mu, logvar, present, mu_com, logvar_com = self.item_params
        return Views(mu, logvar, present, self.item_raw, mu_com, logvar_com, items=self.distinct)

    def modality(self, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu[m], logvar[m])``, from one ``unbind`` of each (memoised): every ``mu[m]`` is a ``select`` whose
        backward writes a zero ``[M, B, d]`` tensor and one slice of it, and the gradients of ``mu`` are then summed
        over the calls (~13 such selects a step took ~5 % of an ML-20M-size step; issue 34)."""
        if "modality" not in self.memo:
            self.memo["modality"] = (self.mu.unbind(0), self.logvar.unbind(0))
        mus, logvars = self.memo["modality"]
        return mus[m], logvars[m]

    def counts(self) -> torch.Tensor:
        """``[n]`` how many examples each distinct item has in the batch (memoised: the guide and the model both
        weigh their view sites by it)."""
        if "counts" not in self.memo:
            self.memo["counts"] = torch.bincount(self.row, minlength=len(self.distinct))
        return self.memo["counts"]

    def per_item(self, name: str | None, compute: Callable[[torch.Tensor | None, list[torch.Tensor]], Any],
                 by_example: bool = True) -> Any:
        """``compute(item ids, raw content)`` once per distinct item of the pass — a tensor or a tuple of tensors
        ``[n, …]`` — then, with ``by_example``, indexed by example (``[B, …]``). Memoised under ``name`` unless it is
        ``None`` (a random draw). Without the distinct items (``row`` is ``None``) every example is its own item."""
        if name is None or name not in self.memo:
            out = compute(self.items, self.raw) if self.row is None else compute(self.distinct, self.item_raw)
            if name is None:
                return self._by_example(out) if by_example else out
            self.memo[name] = out
        if not by_example:
            return self.memo[name]
        if (name, "by example") not in self.memo:
            self.memo[name, "by example"] = self._by_example(self.memo[name])
        return self.memo[name, "by example"]

    def _by_example(self, out: Any) -> Any:
        if self.row is None:
            return out
        if isinstance(out, tuple):  # index_select: see M2VAENetworks.views
            return tuple(t.index_select(0, self.row) for t in out)
        return out.index_select(0, self.row)


@dataclass
class Fused:
    """Output of the hierarchical MoE (Eq. 11–16): ``mu``/``logvar`` ``[B, d]``, gates ``[B, M]``, ``alpha`` ``[B]``."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gates: torch.Tensor
    alpha: torch.Tensor
