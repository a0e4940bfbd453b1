"""The user-facing facade: ``M2VAE(dataset, config).fit()``, ``score``, ``embed_cold_items``, ``sample_posterior``
(raw ids; ``*_indices`` for indices),
``save``/``load``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .atomic import atomic_write
from .config import Config, config_from_dict
from .data.dataset import Dataset
from .data.errors import DataError
from .data.new_items import NewItems, append_items, fingerprint, new_items_from_frame, split_grown
from .data.sampling import TripleSampler
from .data.split import ColdStartSplit, cold_start_split
from .evaluation.posterior import PosteriorDraws, draw_posterior
from .evaluation.protocols import evaluate
from .evaluation.scoring import embed_pairs, score_pairs
from .module.networks import M2VAENetworks
from .programs import programs
from .train.svi import SVIPlan
from .train.trainer import History, Trainer, seed_everything


def atomic_torch_save(obj, path: Path) -> None:
    """Write to a temporary file, then rename: a crash never leaves a corrupt checkpoint."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_weights(nets: torch.nn.Module, weights: dict, origin: Path) -> None:
    """``load_state_dict`` with an error that names the parameter that does not fit, not a torch traceback."""
    own = nets.state_dict()
    missing, extra = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or extra:
        raise DataError(origin, f"checkpoint does not fit this model (config or data differ): missing {missing[:3]}, "
                                f"unexpected {extra[:3]}")
    for name, value in weights.items():
        if value.shape != own[name].shape:
            raise DataError(origin, f"checkpoint does not fit this model: {name} has shape {tuple(value.shape)}, "
                                    f"this config and dataset need {tuple(own[name].shape)}")
    nets.load_state_dict(weights)


