"""Every hyper-parameter in one dataclass, with the paper's presets per dataset and the Table-4 variants."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .budget import Budget
from .data.errors import DataError

# What each scalar field accepts (an int where a float is asked is fine; a bool is never a number here).
_TYPES = {"bool": bool, "int": int, "float": (int, float), "str": str}


@dataclass
class Config(Budget):
    """M²VAE's settings: the training budget (:class:`Budget`: epochs, patience, lr, batch size, seed, device, …)
    and the model's own fields below."""

    # sizes (paper: d = 128)
    d: int = 128
    decoder_hidden: int = 256  # width of Eq. 19's MLP F; 0 makes F linear
    view_gate_hidden: int = 16
    # Eq. 19 feeds [z; a_i; c_i] to the decoder; False feeds z alone, so content reaches e_new only through the views
    decoder_content: bool = True
    # how z enters Eq. 19: "mlp" (F([z; a; c]) as printed) | "residual" (F_c([a; c]) + z: z is the residual of e_i
    # around the content path's mean; nn/decoder.py)
    decoder_z: str = "mlp"
    # dropout on the hidden layer of the content path F_c (decoder_z = residual, training only): version 2's decoder
    # had noise there for free (W_z z with z drawn from a posterior of sd ≈ 0.9); version 3's content path has none
    decoder_dropout: float = 0.0
    # objective (Eq. 26): α weighs the disentangled contrastive loss, β the co-occurrence loss
    alpha_dcl: float = 10.0
    beta_co: float = 0.5
    dcl: str = "pairwise"  # literal | pairwise | infonce (design.md §3; pairwise won on validation: paper-map)
    tau_dcl: float = 1.0
    tau_gate: float = 1.0  # Eq. 13
    # Eq. 12's three factors each at unit RMS before their product (nn/experts.py::rms_normalise); False as printed
    gate_norm: bool = False
    co_tau: float = 0.1  # Eq. 20 has none (1.0 is the literal form); 0.1 is the author's code
    co_include_positive: bool = True  # the author's code; Eq. 20 as printed has only negatives (False)
    sigma_obs: float | None = None  # Eq. 24: None → sqrt(d/2), so −log p is the MSE up to a constant
    poe_eps: float = 1e-8  # Eq. 6
    poe_prior_expert: bool = False
    # docs/design.md §2: the conditional prior p(z | a, c) of the model (a registry name, see module/priors.py)
    prior: str = "content"
    prior_hidden: int = 256
    # Eq. 17's "simple MoE" of the ID view and the fused view: sum (as printed) | mean (author's code) | poe
    combine: str = "mean"
    # fraction of training triples whose posterior has no ID view, so that the cold path q(z | a, c, u) is trained
    id_dropout: float = 0.5
    # weight of the second BPR term, on the warm ID embedding e_i (the author's code; 0 is Eq. 25 alone)
    bpr_warm: float = 1.0
    # how cold items get z: "guide" (the posterior without the ID view, per-pair gates) | "prior" (p(z | a, c))
    cold_path: str = "guide"
    # the posterior of a training triple whose ID view is dropped (id_dropout): "fused" (the guide without the ID
    # view, as cold items on cold_path = guide) | "cold" (the cold path's own distribution with its parameters held
    # constant, so that the ranking terms train the path cold items are scored by, and the ELBO's gradient does not
    # narrow the prior on examples it cannot see: their KL is 0)
    dropped_id: str = "fused"
    # how often the unique and common views z_a, z_c, z_com (Eq. 8) are drawn in a training step: "triple" (once per
    # example, as every site of the triples plate) | "item" (once per distinct item of the batch, its examples
    # sharing the draw; the view sites' KL weighted by each item's count of examples: the same expected ELBO, the
    # draws of one item's examples correlated; docs/paper-map.md "Per-item work")
    view_draws: str = "triple"
    # how the user table (n_users × d) is updated: "dense" (Adam over every row every step, as every other weight) |
    # "lazy" (row-sparse gradients and torch's SparseAdam: only the rows of a batch's users are read and updated,
    # their moments too — TensorFlow's LazyAdam; a different optimiser, not a faster form of the same one). For
    # catalogues of 10⁵ users: an ML-20M-size step 116 → 88 ms on two threads (benchmarks/RESULTS.md). The item
    # table stays dense: the co-occurrence term (Eq. 20) touches most of its rows in every batch
    user_updates: str = "dense"
    # the formulation preset whose values these are (PRESET_NAMES): the class defaults are version 2's values, so
    # they are labelled v2; replace(preset=…) applies a preset's values (load_config: the default preset, version 3)
    preset: str = "v2"
    # noise of the posterior of z: "views" (the blend of the view log-variances, Eq. 14-17) | "learned" (plus a
    # learned per-dimension shift)
    z_scale: str = "views"
    # image features as the encoders read them: "none" (Eq. 3 on the raw features) | "center_l2" (nn/content.py)
    image_norm: str = "center_l2"
    # the raw content vectors a_i (Eq. 4) and c_i (Eq. 3) as the heads and the decoder read them: "none" | "l2"
    content_norm: str = "none"
    # dropout on the content the encoders read, in training only: the image features before Eq. 3's projection and
    # the pooled attribute vector of Eq. 4 (0: none, as printed). A regulariser of the content → embedding map, which
    # otherwise fits the warm items' 1280-d image rows like IDs (RESULTS "Version 2")
    content_dropout: float = 0.0
    # in training, the fraction of triples whose decoder sees no raw content beside z (Eq. 19's [a_i; c_i] zeroed):
    # for those, e_new must come from z alone (version 2's lever for a decoder
    # that ignores z, docs/design.md). 0: off, as printed
    decoder_content_dropout: float = 0.0
    # do Eq. 9-10, 11-16, 22, 23 train the raw content encoders and e_u too ("shared", as printed) or the latent
    # side only ("detached", networks.py::latent_input)
    latent_grad: str = "detached"
    # model variants (Table 4)
    common: str = "poe"  # poe | early | none
    fusion: str = "moe"  # moe | weighted_poe
    self_gate: bool = True
    modality_moe: bool = True
    view_moe: bool = True
    # sampling (paper: (c_p, c_n) = (10, 40) MovieLens, (5, 20) Sports)
    c_p: int = 10
    c_n: int = 40
    # optimisation (lr, weight decay, batch size, the weights' moving average: Budget)
    kl_warmup_steps: int = 0
    kl_weight: float = 1.0  # weight of the KL terms of Eq. 22–23 (1 as written; < 1 a β-VAE-style probe)
    # weight of the likelihood of e_i (Eq. 21, 24). With kl_weight at the same value the whole ELBO is scaled: its
    # optimum in the latent path (σ_obs, the prior's spread, the posterior codes) is unchanged, but it pulls less
    # on the networks it shares with the ranking terms (version 3, docs/paper-map.md)
    recon_weight: float = 1.0
    # what the ELBO does to the ID embedding e_i: "shared" (the likelihood of Eq. 24 and the ID view of Eq. 2 both
    # train it, as printed) | "data" (e_i is observed data to the ELBO: a stop-gradient on the likelihood's target
    # and on the ID view's input, so e_i is trained by the warm BPR alone and the ELBO cannot move it toward e_new)
    id_target: str = "shared"
    # σ_obs of Eq. 24: "fixed" (sigma_obs, or sqrt(d/2)) | "learned" (a per-dimension σ fitted by the ELBO by
    # gradient, the calibrated decoder of σ-VAE; it starts at sigma_obs, or at the item embeddings' initial sd 0.1) |
    # "optimal" (σ-VAE's analytic maximum-likelihood σ: per dimension, the batch's root-mean-square residual, held
    # constant in the gradient; a running average of it is the σ of prediction). "optimal" anneals by itself: while
    # e_i is still its random initial value the residual, so σ, is large and the likelihood pulls little
    obs_noise: str = "fixed"
    obs_noise_momentum: float = 0.99  # the running average of the "optimal" σ² (per step)
    # Budget's epochs = 40, patience = 15: version 2 learns slowly and its validation curve is noisy (±0.01 HR@5 epoch
    # to epoch on ML-100K): patience 5 stopped it on a plateau (RESULTS "Version 2"); experiments hand the same
    # budget to the baselines
    # protocol
    threshold: float | None = 4.0
    cold_fraction: float = 0.2
    ks: tuple[int, ...] = (5, 10, 20)
    eval_memory_mb: int = 64
    variant: str = "full"

    @property
    def obs_scale(self) -> float:
        return self.sigma_obs if self.sigma_obs is not None else (self.d / 2) ** 0.5

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ks"] = list(self.ks)
        return out

    def replace(self, **changes: Any) -> Config:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise DataError(None, f"unknown config field(s): {', '.join(sorted(unknown))}")
        preset = changes.get("preset", self.preset)
        if preset != self.preset and preset in PRESET_NAMES:
            # a preset is its values, not a label: every field a preset sets takes the new preset's value (or the
            # class default); the fields given in this call still win
            governed = set().union(*PRESET_NAMES.values())
            fields = {f.name: f for f in dataclasses.fields(self)}
            changes = {k: fields[k].default for k in governed} | PRESET_NAMES[preset] | changes
        out = dataclasses.replace(self, **changes)
        out.validate()
        return out

    def validate(self) -> None:
        from .module.priors import PRIORS  # the registry is the one list of priors

        choices = {"dcl": ("literal", "pairwise", "infonce"), "common": ("poe", "early", "none"),
                   "fusion": ("moe", "weighted_poe"), "prior": tuple(PRIORS), "combine": COMBINES,
                   "cold_path": ("guide", "prior"), "preset": tuple(PRESET_NAMES),
                   "image_norm": ("none", "center_l2"), "z_scale": ("views", "learned"),
                   "content_norm": ("none", "l2"), "latent_grad": ("shared", "detached"),
                   "id_target": ("shared", "data"), "obs_noise": ("fixed", "learned", "optimal"),
                   "decoder_z": ("mlp", "residual"), "dropped_id": ("fused", "cold"),
                   "view_draws": ("triple", "item"), "user_updates": ("dense", "lazy")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise DataError(None, f"config field {name} = {getattr(self, name)!r}; choose one of {allowed}")
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), str(f.type)
            if value is None and kind.endswith(" | None"):
                continue
            kind = kind.removesuffix(" | None")
            allowed = _TYPES.get(kind)
            if allowed and (not isinstance(value, allowed) or (kind != "bool" and isinstance(value, bool))):
                raise DataError(None, f"config field {f.name} = {value!r}: expected {kind}"
                                      + (" (true or false)" if kind == "bool" else ""))
        self.check_budget()
        for name in _FRACTIONS:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise DataError(None, f"config field {name} must lie in [0, 1), got {getattr(self, name)}")
        if self.kl_weight <= 0:  # a scale of the latent sites: Pyro needs it > 0 (1e-9 is "almost no KL")
            raise DataError(None, f"config field kl_weight must be > 0, got {self.kl_weight}")
        if self.user_updates == "lazy" and self.weight_decay:
            raise DataError(None, "config: user_updates = lazy takes no weight_decay (torch's SparseAdam has none), "
                                  f"got weight_decay = {self.weight_decay}; use user_updates = dense")
        if self.latent_grad == "detached" and not self.decoder_content:
            raise DataError(None, "config: latent_grad = detached with decoder_content = false leaves the raw content "
                                  "encoders with no gradient at all; use one of them")
        if self.decoder_z == "residual" and not self.decoder_content:
            raise DataError(None, "config: decoder_z = residual needs decoder_content = true (the content path is "
                                  "the mean e_new's residual z is measured from)")
        if self.decoder_hidden < 0:
            raise DataError(None, "config field decoder_hidden must be ≥ 0 (0: a linear decoder), "
                                  f"got {self.decoder_hidden}")
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise DataError(None, f"config field {name} must be ≥ 1, got {getattr(self, name)}")
        for name in _POSITIVE:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise DataError(None, f"config field {name} must be > 0, got {value}")
        for name in _NON_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise DataError(None, f"config field {name} must be ≥ 0, got {getattr(self, name)}")
        if not 0.0 < self.cold_fraction < 1.0:
            raise DataError(None, f"config field cold_fraction must lie in (0, 1), got {self.cold_fraction}")
        if (not isinstance(self.ks, tuple) or not self.ks
                or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in self.ks)):
            raise DataError(None, f"config field ks = {self.ks!r}: expected a non-empty list of integers ≥ 1, "
                                  "e.g. --set ks=5,10 or ks = [5, 10] in TOML")


