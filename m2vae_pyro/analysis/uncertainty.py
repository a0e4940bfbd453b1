"""``m2vae analyze RUN``: posterior uncertainty of item embeddings, written as netCDF, CSV, PNG plots and a report.

Questions answered (one PNG and one caption line in ``report.md`` each):
1. How uncertain is ``e_new`` for warm items of different popularity, and for cold items?
2. Does uncertainty predict error? Cold test items binned by uncertainty, HR@5 per bin.
3. For one user, the posterior of the top-10 cold items' scores and the probability each lands in the top-k.
4. Fig. 4 analogue: a 2-D PCA of the view means ``z_a``, ``z_c``, ``z_com`` (and of a ``w/o DCL`` run if given).
5. Fig. 5 analogue: the user's modality gates (attribute vs image, Eq. 13) for chosen cold items.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyro
import torch

from ..atomic import atomic_write
from ..evaluation.posterior import hdi, to_inference_data


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_k(model, guide, sampler, n_items: int, particles: int, seed: int) -> np.ndarray:
    """Pareto k̂ of the guide (``psis_diagnostic``) on single training triples of randomly drawn warm items."""
    from pyro.infer.importance import psis_diagnostic

    from ..data.batch import TripleBatch

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_items):
        triple = TripleBatch.from_triples(sampler.sample(rng, n=1), 1)  # plate size 1: no subsampling scale
        views = model.nets.views(triple.items)
        out.append(float(psis_diagnostic(model, guide, triple, views, num_particles=particles,
                                         max_simultaneous_particles=particles, max_plate_nesting=1)))
    return np.array(out)


def _summaries(draws, item_ids) -> tuple[pd.DataFrame, pd.DataFrame]:
    e = draws.samples["e_new"]  # [S, I, d]
    lo, hi = hdi(e)
    n_items, d = e.shape[1:]
    per_latent = pd.DataFrame({
        "item": np.repeat(item_ids[draws.items], d), "latent": np.tile(np.arange(d), n_items),
        "cold": np.repeat(draws.cold, d), "mean": e.mean(0).ravel(), "sd": e.std(0, ddof=1).ravel(),
        "hdi_3%": lo.ravel(), "hdi_97%": hi.ravel()})
    score = draws.samples["score"]
    s_lo, s_hi = hdi(score)
    per_item = pd.DataFrame({
        "item": item_ids[draws.items], "cold": draws.cold, "reference_user_index": draws.users,
        "e_new_sd": e.std(0, ddof=1).mean(-1), "e_new_hdi_width": (hi - lo).mean(-1),
        "z_sd": draws.samples["z"].std(0, ddof=1).mean(-1), "score_mean": score.mean(0),
        "score_sd": score.std(0, ddof=1), "score_hdi_3%": s_lo, "score_hdi_97%": s_hi})
    return per_latent, per_item


def analyze_run(run: Path, num_samples: int = 100, n_warm: int = 300, n_psis: int = 20, top_k: int = 5,
                compare: Path | None = None, data_dir: Path | None = None, seed: int = 0,
                progress: bool = True, device: str = "cpu", user_id=None, force: bool = False) -> dict:
    """Everything above into ``RUN/analysis/``; returns the numbers the report quotes. ``user_id``: the reference
    user (a raw id; default the most active training user). An existing analysis is replaced only with ``force``."""
    from ..data.errors import DataError
    from ..data.sampling import TripleSampler
    from ..runs import load_run

    t0 = time.perf_counter()
    out = run / "analysis"
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError(out, "an analysis exists here; pass --force to replace it (its files are overwritten)")
    m = load_run(run, data_dir, device)
    ds, split = m.ds, m.split
    pyro.set_rng_seed(seed)
    rng = np.random.default_rng(seed)
    activity = split.user_activity(ds.n_users)
    # the reference user: the given one, else the most active training user
    user = int(ds.user_index([user_id])[0]) if user_id is not None else int(np.argmax(activity))
    out.mkdir(exist_ok=True)
    warm_all = split.items("train")
    warm_all = warm_all[np.isin(warm_all, split.train_items)]
    warm = np.sort(rng.choice(warm_all, size=min(n_warm, len(warm_all)), replace=False))
    cold = split.items("test")
    draws = m.sample_posterior_indices(np.r_[warm, cold], user, num_samples)
    idata = to_inference_data(draws, ds.item_ids)
    nc = out / "posterior.nc"
    atomic_write(nc, lambda tmp: idata.to_netcdf(str(tmp)))
    per_latent, per_item = _summaries(draws, ds.item_ids)
    atomic_write(out / "summary.csv", lambda tmp: per_latent.to_csv(tmp, index=False))
    atomic_write(out / "summary_items.csv", lambda tmp: per_item.to_csv(tmp, index=False))
    sampler = TripleSampler(split, ds.n_users, ds.n_items, m.config.c_p, m.config.c_n)
    k_hat = pareto_k(m.model, m.guide, sampler, n_psis, max(num_samples, 100), seed)
    captions = []
    captions.append(_plot_popularity(per_item, activity, ds, split, draws, out / "uncertainty_popularity.png",
                                     "conditional prior" if m.config.cold_path == "prior" else "guide without ID"))
    from .calibration import calibrate, format_calibration

    calibration = calibrate(m, num_samples=min(num_samples, 50), seed=seed)
    captions.append(_plot_error_bins(calibration, out / "uncertainty_error.png"))
    captions.append(_plot_user_scores(draws, ds, user, top_k, out / "user_scores.png"))
    captions.append(_plot_views(m, compare, data_dir, out / "views_pca.png"))
    captions.append(_plot_gates(m, user, cold, out / "gates.png"))
    atomic_write(out / "calibration_items.csv", lambda tmp: calibration.cold_items.to_csv(tmp, index=False))
    seconds = time.perf_counter() - t0
    cold_source = ("the guide without the ID view (the fused view of Eq. 11–16 at the reference user's gates)"
                   if m.config.cold_path == "guide" else "the conditional prior of Eq. 22")
    lines = [f"# Posterior analysis of `{run}`", "",
             f"{num_samples} draws per item with `pyro.infer.Predictive` (warm items from the guide with their ID "
             f"view, cold test items from this run's cold path: {cold_source}), all generated for the reference user "
             f"{ds.user_ids[user]} ({'given by --user' if user_id is not None else 'the most active training user'}"
             f"). {len(warm)} warm and {len(cold)} cold items. "
             f"Wall time {seconds:.1f} s.", "",
             "## Calibration (the figures of `benchmarks/calibration.py`)", "", format_calibration(calibration), "",
             f"`{calibration.last_line()}`", "",
             f"Pareto k̂ of the guide (`psis_diagnostic`, {max(num_samples, 100)} particles) on {n_psis} random "
             f"training triples: median {np.median(k_hat):.2f}, {np.mean(k_hat > 0.7):.0%} above 0.7 "
             "(k̂ > 0.7: the guide is a poor importance proposal for that item's joint; R-hat is not reported, it "
             "means nothing for independent SVI draws).", ""]
    for p, text in captions:
        lines += [f"![{Path(p).stem}]({Path(p).name}) — {text}" if p else text, ""]
    atomic_write(out / "report.md", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    pd.DataFrame({"pareto_k": k_hat}).to_csv(out / "pareto_k.csv", index=False)
    return {"seconds": seconds, "pareto_k_median": float(np.median(k_hat)), "netcdf": str(nc),
            "calibration": calibration.figures,
            "plots": [p for p, _ in captions if p]}


def _plot_popularity(per_item, activity, ds, split, draws, path, cold_path: str = "cold path"):
    plt = _plt()
    pop = np.bincount(split.train_items, minlength=ds.n_items)[draws.items]
    warm = ~draws.cold
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.scatter(pop[warm], per_item["e_new_sd"][warm], s=8, alpha=0.6, label=f"warm: the guide (n {warm.sum()})")
    jitter = np.random.default_rng(0).uniform(0.8, 1.2, draws.cold.sum())
    ax.scatter(jitter * 0.5, per_item["e_new_sd"][draws.cold], s=8, alpha=0.6, c="C3",
               label=f"cold test: the {cold_path} (n {draws.cold.sum()}), at x ≈ 0.5")
    ax.set_xscale("log")
    ax.set_xlabel("training positives of the item")
    ax.set_ylabel("posterior sd of e_new (mean over dims)")
    ax.legend(fontsize=8)
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)
    r = np.corrcoef(np.log1p(pop[warm]), per_item["e_new_sd"][warm])[0, 1] if warm.sum() > 2 else float("nan")
    text = (f"uncertainty of e_new against popularity: warm items median sd "
            f"{np.median(per_item['e_new_sd'][warm]):.3f} (corr. with log popularity {r:+.2f}), cold items median "
            f"sd {np.median(per_item['e_new_sd'][draws.cold]):.3f}.")
    return str(path), text


def _plot_error_bins(calibration, path):
    """HR@5 of the cold test items per quartile of their score uncertainty (analysis/calibration.py), with 95 %
    bootstrap intervals and n per bar."""
    plt = _plt()
    q = calibration.quartiles
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar(range(4), q["mean"], yerr=[q["mean"] - q["lo"], q["hi"] - q["mean"]], capsize=3)
    ax.set_xticks(range(4), [f"{r.quartile} (n {r.n})\n{r['from']:.2f}–{r['to']:.2f}" for _, r in q.iterrows()],
                  fontsize=7)
    ax.set_xlabel("cold test items by score uncertainty (noise / signal), quartiles")
    ax.set_ylabel("HR@5")
    f = calibration.figures
    ax.set_title(f"Spearman(uncertainty, NDCG@10) {f['spearman_uncertainty_ndcg']:+.2f} "
                 f"[{f['spearman_uncertainty_ndcg_lo']:+.2f}, {f['spearman_uncertainty_ndcg_hi']:+.2f}], "
                 f"n {int(f['n_cold_items'])}", fontsize=8)
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)
    text = ("does uncertainty predict error? HR@5 per quartile of the cold test items' score uncertainty (low → high, "
            "95 % bootstrap intervals): " + ", ".join(f"{r['mean']:.3f} [{r.lo:.3f}, {r.hi:.3f}]"
                                                     for _, r in q.iterrows()) + ".")
    return str(path), text


def _plot_user_scores(draws, ds, user, k, path):
    plt = _plt()
    cold = draws.cold
    score = draws.samples["score"][:, cold]  # [S, I]
    ranks = np.argsort(np.argsort(-score, axis=1), axis=1)
    p_top = (ranks < k).mean(0)
    order = np.argsort(-score.mean(0))[:10]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.boxplot(score[:, order], showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), [f"{ds.item_ids[draws.items[cold][i]]}\nP={p_top[i]:.2f}"
                                             for i in order], fontsize=7)
    ax.set_ylabel(f"score of user {ds.user_ids[user]}")
    ax.set_xlabel(f"top-10 cold items by mean score (P = probability of landing in the top {k})")
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)
    text = (f"score uncertainty for user {ds.user_ids[user]}: the top-10 cold items' score posteriors; "
            f"P(top-{k}) of the first three: " + ", ".join(f"{p_top[i]:.2f}" for i in order[:3]) + ".")
    return str(path), text


def _view_means(m):
    items = torch.from_numpy(m.split.items("test"))
    with torch.no_grad():
        views = m.nets.views(items)
    names = ["z_a", "z_c"][: m.nets.n_modalities]
    out = {n: views.mu[i].numpy() for i, n in enumerate(names)}
    if views.mu_com is not None:
        out["z_com"] = views.mu_com.numpy()
    return out


def _pca2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of ``x`` and the share of the variance each explains."""
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T, (s[:2] ** 2) / max((s**2).sum(), 1e-12)


