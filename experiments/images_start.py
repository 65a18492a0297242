"""The start constant c of SKILD's image super-resolution, chosen on validation patches of the training photographs.

SKILD starts super-resolution by S at t_s, where the blur length is
c sqrt(S^2 - 1) (``SpectralProcess.t_start``). The Ising schedule's c = 0.9
was set by an alignment diagnostic for majority-rule spins; block averages
of images keep their pass band almost exactly (correlation near 1), so an
earlier start may keep more of the input. This scans c on patches of the
*training* photographs at positions drawn with a seed of their own (the test
photographs are never looked at), and reports, per c: PSNR against the
truth, the PSNR of the output's own downsampling against the input (how
well the output honours its input; an exact posterior draw is infinite
here), and KID against the truth patches. The chosen c goes into the
shipped checkpoint's schedule (``blur_per_block``), which training never
reads.

    python experiments/images_start.py --ckpt runs/photos_skild/checkpoint.pt --out results/images_start

Writes OUT/table.md and OUT/summary.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import _script
import torch

from isingsr.images.data import photo_patches
from isingsr.images.metrics import inception_features, kid, psnr
from isingsr.images.resize import bicubic, coarse_size, downsample
from isingsr.images.sample import load_image_model, skild_superresolve
from isingsr.io.checkpoint import load_checkpoint


def run() -> None:
    ap = _script.parser(__doc__)
    ap.add_argument("--ckpt", required=True, help="SKILD image checkpoint.")
    ap.add_argument("--out", required=True, help="Results folder.")
    ap.add_argument("--scales", type=_script.numbers(), default=[4.0])
    ap.add_argument("--c", type=_script.numbers(), default=[0.9, 0.5, 0.3, 0.15])
    ap.add_argument("-n", type=int, default=256, help="Validation patches.")
    ap.add_argument("--seed", type=int, default=777, help="Seed of the validation patch positions.")
    a = ap.parse_args()
    t0 = time.perf_counter()
    ck = load_checkpoint(a.ckpt)
    den = load_image_model(ck)
    p = den.process
    truth = photo_patches("train", n=a.n, seed=a.seed)
    f_truth = inception_features(truth)
    rows, results = ["| S | c | t_s | PSNR (dB) | input PSNR (dB) | KID (x1e3) |", "|---|---|---|---|---|---|"], []
    for scale in a.scales:
        l = coarse_size(p.L, scale)  # noqa: E741
        y = downsample(torch.from_numpy(truth), l).numpy()
        b = bicubic(torch.from_numpy(y), p.L).numpy()
        k, ke = kid(inception_features(b), f_truth, subset_size=a.n // 2)
        b_in = psnr(downsample(torch.from_numpy(b), l).numpy(), y).mean()
        rows.append(f"| {scale:g} | bicubic | | {psnr(b, truth).mean():.2f} | {b_in:.2f} | "
                    f"{1e3 * k:.1f} ± {1e3 * ke:.1f} |")
        for c in a.c:
            ts = p.t_start(scale, c)
            out = skild_superresolve(den, ck, y, scale, seed=0, t_start=ts)
            k, ke = kid(inception_features(out), f_truth, subset_size=a.n // 2)
            r = {"scale": scale, "c": c, "t_start": ts, "psnr": float(psnr(out, truth).mean()),
                 "input_psnr": float(psnr(downsample(torch.from_numpy(out), l).numpy(), y).mean()),
                 "kid": k, "kid_err": ke}
            results.append(r)
            rows.append(f"| {scale:g} | {c:g} | {ts:.3f} | {r['psnr']:.2f} | {r['input_psnr']:.2f} | "
                        f"{1e3 * k:.1f} ± {1e3 * ke:.1f} |")
            print(rows[-1], flush=True)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "table.md").write_text("\n".join(rows) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(
        {"ckpt": a.ckpt, "n": a.n, "seed": a.seed, "rows": results,
         "wall_s": round(time.perf_counter() - t0, 1)}, indent=2) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    _script.main(run)