COMBINES = ("sum", "mean", "poe")
# Range checks of the numeric fields (the types are checked from the annotations).
_AT_LEAST_ONE = ("d", "prior_hidden", "view_gate_hidden", "c_p", "c_n", "eval_memory_mb")
_POSITIVE = ("tau_dcl", "tau_gate", "co_tau", "sigma_obs", "poe_eps")
_NON_NEGATIVE = ("alpha_dcl", "beta_co", "bpr_warm", "kl_warmup_steps", "recon_weight")
# rates in [0, 1)
_FRACTIONS = ("id_dropout", "content_dropout", "decoder_content_dropout", "obs_noise_momentum",
              "decoder_dropout")

# Named presets of the formulation. ``default`` is version 3 (below); ``v2`` is version 2, the Config defaults;
# ``paper-literal`` is version 1 exactly: the fused MoE view as the prior of z, Eq. 17 as a sum, BPR on e_new only,
# no ID dropout, Eq. 20 as printed (τ = 1, negatives only).
# Version 3 (issue 30, docs/paper-map.md "Version 3"): Eq. 19 in location-scale form, e_new = a·F_c([a; c]) + z —
# the content path owns the mean and is trained by the ranking terms alone; z is the residual of the observed e_i
# around it, with the conditional prior N(0, s(a, c)²) as the calibrated uncertainty of a new item (the cold path);
# σ_obs at its maximum-likelihood value; the ID-dropped triples train the cold path's mean and add no likelihood.
V3: dict[str, Any] = dict(decoder_z="residual", prior="residual", cold_path="prior", dropped_id="cold",
                          id_target="data", obs_noise="optimal", combine="poe")