def _plot_views(m, compare, data_dir, path):
    from ..runs import load_run

    plt = _plt()
    models = [("full model", m)]
    if compare is not None:
        other = load_run(compare, data_dir)
        models.append((f"{Path(compare).name} ({other.config.variant})", other))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.8), squeeze=False)
    sep = []
    for ax, (title, model) in zip(axes[0], models):
        means = _view_means(model)
        pts, share = _pca2(np.concatenate(list(means.values())))
        lo = 0
        for name, v in means.items():
            ax.scatter(*pts[lo : lo + len(v)].T, s=6, alpha=0.6, label=name)
            lo += len(v)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"PC 1 ({100 * share[0]:.0f} % of the variance)")
        ax.set_ylabel(f"PC 2 ({100 * share[1]:.0f} %)")
        ax.legend(fontsize=8)
        cents = [pts[i * len(v) : (i + 1) * len(v)].mean(0) for i, v in enumerate(means.values())]
        sep.append(f"{title}: centroid distance z_com↔unique "
                   + ", ".join(f"{np.linalg.norm(cents[-1] - c):.2f}" for c in cents[:-1]))
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)
    note = "" if compare is not None else " (pass --compare RUN of a w/o-dcl run for the second panel)"
    return str(path), "Fig. 4 analogue, PCA of the view means of cold test items — " + "; ".join(sep) + note + "."


