"""What the package offers, one line each: ``m2vae list`` (models and their settings source, datasets found, presets,
priors, variants). Every list is read from its registry, so the listing cannot drift from the code."""

from __future__ import annotations

import inspect
from pathlib import Path

_REFERENCES = {
    "userpop": "untrained: users ranked by their number of training positives",
    "random": "untrained: users in a seeded random order",
    "content_activity": "untrained: the users who liked warm items of similar content, weighted by activity",
    "content_activity_v1": "untrained: content_activity with raw (uncentred) image features, as version 1 had it",
}
_PRESETS = {
    "default": "version 3: a calibrated posterior for new items (docs/paper-map.md 'Version 3')",
    "v2": "version 2: the best ranking on ML-100K; the posterior carries no per-item information",
    "paper-literal": "version 1: the printed equations, literally",
}


def _first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _short(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def catalog(data_dir: Path | None) -> str:
    from .baselines.registry import FIXED, LEARNED, spec
    from .config import PRESET_NAMES, VARIANTS
    from .data.loaders import available_datasets, default_data_dir
    from .module.priors import PRIORS

    out = ["models (m2vae experiment --models, m2vae tune --model):",
           "  m2vae                M²VAE, this package's model (settings: m2vae config show DATASET)"]
    for name in LEARNED:
        s = spec(name)
        if s.unavailable:
            source = "not available"
        else:
            source = "tuned on ml-100k; published values elsewhere" if s.tuned.get("movielens") else "published"
        title = _first_line(inspect.getmodule(s.model)) if s.model else s.unavailable
        out.append(f"  {name:<20} {_short(title, 70)} [{source}]")
    for name in FIXED:
        out.append(f"  {name:<20} {_REFERENCES[name]}")
    out.append("  prior:NAME           M²VAE with another prior; a variant name: M²VAE's Table-4 variant (both below)")
    data_dir = default_data_dir() if data_dir is None else data_dir
    found = available_datasets(data_dir) if data_dir.is_dir() else []
    out += ["", f"datasets under {data_dir} (--data-dir; or the path of a folder with interactions.csv and items.csv):",
            "  " + (", ".join(found) if found else "none found")]
    out += ["", "presets (--preset):"] + [f"  {n:<20} {_PRESETS.get(n, '')}" for n in PRESET_NAMES]
    out += ["", "priors (--prior, --set prior=NAME; the preset chooses by default):"]
    out += [f"  {n:<20} {_short(_first_line(cls), 96)}" for n, cls in PRIORS.items()]
    out += ["", "variants (--variant; Table 4):",
            "  " + ", ".join(VARIANTS)]
    return "\n".join(out)
