"""Where does a trained M²VAE keep its uncertainty? The scales of the latent path, per run (issue 30's mechanisms).

For each run directory prints, over the warm training items: the rms per dimension of the observed ``e_i``, of the
content path ``F_c`` (``decoder_z = residual``) or the decoded mean, the cosine of ``e_i`` with it, the residual scale
``a`` and the running σ_obs (Eq. 24), the sd of the ID view (Eq. 2), of the posterior with the ID view (Eq. 17) and of
the cold path (the prior of Eq. 22 or the fused view), and the coefficient of variation across items of the cold
path's sd (0: the same uncertainty for every item). These are the figures that showed, while version 3 was built,
that the content path's norm is free (F_c rms 0.8 against e_i's 0.1, hence the scale ``a``), that the guide had
been combining the ID view with the held prior (a cold-path sd of 0.016 against a residual of 0.12), and that the
ID view's sd moves slowly from its start.

The last line is ``cold-path sd cv across items: X`` of the first run.

Usage: python benchmarks/latent_scales.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from real_data import print_run_table

from m2vae_pyro.runs import load_run


@torch.no_grad()
def scales(run: Path) -> dict[str, float]:
    m = load_run(run)
    n = m.nets
    n.eval()
    warm = torch.from_numpy(m.split.items("train"))
    views = n.views(warm)
    e = n.item_emb(warm)
    user = n.user_emb(torch.zeros(len(warm), dtype=torch.long))
    fused = n.fuse(views, views.mu, views.mu_com, user)
    if n.config.decoder_z == "residual":
        mean = n.content_path(views)
        a = float(n.residual_scale(mean, None))
    else:
        mean, a = n.decode(n.cold_dist(views, views.mu, views.mu_com, user).mean, views), float("nan")
    _, lv_e = n.id_view(views)
    cold_sd = n.cold_dist(views, views.mu, views.mu_com, user)
    cold_sd = cold_sd.stddev if hasattr(cold_sd, "stddev") else cold_sd.variance.sqrt()
    cold_sd = cold_sd.mean(-1)
    obs = n.likelihood_dist(mean).base_dist.scale
    return {"e_i rms": float(e.pow(2).mean().sqrt()), "mean path rms": float(mean.pow(2).mean().sqrt()),
            "cos(e_i, mean path)": float(torch.nn.functional.cosine_similarity(e, mean).mean()), "a": a,
            "σ_obs": float(obs.mean()), "ID view sd": float((0.5 * lv_e).exp().mean()),
            "posterior sd (with ID)": float(n.posterior_dist(views, fused, warm, None).base_dist.scale.mean()),
            "cold-path sd": float(cold_sd.mean()), "cold-path sd cv": float(cold_sd.std() / cold_sd.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    rows = {run.name: scales(run) for run in args.runs}
    print_run_table(rows)
    print(f"cold-path sd cv across items: {next(iter(rows.values()))['cold-path sd cv']:.3f}")


if __name__ == "__main__":
    main()
