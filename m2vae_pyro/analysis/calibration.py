"""Is the posterior of a new item's embedding worth analysing? Ordering, error prediction and calibration.

Three questions, each answered on posterior draws of ``e_new`` (Eq. 19) made by ``pyro.infer.Predictive``
(:func:`m2vae_pyro.evaluation.posterior.draw_posterior`), every item generated for one reference user (the most
active training user: the gates of Eq. 11–16 need one):

a. *Ordering.* A model that knows less about new items must say so: the median predictive sd of ``e_new`` (mean
   over dimensions of the sd over draws, the likelihood's noise **not** included) of cold test items over that of
   warm items (the guide with the ID view); Spearman of warm items' sd with log(1 + training positives); cold items
   with one modality missing against those with both.
b. *Error prediction on the cold test items.* Each item's uncertainty of its score vector is its noise-to-signal
   ratio, ``mean_u sd_s(e_new_s · e_u) / sd_u(mean_s e_new_s · e_u)`` over the candidate users: how much the draws
   move a user's score against how much the mean score separates users, the quantity that decides whether the
   ranking of users can change (scale-free: the norm of ``e_new`` cancels). Spearman with the item's own NDCG@10
   over its test users (bootstrap interval over items), and HR@5 per uncertainty quartile with intervals. As a
   control the table also gives Spearman of the *signal* alone with NDCG@10, so that one can see whether the
   uncertainty adds anything to it.
c. *Calibration on pseudo-cold warm items*: warm items with at least ``min_positives`` training positives (their
   ``e_i`` is collaborative, not the random initial value), generated through the cold path as if they had no ID,
   against their own ``e_i``. The predictive of ``e_i`` is the draws of ``e_new`` **plus the likelihood's noise**
   (Eq. 24's ``N(e_new, σ_obs²)``, one noise draw per posterior draw): the coverage of its 90 % central interval
   over ``e_i``'s coordinates, MSE over the mean predictive variance (1 when calibrated), and Spearman of each
   item's predictive sd with its error ``|e_i − E[e_new]|``.

The metric functions at the top take arrays only and are tested on synthetic cases with known answers
(``tests/test_calibration.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..evaluation.metrics import per_query_metrics, truth_matrix
from ..evaluation.posterior import draw_posterior
from ..evaluation.protocols import candidate_users


# -- metrics on arrays ----------------------------------------------------------------------------------------
def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN with fewer than 3 pairs or a constant input."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return float("nan")
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def bootstrap_spearman(x: np.ndarray, y: np.ndarray, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float, float]:
    """Spearman and its percentile bootstrap interval over resampled pairs: ``(rho, lo, hi)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    boots = [spearman(x[i], y[i]) for i in rng.integers(0, len(x), size=(n_boot, len(x)))]
    lo, hi = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return spearman(x, y), float(lo), float(hi)


def by_quartile(uncertainty: np.ndarray, value: np.ndarray, n_boot: int = 1000, seed: int = 0
                ) -> pd.DataFrame:
    """``value``'s mean per quartile of ``uncertainty`` (low → high) with a 95 % bootstrap interval and n."""
    edges = np.quantile(uncertainty, np.linspace(0, 1, 5))
    bins = np.clip(np.searchsorted(edges, uncertainty, side="right") - 1, 0, 3)
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(4):
        v = value[bins == b]
        boots = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1) if len(v) else np.array([np.nan])
        rows.append({"quartile": f"Q{b + 1}", "from": edges[b], "to": edges[b + 1], "n": len(v),
                     "mean": v.mean() if len(v) else np.nan, "lo": np.quantile(boots, 0.025),
                     "hi": np.quantile(boots, 0.975)})
    return pd.DataFrame(rows)