PRESET_NAMES: dict[str, dict[str, Any]] = {
    "default": V3,
    "v2": {},
    "paper-literal": dict(prior="moe", combine="sum", id_dropout=0.0, bpr_warm=0.0, co_tau=1.0,
                          co_include_positive=False, cold_path="prior", image_norm="none", latent_grad="shared",
                          epochs=30, patience=5),
}

# Paper presets (Sec. Hyperparameter Settings) by dataset family; every other dataset starts from the MovieLens
# values. The paper's (α, β) are the result of a grid search on its own datasets (ML-20M, Sports, ...).
PRESETS: dict[str, dict[str, Any]] = {
    "movielens": dict(alpha_dcl=10.0, beta_co=0.5, c_p=10, c_n=40),
    "amazon": dict(alpha_dcl=100.0, beta_co=0.5, c_p=5, c_n=20, threshold=None),
}

# Settings found by the paper's procedure — a grid search — on a dataset the paper did not use, selected on
# validation cold items only (never test): (α, β) first, then σ_obs of Eq. 24 at that (α, β). Evidence and
# commands: benchmarks/RESULTS.md, "Grid search of (α, β)", "σ_obs of Eq. 24 on ML-100K" and "Grid search of
# (α, β) on ml-latest-small" (σ_obs not searched there).
# Per preset: the version-1 values were searched on version 1 and apply to ``paper-literal`` only.
TUNED: dict[str, dict[str, dict[str, Any]]] = {
    # version 2, ML-100K: β of Eq. 26 over {0.01, 0.1} at α = 10, then content_dropout over {0, 0.5} at that β
    # (seeds 0-2, RESULTS "Version 2"); α and σ_obs not re-searched, the other datasets not searched yet
    "default": {"ml-100k": dict(beta_co=0.01, content_dropout=0.5)},  # version 3 keeps version 2's content path
    "v2": {"ml-100k": dict(beta_co=0.01, content_dropout=0.5)},
    "paper-literal": {
        "ml-100k": dict(alpha_dcl=1.0, beta_co=0.01, sigma_obs=16.0),
        "ml-latest-small": dict(alpha_dcl=1.0, beta_co=0.01),
    },
}

