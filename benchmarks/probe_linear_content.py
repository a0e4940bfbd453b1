"""How far does a plain content → embedding map get, trained by M²VAE's own BPR on the same triples?

A mechanism probe for issue 19 (not a model of the package): ``e_new = W · content`` (or a tanh MLP with
``hid=H``), free user embeddings, BPR over the triples of the cold-start split, Adam; validation HR@5 per epoch,
beside the untrained ``content_activity`` reference. ``norm=1`` centres the image features and L2-normalises each
content block as the reference does; ``norm=0`` feeds them raw.

Usage: python benchmarks/probe_linear_content.py [ds=ml-100k] [seed=0] [d=64] [hid=0] [norm=1] [img=1] [ep=25]
       [lr=1e-3]        (img=0: attributes only)
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from real_data import load_or_exit

from m2vae_pyro.baselines.reference import content_activity_scorer
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.data.split import cold_start_split
from m2vae_pyro.evaluation.protocols import evaluate
from m2vae_pyro.nn.content import image_matrix


def main() -> None:
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    name, seed = args.get("ds", "ml-100k"), int(args.get("seed", 0))
    d, hid, norm = int(args.get("d", 64)), int(args.get("hid", 0)), args.get("norm", "1") == "1"
    epochs, lr = int(args.get("ep", 25)), float(args.get("lr", 1e-3))
    use_image = args.get("img", "1") == "1"
    ds = load_or_exit(name, None, images=True)
    split = cold_start_split(ds, seed, 0.2, None if name.startswith("amazon-") else 4.0)
    blocks = [torch.from_numpy(ds.attribute_matrix()).float()]
    img = ds.modalities.get("image")
    if use_image and img is not None and img.features is not None:
        blocks.append(image_matrix(img.features, img.present, "center_l2" if norm else "none"))
    content = torch.cat([F.normalize(b, dim=1) if norm else b for b in blocks], 1)
    torch.manual_seed(seed)
    enc = torch.nn.Linear(content.shape[1], d) if not hid else torch.nn.Sequential(
        torch.nn.Linear(content.shape[1], hid), torch.nn.Tanh(), torch.nn.Linear(hid, d))
    users = torch.nn.Parameter(torch.randn(ds.n_users, d) * 0.1)
    opt = torch.optim.Adam([*enc.parameters(), users], lr=lr)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, 10, 40)

    def score(u, i):
        with torch.no_grad():
            return users[u] @ enc(content[i]).T

    ref = evaluate(content_activity_scorer(ds, split), ds, split, "validation", (5,))["hr@5"]
    print(f"content_activity validation hr@5: {ref:.4f}")
    print("| epoch | train bpr | validation hr@5 |\n|---|---|---|")
    best = 0.0
    for epoch in range(epochs):
        for t in sampler.epoch(seed, epoch, 1024):
            v = enc(content[torch.from_numpy(t.items)])
            diff = users[torch.from_numpy(t.pos_users)] - users[torch.from_numpy(t.neg_users)]
            loss = -F.logsigmoid((v * diff).sum(-1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = evaluate(score, ds, split, "validation", (5,))["hr@5"]
        best = max(best, val)
        print(f"| {epoch + 1} | {loss.item():.3f} | {val:.4f} |", flush=True)
    print(f"best validation hr@5: {best:.4f}")


if __name__ == "__main__":
    main()