def central_coverage(predictive: np.ndarray, truth: np.ndarray, prob: float = 0.9) -> np.ndarray:
    """Per item, the share of ``truth``'s coordinates inside the central ``prob`` interval of ``predictive``.

    ``predictive`` ``[S, N, d]`` draws, ``truth`` ``[N, d]``; the interval is the empirical (1−prob)/2 and
    (1+prob)/2 quantiles of the draws of each coordinate. Returns ``[N]``.
    """
    lo, hi = np.quantile(predictive, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return ((truth >= lo) & (truth <= hi)).mean(-1)


def noise_to_signal(e_draws: np.ndarray, users: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per item, ``(mean_u sd_s(e_s · u), sd_u(mean_s e_s · u))`` for ``e_draws`` ``[S, I, d]``, ``users`` ``[U, d]``.

    The score draws ``[S, I, U]`` are formed a chunk of items at a time. Returns ``(noise [I], signal [I])``.
    """
    noise, signal = [], []
    for lo in range(0, e_draws.shape[1], chunk):
        scores = e_draws[:, lo : lo + chunk] @ users.T  # [S, c, U]
        noise.append(scores.std(0, ddof=1).mean(-1))
        signal.append(scores.mean(0).std(-1))
    return np.concatenate(noise), np.concatenate(signal)


# -- the three questions on a trained model ----------------------------------------------------------------------
@dataclass
class Calibration:
    """Every figure of the three questions, and the per-item tables behind them."""

    figures: dict[str, float]
    cold_items: pd.DataFrame  # test cold items: sd, noise, signal, uncertainty, ndcg@10, hr@5
    pseudo_cold: pd.DataFrame  # warm items through the cold path: sd, error, coverage90
    quartiles: pd.DataFrame  # HR@5 per uncertainty quartile of the test cold items
    notes: list[str] = field(default_factory=list)

    def last_line(self) -> str:
        f = self.figures
        return (f"calibration: cold/warm sd {f['cold_warm_sd']:.3f}, spearman(uncertainty, ndcg) "
                f"{f['spearman_uncertainty_ndcg']:+.3f}, coverage90 {f['coverage90']:.3f}, "
                f"spearman(sd, error) {f['spearman_sd_error']:+.3f}")


def _e_new_draws(model, warm: np.ndarray, cold: np.ndarray, user: int, num_samples: int):
    users = np.full(len(warm) + len(cold), user, dtype=np.int64)
    return draw_posterior(model.model, model.guide, warm, cold, users, num_samples).samples["e_new"]


@torch.no_grad()
def calibrate(model, num_samples: int = 50, n_warm: int = 1000, min_positives: int = 20, n_pseudo: int = 1000,
              seed: int = 0, n_boot: int = 1000) -> Calibration:
    """The figures of the module docstring for a trained :class:`~m2vae_pyro.m2vae.M2VAE` (``model``)."""
    import pyro

    nets, split, ds = model.nets, model.split, model.ds
    nets.eval()
    pyro.set_rng_seed(seed)
    rng = np.random.default_rng(seed)
    activity = split.user_activity(ds.n_users)
    user = int(np.argmax(activity))
    popularity = np.bincount(split.train_items, minlength=ds.n_items)
    warm_all = np.flatnonzero((split.role == 0) & (popularity > 0))
    warm = np.sort(rng.choice(warm_all, size=min(n_warm, len(warm_all)), replace=False))
    cold = split.items("test")
    e = _e_new_draws(model, warm, cold, user, num_samples)  # [S, W + C, d]
    sd = e.std(0, ddof=1).mean(-1)
    sd_warm, sd_cold = sd[: len(warm)], sd[len(warm):]
    f: dict[str, float] = {"cold_warm_sd": float(np.median(sd_cold) / np.median(sd_warm)),
                           "sd_warm_median": float(np.median(sd_warm)), "sd_cold_median": float(np.median(sd_cold)),
                           "spearman_warm_sd_popularity": spearman(sd_warm, np.log1p(popularity[warm]))}
    present = nets.views(torch.from_numpy(cold)).present.all(0).numpy()
    f["sd_cold_both_modalities"] = float(np.median(sd_cold[present])) if present.any() else float("nan")
    f["sd_cold_one_missing"] = float(np.median(sd_cold[~present])) if (~present).any() else float("nan")
    f["n_cold_one_missing"] = float((~present).sum())

    # b. error prediction on the test cold items
    users = candidate_users(split)
    u_emb = nets.user_emb(torch.from_numpy(users)).numpy()
    noise, signal = noise_to_signal(e[:, len(warm):], u_emb)
    pos_users, pos_items = split.positives("test")
    truth = truth_matrix(cold, users, pos_users, pos_items, ds.n_items)
    scores = model.score_indices(torch.from_numpy(users), torch.from_numpy(cold)).T.float()  # [I, U]
    per = per_query_metrics(scores, truth, (5, 10))
    keep = truth.any(1).numpy()
    uncertainty = noise / np.maximum(signal, 1e-12)
    cold_items = pd.DataFrame({"item": ds.item_ids[cold], "sd": sd_cold, "noise": noise, "signal": signal,
                               "uncertainty": uncertainty, "ndcg@10": per["ndcg@10"].numpy(),
                               "hr@5": per["hr@5"].numpy(), "n_test_users": truth.sum(1).numpy()})[keep]
    rho, lo, hi = bootstrap_spearman(cold_items["uncertainty"], cold_items["ndcg@10"], n_boot, seed)
    f |= {"spearman_uncertainty_ndcg": rho, "spearman_uncertainty_ndcg_lo": lo, "spearman_uncertainty_ndcg_hi": hi,
          "spearman_sd_ndcg": spearman(cold_items["sd"], cold_items["ndcg@10"]),
          "spearman_signal_ndcg": spearman(cold_items["signal"], cold_items["ndcg@10"]),
          "n_cold_items": float(len(cold_items))}
    quartiles = by_quartile(cold_items["uncertainty"].to_numpy(), cold_items["hr@5"].to_numpy(), n_boot, seed)

    # c. calibration on pseudo-cold warm items
    eligible = warm_all[popularity[warm_all] >= min_positives]
    pseudo = np.sort(rng.choice(eligible, size=min(n_pseudo, len(eligible)), replace=False))
    draws = torch.from_numpy(_e_new_draws(model, np.array([], np.int64), pseudo, user, num_samples))
    predictive = nets.likelihood_dist(draws).sample().numpy()  # Eq. 24's noise on each draw
    target = nets.item_emb(torch.from_numpy(pseudo)).numpy()
    error = np.sqrt(((predictive.mean(0) - target) ** 2).mean(-1))
    pred_sd = np.sqrt(predictive.var(0, ddof=1).mean(-1))
    coverage = central_coverage(predictive, target, 0.9)
    pseudo_cold = pd.DataFrame({"item": ds.item_ids[pseudo], "positives": popularity[pseudo], "pred_sd": pred_sd,
                                "e_new_sd": draws.numpy().std(0, ddof=1).mean(-1), "error": error,
                                "coverage90": coverage})
    f |= {"coverage90": float(coverage.mean()),
          "mse_over_variance": float((error**2).mean() / (pred_sd**2).mean()),
          "spearman_sd_error": spearman(pred_sd, error),
          "spearman_error_popularity": spearman(error, np.log1p(popularity[pseudo])),
          "noise_share_of_variance": float(1 - (pseudo_cold["e_new_sd"] ** 2).mean() / (pred_sd**2).mean()),
          "n_pseudo_cold": float(len(pseudo))}
    notes = [f"reference user {ds.user_ids[user]} (the most active training user) for every draw's gates",
             f"{num_samples} draws per item; {len(warm)} warm, {len(cold_items)} cold test items with a test user, "
             f"{len(pseudo)} pseudo-cold warm items with ≥ {min_positives} training positives",
             f"cold path: {nets.config.cold_path}"]
    return Calibration(f, cold_items, pseudo_cold, quartiles, notes)


def format_calibration(c: Calibration) -> str:
    """The figures as a Markdown table (one row per question) and the quartile table."""
    f = c.figures
    rows = [
        ("a. median sd of e_new, cold / warm", f"{f['cold_warm_sd']:.3f} "
         f"({f['sd_cold_median']:.4f} / {f['sd_warm_median']:.4f})"),
        ("a. Spearman(warm sd, log positives)", f"{f['spearman_warm_sd_popularity']:+.3f}"),
        ("a. median cold sd, one modality missing / both", f"{f['sd_cold_one_missing']:.4f} / "
         f"{f['sd_cold_both_modalities']:.4f} (n missing {int(f['n_cold_one_missing'])})"),
        ("b. Spearman(uncertainty, NDCG@10), cold test items", f"{f['spearman_uncertainty_ndcg']:+.3f} "
         f"[{f['spearman_uncertainty_ndcg_lo']:+.3f}, {f['spearman_uncertainty_ndcg_hi']:+.3f}] "
         f"(n {int(f['n_cold_items'])})"),
        ("b. control: Spearman(raw sd, NDCG@10) / Spearman(signal, NDCG@10)",
         f"{f['spearman_sd_ndcg']:+.3f} / {f['spearman_signal_ndcg']:+.3f}"),
        ("c. coverage of the 90 % interval (incl. likelihood noise), pseudo-cold", f"{f['coverage90']:.3f}"),
        ("c. MSE / predictive variance", f"{f['mse_over_variance']:.3f}"),
        ("c. Spearman(predictive sd, error)", f"{f['spearman_sd_error']:+.3f}"),
        ("c. share of the predictive variance that is likelihood noise", f"{f['noise_share_of_variance']:.3f}"),
        ("c. Spearman(error, log positives)", f"{f['spearman_error_popularity']:+.3f} "
         f"(n {int(f['n_pseudo_cold'])})"),
    ]
    out = ["| question | figure |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), "",
           "| HR@5 by uncertainty quartile | range | n | HR@5 [95 % interval] |", "|---|---|---|---|"]
    out += [f"| {r.quartile} | {r['from']:.3g}–{r['to']:.3g} | {r.n} | {r['mean']:.3f} [{r.lo:.3f}, {r.hi:.3f}] |"
            for _, r in c.quartiles.iterrows()]
    return "\n".join(out + ["", *(f"- {n}" for n in c.notes)])