# Table 4 ablations: each is configuration of the one model, never a copied class.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "w/o-common": dict(common="none"),
    "early-generate": dict(common="early"),
    "w/o-sg": dict(self_gate=False),
    "w/o-m-moe": dict(modality_moe=False),
    "w/o-v-moe": dict(view_moe=False),
    "weighted-poe": dict(fusion="weighted_poe"),
    "w/o-dcl": dict(alpha_dcl=0.0),
    "w/o-co-cl": dict(beta_co=0.0),
}


# Switches of the modality fusion (Eq. 11-13, Eq. 16): with one modality the common view of Eq. 6-7 is that
# modality's own view and its gate is 1, so these variants train the full model
# (tests/test_model.py::test_fusion_variants_coincide_with_one_modality).
FUSION_ONLY_VARIANTS = ("w/o-sg", "w/o-m-moe", "w/o-v-moe")


def config_from_dict(raw: dict[str, Any]) -> Config:
    """The inverse of :meth:`Config.to_dict` (as stored in a run's ``config.json`` or a checkpoint)."""
    raw = dict(raw)
    raw["ks"] = tuple(raw.get("ks", Config.ks))
    unknown = set(raw) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise DataError(None, f"unknown config field(s): {', '.join(sorted(unknown))}")
    # a record, not a request: every field it has is taken as it is, and a field it lacks (added to the code later)
    # keeps its class default, the behaviour before the field existed — never a preset's value (a record from before
    # version 3 says preset "default" and meant version 2's values)
    cfg = dataclasses.replace(Config(), **raw)
    cfg.validate()
    return cfg


