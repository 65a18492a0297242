"""Why image generation needs the per-mode bound of x0-hat rather than the pixel clip: colour statistics.

Generates ``--n`` patches from noise with the shipped SKILD image checkpoint
(200 steps), once with the sampler's per-mode bound of the x0 estimate
(``isingsr.images.sample._Bounded``, the default) and once with the estimate
clipped to the pixel range [-1, 1] instead (as DDPM does), and compares with
2,000 training patches: the correlation of the channel means across patches
(R-G, G-B), the spread of the channel means, and the contrast within a patch.
It also super-resolves ``--n`` validation patches of the training photographs
(positions seed 777, as ``images_start.py``) by 4x with each and reports
their KID against the truth, to show super-resolution does not move.

    python experiments/images_generation.py --out results/images_generation

Writes OUT/table.md (colours) and OUT/kid.md (super-resolution).
"""

from __future__ import annotations

import time
from pathlib import Path

import _script
import numpy as np
import torch

from isingsr.images import sample as image_sample
from isingsr.images.data import photo_patches
from isingsr.images.metrics import inception_features, kid
from isingsr.images.resize import downsample
from isingsr.io.checkpoint import load_checkpoint
from isingsr.models import SHIPPED_IMAGES


class _PixelClip:
    """The alternative: the x0 estimate clipped to the pixel range."""

    def __init__(self, den):
        self.den, self.process = den, den.process

    def __call__(self, x_t, t):
        return self.den(x_t, t).clamp(-1.0, 1.0)


def _colour_row(name: str, x: np.ndarray) -> str:
    m = x.mean((2, 3))
    c = np.corrcoef(m.T)
    spread = "/".join(f"{v:.2f}" for v in m.std(0))
    contrast = "/".join(f"{v:.3f}" for v in x.std((2, 3)).mean(0))
    return f"| {name} | {c[0, 1]:.3f} | {c[1, 2]:.3f} | {spread} | {contrast} |"


def run() -> None:
    ap = _script.parser(__doc__)
    ap.add_argument("--out", required=True, help="Results folder.")
    ap.add_argument("-n", type=int, default=128, help="Generated and validation patches per variant.")
    a = ap.parse_args()
    t0 = time.perf_counter()
    ck = load_checkpoint(SHIPPED_IMAGES["skild"])
    den = image_sample.load_image_model(ck)
    train = photo_patches("train", n=2000, seed=5)
    truth = photo_patches("train", n=a.n, seed=777)
    f_truth = inception_features(truth)
    y = downsample(torch.from_numpy(truth), 8).numpy()
    rows = ["| patches | corr R-G | corr G-B | spread of channel means (R/G/B) | contrast within a patch (R/G/B) |",
            "|---|---|---|---|---|", _colour_row("training (2,000)", train)]
    kids = []
    bounded = image_sample._Bounded
    for name, wrapper in (("per-mode bound (default)", bounded), ("pixel clip", _PixelClip)):
        image_sample._Bounded = wrapper
        try:
            g = image_sample.skild_generate(den, a.n, steps=200, seed=10**6)
            sr = image_sample.skild_superresolve(den, ck, y, 4.0, seed=0)
        finally:
            image_sample._Bounded = bounded
        rows.append(_colour_row(f"generated, {name}", g))
        k, ke = kid(inception_features(sr), f_truth, subset_size=a.n // 2)
        kids.append(f"| {name} | {1e3 * k:.1f} ± {1e3 * ke:.1f} |")
        print(rows[-1], kids[-1], flush=True)
    kid_text = "| 4x super-resolution of validation patches | KID (x1e3) |\n|---|---|\n" + "\n".join(kids) + "\n"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(rows) + "\n")
    (out / "kid.md").write_text(kid_text)
    print("\n".join(rows) + "\n\n" + kid_text + f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    _script.main(run)