class M2VAE:
    """M²VAE on one dataset and one cold-start split.

    >>> model = M2VAE(ds, config)            # ds with image features attached when it has posters
    >>> model.fit()                          # SVI, early stopping on validation HR@5
    >>> scores = model.score(user_ids, item_ids)   # [U, I] exact per-user gated scores, raw ids
    """

    def __init__(self, ds: Dataset, config: Config, split: ColdStartSplit | None = None,
                 device: torch.device | str | None = None):
        """``device``: where to train and score, ``config.device`` unless given (the config then records it)."""
        device = torch.device(config.device if device is None else device)
        if str(device) != config.device:
            config = config.replace(device=str(device))
        self.ds, self.config = ds, config
        seed_everything(config.seed)
        self.split = split if split is not None else cold_start_split(ds, config.seed, config.cold_fraction,
                                                                      config.threshold)
        self.nets = M2VAENetworks(ds, config).to(device)  # every network, the prior among them
        self.model, self.guide = programs(self.nets)
        self.device = device
        self.history: History | None = None
        self._fingerprint: str | None = None  # of the trained data, computed at the first save

    def trainer(self, progress: bool = True, on_improve=None) -> Trainer:
        """The training loop on this model's SVI plan, early-stopping on validation HR@5 (resumable: see
        :class:`Trainer`)."""
        sampler = TripleSampler(self.split, self.ds.n_users, self.ds.n_items, self.config.c_p, self.config.c_n)
        plan = SVIPlan(self.model, self.guide, sampler, self.config,
                       validate=lambda: self.evaluate("validation", ks=(5,))["hr@5"])
        return Trainer(plan, self.config, on_improve=on_improve, progress=progress)

    def fit(self, progress: bool = True, on_improve=None) -> History:
        self.history = self.trainer(progress, on_improve).run()
        return self.history

    # -- raw ids: the dataset's own user and item ids (as in its files) ---------------------------------
    def score(self, user_ids, item_ids) -> torch.Tensor:
        """``[U, I]`` scores ``e_new(i | u) · e_u`` of raw user and item ids (exact per-pair gates)."""
        return self.score_indices(self.ds.user_index(user_ids), self.ds.item_index(item_ids))

    def embed_cold_items(self, user_ids, item_ids) -> torch.Tensor:
        """``[U, I, d]`` generated embeddings ``e_new`` of raw item ids for raw user ids, at the cold path's mean."""
        return self.embed_indices(self.ds.user_index(user_ids), self.ds.item_index(item_ids))

    def sample_posterior(self, item_ids, *, user_ids=None, num_samples: int = 100) -> PosteriorDraws:
        """Posterior draws for raw item ids (``user_ids``, by keyword: one per item, or one for all); see
        :meth:`sample_posterior_indices`. The draws' ``items`` and ``users`` are indices."""
        users = None if user_ids is None else self.ds.user_index(user_ids)
        if users is not None and np.ndim(user_ids) == 0:
            users = int(users[0])
        return self.sample_posterior_indices(self.ds.item_index(item_ids), users, num_samples)

    # -- indices 0..n-1: what the evaluators, baselines and experiments pass ------------------------------
    def score_indices(self, users, items) -> torch.Tensor:
        """``[U, I]`` scores of user and item indices (chunked under ``Config.eval_memory_mb``)."""
        self.nets.eval()
        users, items = torch.as_tensor(users).to(self.device), torch.as_tensor(items).to(self.device)
        return score_pairs(self.nets, users, items, self.config.eval_memory_mb).cpu()

    def embed_indices(self, users, items) -> torch.Tensor:
        """``[U, I, d]`` embeddings ``e_new`` generated from content at the mean of the cold path's ``z``."""
        self.nets.eval()
        users, items = torch.as_tensor(users).to(self.device), torch.as_tensor(items).to(self.device)
        return embed_pairs(self.nets, users, items).cpu()

    def sample_posterior_indices(self, items, users=None, num_samples: int = 100) -> PosteriorDraws:
        """Posterior draws of ``z_a``, ``z_c``, ``z_com``, ``z``, ``e_new`` and the score for ``items``, in order.

        Warm items are drawn from the guide (Eq. 17–18), every other item from its cold path (the guide without the
        ID view, or the conditional prior of Eq. 22; ``Config.cold_path``), as
        ``pyro.infer.Predictive`` runs them. ``users``: one per item, or one for all (the gates of Eq. 11–16 need a
        user); by default the most active training user. ``samples[site]`` is ``[num_samples, len(items), ...]``.
        """
        items = np.asarray(items, dtype=np.int64).reshape(-1)
        if users is None:
            users = int(np.argmax(self.split.user_activity(self.ds.n_users)))
        users = np.full(items.shape, users, dtype=np.int64) if np.ndim(users) == 0 else np.array(users, np.int64)
        if users.shape != items.shape:
            raise ValueError(f"users: expected one per item ({len(items)}) or a single user, got {users.shape[0]}")
        for name, ids, n in (("items", items, self.ds.n_items), ("users", users, self.ds.n_users)):
            if len(ids) and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(f"{name}: indices must lie in 0..{n - 1}")
        warm = self.split.role[items] == 0
        order = np.r_[np.flatnonzero(warm), np.flatnonzero(~warm)]
        draws = draw_posterior(self.model, self.guide, items[warm], items[~warm], users[order], num_samples)
        back = np.argsort(order)  # draw_posterior returns warm items first: restore the caller's order
        return PosteriorDraws(items, users, ~warm, {k: v[:, back] for k, v in draws.samples.items()})

    def evaluate(self, role: str = "test", ks: tuple[int, ...] | None = None,
                 protocol: str = "item-to-user") -> dict[str, float]:
        return evaluate(self.score_indices, self.ds, self.split, role, ks or self.config.ks, protocol)

    # -- items that arrive after training (data/new_items.py) ----------------------------------------------------
    def add_items(self, items: pd.DataFrame | NewItems, image_features: np.ndarray | None = None,
                  allow_empty: bool = False) -> np.ndarray:
        """Append items the model has not seen, scored from their content alone like any cold item; returns their
        indices (raw ids work too: ``score(user_ids, items["item"])``).

        ``items``: a frame laid out like ``items.csv`` (``item``, ``attributes`` as ``|``-separated tokens, further
        columns as ``COLUMN=value`` tokens) or :class:`NewItems`; ``image_features``: ``[len(items), D]`` raw
        features (EfficientNet-Lite0, as the dataset's), rows of NaN for items without an image. Tokens the training
        data lacked are ignored with one warning. The networks are not changed: a new item's score is the one it
        would have had had it been in the dataset at training time with no interaction. An item with no known
        attribute and no image is refused, or with ``allow_empty`` scored as the model scores a training item
        without content (its learned missing-content vectors: the same score for every such item).
        """
        if isinstance(items, pd.DataFrame):
            items = new_items_from_frame(items, self.ds.attribute_names, image_features)
        if not len(items):
            return np.zeros(0, dtype=np.int64)
        empty = ~items.has_content()
        if empty.any() and not allow_empty:
            raise DataError(None, f"item {str(items.ids[np.argmax(empty)])!r} has no attribute the run knows and no "
                                  f"image: nothing to score it from ({int(empty.sum())} such item(s); "
                                  "--allow-empty scores them as an item without content)")
        first = self.ds.n_items
        self.ds = append_items(self.ds, items)
        self.split = self.split.with_items(len(items))
        self.nets.attach_content(self.ds)
        return np.arange(first, self.ds.n_items)

    def score_new_items(self, user_ids, items: pd.DataFrame, image_features: np.ndarray | None = None
                        ) -> torch.Tensor:
        """``[U, I]`` scores of raw user ids for items the model has not seen (:meth:`add_items`, then score)."""
        return self.score_indices(self.ds.user_index(user_ids), self.add_items(items, image_features))

    def save(self, path: str | Path) -> None:
        """Weights, config, split roles and the identity of the trained data (ids, vocabulary, fingerprint) in one
        file (written to a temporary file, then renamed)."""
        path = Path(path)
        if self.ds.n_items != self.nets.n_items:
            raise ValueError("save a model before appending new items to it (add_items)")
        if self._fingerprint is None:  # the trained data never change: hashed once, not at every improving epoch
            self._fingerprint = fingerprint(self.ds)
        state = {"weights": self.model.state_dict(), "config": self.config.to_dict(), "dataset": self.ds.name,
                 "n_users": self.ds.n_users, "n_items": self.ds.n_items, "role": torch.from_numpy(self.split.role),
                 "item_ids": self.ds.item_ids, "user_ids": self.ds.user_ids,
                 "attribute_names": list(self.ds.attribute_names), "fingerprint": self._fingerprint}
        atomic_torch_save(state, path)

    @classmethod
    def load(cls, path: str | Path, ds: Dataset, device: torch.device | str = "cpu") -> M2VAE:
        """The model of a checkpoint on ``ds``: the data it was trained on (checked by fingerprint), or a dataset
        that grew since — its other items are then appended as new items (:meth:`add_items`)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "checkpoint not found")
        state = torch.load(path, map_location="cpu", weights_only=False)
        grown = None
        if "fingerprint" in state:  # a checkpoint that knows its data: ds may have moved, been renamed or grown
            if ds.n_items != state["n_items"] or ds.n_users != state["n_users"]:
                ds, grown = split_grown(ds, state["item_ids"], state["user_ids"], state["attribute_names"])
            found = fingerprint(ds)
            if found != state["fingerprint"]:
                raise DataError(path, f"the data differ from those the run was trained on (fingerprint {found}, "
                                      f"trained on {state['fingerprint']}; {ds.n_users} users, {ds.n_items} items, "
                                      f"{ds.n_interactions} interactions)")
            if ds.name != state["dataset"]:  # the same data in a renamed folder: the run keeps its name
                ds = dataclasses.replace(ds, name=state["dataset"])
        elif state["dataset"] != ds.name or (state["n_users"], state["n_items"]) != (ds.n_users, ds.n_items):
            raise DataError(path, f"checkpoint is for {state['dataset']} ({state['n_users']} users, "
                                  f"{state['n_items']} items), not {ds.name} ({ds.n_users}, {ds.n_items})")
        config = config_from_dict(state["config"])
        split = ColdStartSplit.from_roles(ds, state["role"].numpy(), config.seed, config.threshold)
        obj = cls(ds, config, split, device)
        load_weights(obj.model, state["weights"], path)
        obj.nets.eval()
        if grown is not None and len(grown):
            obj.add_items(grown)
        return obj