def with_variant(cfg: Config, variant: str) -> Config:
    """``cfg`` turned into the Table-4 variant ``variant`` (a name in :data:`VARIANTS`)."""
    return cfg.replace(**VARIANTS[variant], variant=variant)


def load_config(dataset: str, path: Path | None = None, variant: str | None = None, /, **overrides: Any) -> Config:
    """Defaults ← preset ← dataset values ← TOML file ← variant ← explicit overrides. An override ``None`` sets a
    nullable field to none (``threshold=None``: every interaction a positive); for any other field it means "not
    given".

    The preset is ``overrides["preset"]``, else the TOML file's ``preset``, else ``default``.
    """
    return resolve_config(dataset, path, variant, **overrides)[0]


def resolve_config(dataset: str | None, path: Path | None = None, variant: str | None = None, /,
                   **overrides: Any) -> tuple[Config, dict[str, str]]:
    """:func:`load_config` and, per field, the layer its value came from (``default``, ``preset NAME``,
    ``paper (FAMILY)``, ``tuned (DATASET)``, the TOML file, ``variant NAME``, ``command line``).
    ``dataset = None``: no dataset layers (the package defaults under the preset). The variant is ``variant=``
    (or ``--set variant=…``), else the TOML file's ``variant``, else ``full``."""
    table: dict[str, Any] = {}
    if path is not None:
        table = read_toml(Path(path))
    variant = overrides.pop("variant", None) or variant or table.pop("variant", None) or "full"
    table.pop("variant", None)  # an explicit variant wins over the file's
    if variant not in VARIANTS:
        raise DataError(None, f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    preset = overrides.get("preset") or table.get("preset", "default")
    if preset not in PRESET_NAMES:
        raise DataError(path if table.get("preset") == preset else None,
                        f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    from .data.loaders import dataset_family

    family = None if dataset is None else dataset_family(dataset)
    layers = [(f"preset {preset}", PRESET_NAMES[preset] | {"preset": preset}),
              (f"paper ({family})", PRESETS.get(family, {})),
              (f"tuned ({dataset})", TUNED[preset].get(dataset, {})), (str(path), table),
              (f"variant {variant}", VARIANTS[variant] | {"variant": variant}),
              ("command line", {k: v for k, v in overrides.items() if v is not None or _nullable(k)})]
    cfg, sources = Config(), {f.name: "default" for f in dataclasses.fields(Config)}
    for source, values in layers:
        if not values:
            continue
        try:
            cfg = cfg.replace(**values)
        except DataError as exc:
            raise DataError(path, exc.message) if values is table else exc from None
        sources.update(dict.fromkeys(values, source))
    return cfg, sources


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file of Config fields; ``"none"`` is the value none of a nullable field (TOML has no null)."""
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, f"invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid utf-8 text ({exc.reason} at byte {exc.start})") from None
    for key, value in table.items():
        if isinstance(value, list):
            table[key] = tuple(value)
        if isinstance(value, str) and value.lower() in ("none", "null") and _nullable(key):
            table[key] = None
    return table


def format_toml(cfg: Config, sources: dict[str, str], command: str) -> str:
    """Every field as a commented TOML file a user can edit and pass back with ``--config`` (the same config)."""
    lines = [f"# m2vae-pyro configuration, written by: {command}",
             "# Edit and pass back with --config FILE. Each comment says where the value came from;",
             "# \"none\" is no value (a nullable field). A --set or --preset on the command line still wins."]
    for key, value in cfg.to_dict().items():
        lines.append(f"{key} = {_toml_value(value)}  # {sources[key]}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    import json
    import math

    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else "nan" if math.isnan(value) else repr(value)
    return json.dumps(value) if isinstance(value, str) else str(value)


def _nullable(name: str) -> bool:
    return _field_kinds().get(name, "").endswith(" | None")


def _field_kinds() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(Config)}


def unknown_field_error(name: str, where: str) -> DataError:
    """``where``: ``--set 'x=1'``-style context. Names the near misses, else lists every field."""
    import difflib

    fields = list(_field_kinds())
    near = difflib.get_close_matches(name, fields, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(near)}?" if near else f"valid fields: {', '.join(fields)}"
    return DataError(None, f"{where}: {name!r} is not a Config field; {hint}")


def parse_field(name: str, text: str, where: str | None = None) -> Any:
    """A Config field's value from command-line text: JSON scalars (``3e-4``, ``true``), bare words for the
    string fields, ``none`` for a nullable field, and lists as ``5,10`` or ``[5,10]``. The value is checked
    when the Config is built (:meth:`Config.validate`)."""
    import json

    where = where or f"--set {name + '=' + text!r}"  # repr: the user's text may hold any character
    kinds = _field_kinds()
    if name not in kinds:
        raise unknown_field_error(name, where)
    kind = kinds[name]
    if text.strip().lower() in ("none", "null") and kind != "str":  # a str field may take the word (common=none)
        if not kind.endswith(" | None"):
            raise DataError(None, f"{where}: field {name} cannot be none (it is {kind})")
        return None
    if kind.startswith("tuple["):
        items = [t.strip() for t in text.strip().removeprefix("[").removesuffix("]").split(",")]
        if "," not in text and not text.strip().startswith("["):
            raise DataError(None, f"{where}: field {name} is a list; write {name}=5,10 or {name}=[10]")
        try:
            return tuple(int(t) for t in items)
        except ValueError:
            raise DataError(None, f"{where}: field {name} is a list of integers, e.g. {name}=5,10") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return text if kind == "str" and not isinstance(value, str) else value


def shown_values(cfg: Config) -> dict[str, str]:
    """Each field's value as the command line writes it (``none``, ``true``, ``5,10``), so it can be pasted back."""
    return {k: "none" if v is None else str(v).lower() if isinstance(v, bool) else
            ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in cfg.to_dict().items()}


def format_config(cfg: Config, sources: dict[str, str] | None = None) -> str:
    """Every field with its value (and, given ``sources``, where it came from), one per line, aligned."""
    shown = shown_values(cfg)
    width = max(map(len, shown))
    vwidth = max(map(len, shown.values()))
    return "\n".join(f"{k:<{width}}  {v:<{vwidth}}  {sources[k]}" if sources else f"{k:<{width}}  {v}"
                     for k, v in shown.items())