def _plot_gates(m, user, cold, path):
    plt = _plt()
    if m.nets.n_modalities < 2:
        return str(path), "Fig. 5 analogue skipped: this dataset has one modality (no image)."
    with torch.no_grad():
        views = m.nets.views(torch.from_numpy(cold))
        gates = m.nets.pair_modality_weights(views, m.nets.user_emb(torch.tensor([user])))[:, 0].numpy()  # [M, I]
    both = views.present.all(0).numpy()  # an absent modality's gate is 0 by construction: not a preference
    if not both.any():
        return str(path), "Fig. 5 analogue skipped: no cold test item has both an attribute and an image."
    cold, gates = cold[both], gates[:, both]
    if float(np.abs(gates - 0.5).max()) < 0.02:  # nothing to plot: say it in one line
        return None, (f"Fig. 5 analogue not plotted: user {m.ds.user_ids[user]}'s attribute/image gates lie within "
                      f"0.02 of 0.5 for all {both.sum()} cold items with both modalities (image gate "
                      f"{gates[1].min():.3f}–{gates[1].max():.3f}): the gates do not choose between the views.")
    chosen = [int(np.argmax(gates[0])), int(np.argmax(gates[1]))]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    width = 0.35
    for j, name in enumerate(("attribute", "image")):
        ax.bar(np.arange(2) + j * width, gates[j, chosen], width, label=name)
    ax.set_xticks(np.arange(2) + width / 2, [str(m.ds.item_ids[cold[c]]) for c in chosen])
    ax.set_ylabel(f"gate of user {m.ds.user_ids[user]} (Eq. 13)")
    ax.set_xlabel("cold item (raw id)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"n {both.sum()} cold items with both modalities", fontsize=8)
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)
    text = (f"Fig. 5 analogue: user {m.ds.user_ids[user]}'s attribute/image gates for the cold items it weighs most "
            f"by attribute ({gates[0, chosen[0]]:.2f}/{gates[1, chosen[0]]:.2f}) and by image "
            f"({gates[0, chosen[1]]:.2f}/{gates[1, chosen[1]]:.2f}); over the {both.sum()} cold items with both "
            f"modalities the image gate spans {gates[1].min():.3f}–{gates[1].max():.3f}.")
    return str(path), text
