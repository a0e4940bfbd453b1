"""Every comparison model by name, with its published defaults, its validation grid and its tuned presets.

A learned baseline lives in one module of this package that defines, next to its class:

- ``MODEL``: the class, constructed as ``MODEL(ds, split, settings, **hyper)``;
- ``DEFAULTS``: its hyperparameters at the values of its paper / reference code (``Settings`` fields such as
  ``lr``, ``d``, ``weight_decay``, ``hidden`` and its own keyword arguments);
- ``GRID``: its validation grid for ``m2vae tune --model NAME`` (4–8 points, the same budget for every baseline);
- ``TUNED``: the grid's choice per dataset family, chosen on validation cold items of ml-100k seeds 0–1
  (benchmarks/RESULTS.md); empty until it has been searched;
- ``PUBLISHED`` (optional): the values its paper or official code gives for a dataset family (``amazon``).

Which values a model runs at (issue 31's rule, no tuning on Amazon for any model): on MovieLens data its
``TUNED["movielens"]``; on another family its ``PUBLISHED`` values for that family where they exist, else its
``TUNED["movielens"]`` — the same budget for every model, stated per row by :func:`settings_source`.

A method whose description could not be found is registered with ``UNAVAILABLE = "why"`` instead: experiments
print a "not available" row for it rather than leaving it out silently. Modules are imported when first used.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

from ..data.dataset import Dataset
from ..data.errors import DataError
from ..data.split import ColdStartSplit
from .base import FixedScorer, Recommender, Settings

# name → module of this package (a learned baseline)
LEARNED = {
    "ccfcrec": "ccfcrec", "clcrec": "clcrec", "pad-clrec": "pad_clrec", "dropoutnet": "dropoutnet",
    "mtpr": "mtpr", "lara": "lara", "cvar": "cvar", "gar": "gar", "cvae": "cvae", "mvdgae": "mvdgae",
    "mvgae": "mvgae", "vmose": "vmose", "gorec": "gorec", "aldi": "aldi",
}
# name → untrained reference scorer of reference.py
FIXED = ("userpop", "random", "content_activity", "content_activity_v1")
SETTINGS_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings))


@dataclass(frozen=True)
class BaselineSpec:
    name: str
    model: type | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: str | None = None
    published: dict[str, dict[str, Any]] = field(default_factory=dict)

    def preset(self, dataset: str | Dataset) -> tuple[str, dict[str, Any]]:
        """``(source, values)`` over the defaults on ``dataset`` (the rule of the module docstring)."""
        fam = family(dataset)
        if fam in self.tuned:
            return "tuned on ml-100k" if fam == "movielens" else f"tuned ({fam})", self.tuned[fam]
        if fam in self.published:
            return f"published ({fam})", self.published[fam]
        if "movielens" in self.tuned:
            return "tuned on ml-100k", self.tuned["movielens"]
        return "published defaults", {}

    def hyper(self, dataset: str | Dataset, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults ← the preset of ``dataset`` (:meth:`preset`) ← ``overrides`` (a grid point)."""
        values = self.defaults | self.preset(dataset)[1] | dict(overrides or {})
        unknown = set(values) - set(self.defaults) - SETTINGS_FIELDS
        if unknown:
            raise DataError(None, f"{self.name}: unknown hyperparameter(s) {', '.join(sorted(unknown))}; "
                                  f"it has {', '.join(sorted(self.defaults | dict.fromkeys(SETTINGS_FIELDS)))}")
        return values

    def build(self, ds: Dataset, split: ColdStartSplit, settings: Settings, hyper: dict[str, Any]) -> Recommender:
        if self.unavailable:
            raise DataError(None, f"{self.name} is not available: {self.unavailable}")
        shared = {k: v for k, v in hyper.items() if k in SETTINGS_FIELDS}
        own = {k: v for k, v in hyper.items() if k not in SETTINGS_FIELDS}
        return self.model(ds, split, dataclasses.replace(settings, **shared), **own)


def family(dataset: str | Dataset) -> str:
    """The preset family of a dataset (``data.loaders.dataset_family``; a loaded one carries it)."""
    from ..data.loaders import dataset_family

    return dataset.family if isinstance(dataset, Dataset) else dataset_family(dataset)


_SPECS: dict[str, BaselineSpec] = {}


def spec(name: str) -> BaselineSpec:
    """The registry entry of a learned baseline (imports its module on first use)."""
    if name not in _SPECS:
        module = importlib.import_module(f".{LEARNED[name]}", __package__)
        if getattr(module, "UNAVAILABLE", None):
            _SPECS[name] = BaselineSpec(name, unavailable=module.UNAVAILABLE)
        else:
            _SPECS[name] = BaselineSpec(name, module.MODEL, dict(module.DEFAULTS), dict(module.GRID),
                                        dict(getattr(module, "TUNED", {})),
                                        published=dict(getattr(module, "PUBLISHED", {})))
    return _SPECS[name]


def build_baseline(name: str, ds: Dataset, split: ColdStartSplit, settings: Settings,
                   overrides: dict[str, Any] | None = None) -> Recommender:
    """A fitted-to-be baseline or reference: ``settings`` carries the experiment's shared budget (seed, triples,
    epochs, patience); the model's own hyperparameters come from :meth:`BaselineSpec.hyper`."""
    from . import reference

    if name in FIXED:
        return FixedScorer(reference.REFERENCES[name](ds, split, **({"seed": settings.seed} if name == "random"
                                                                    else {})))
    s = spec(name)
    return s.build(ds, split, settings, s.hyper(ds, overrides))


def settings_source(name: str, dataset: str | Dataset) -> str:
    """Where a model's settings on ``dataset`` come from, as a table's row states it."""
    if name in FIXED:
        return "untrained"
    s = spec(name)
    return "not available" if s.unavailable else s.preset(dataset)[0]


def baseline_defaults(dataset: str | Dataset) -> dict[str, dict[str, Any]]:
    """Every available learned baseline's hyperparameters on ``dataset`` (recorded by experiments, so that a
    change of a default or a preset is seen when an experiment resumes)."""
    return {name: spec(name).hyper(dataset) for name in LEARNED if not spec(name).unavailable}


BASELINE_NAMES = (*LEARNED, *FIXED)
