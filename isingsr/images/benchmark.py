"""``isingsr images``: super-resolution and generation on held-out photograph patches, with metrics.

The held-out patches (every non-overlapping ``L x L`` patch of the test
photographs, :data:`~isingsr.images.data.TEST_PHOTOGRAPHS`, never trained
on) are area-downsampled by S (:func:`~isingsr.images.resize.downsample`) and
super-resolved by bicubic interpolation, by SKILD (any S) and by SR3 (its
training scale only). Each output set is scored against the truth patches:
PSNR and SSIM per image (mean and its standard error), and KID and FID
between Inception features of the output set and of the truth set. SKILD's
unconditional generation from the same checkpoint is scored the same way
(KID, FID against the held-out patches).

KID's error bar is the standard deviation over random half-size subsets
(:func:`~isingsr.images.metrics.kid`); with about 500 patches it is a few
1e-3, small against the gaps between methods measured here. FID at a few
hundred images is biased upwards (it is reported, but KID is the metric
to compare).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..correlate import run_provenance
from ..defaults import GENERATION_STEPS, SAMPLER, superres_steps
from ..exceptions import InputError
from ..io.checkpoint import load_checkpoint
from ..io.paths import check_output, portable_path
from ..models import SHIPPED_IMAGES
from .data import TEST_PHOTOGRAPHS, photo_patches
from .metrics import fid, inception_features, kid, psnr, ssim
from .resize import bicubic, coarse_size, downsample
from .sample import load_image_model, skild_generate, skild_superresolve, sr3_superresolve

__all__ = ["GENERATION_N", "run_images", "image_table"]

#: Images generated unconditionally for the generation scores.
GENERATION_N = 256
_FIGURE_ROWS = 6


def _scores(out: np.ndarray, truth: np.ndarray, f_out: np.ndarray, f_truth: np.ndarray, seed: int) -> dict:
    p, s = psnr(out, truth), ssim(out, truth)
    k, k_err = kid(f_out, f_truth, subset_size=max(2, len(f_out) // 2), seed=seed)
    se = lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v)))  # noqa: E731
    return {"psnr": float(np.mean(p)), "psnr_err": se(p), "ssim": float(np.mean(s)), "ssim_err": se(s),
            "kid": k, "kid_err": k_err, "fid": fid(f_out, f_truth)}


def _sr3_checkpoint(sr3_ckpt, scale: float):
    if sr3_ckpt is not None:
        return Path(sr3_ckpt)
    for s, path in SHIPPED_IMAGES["sr3"].items():
        if abs(s - scale) < 1e-9:
            return path
    return None


def run_images(scale: float, out, *, ckpt=None, sr3_ckpt=None, n: int | None = None, steps: int | None = None,
               generation: bool = True, gen_n: int = GENERATION_N, gen_steps: int = GENERATION_STEPS,
               sampler: str = SAMPLER, seed: int = 0, device="cpu",
               progress: Callable[[str, int, int], None] | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Run the benchmark at ``scale`` and write ``out/summary.json``, ``out/table.md``, ``out/grid.png``.

    ``n``: use the first n held-out patches (default all). ``steps``: reverse
    steps of SKILD and SR3 (default :func:`~isingsr.defaults.superres_steps`).
    ``progress(stage, done, total)`` reports each stage's progress. Returns the summary.
    """
    t0 = time.perf_counter()
    scale = float(scale)
    if not 2 <= scale <= 8:
        raise InputError(f"scale must lie in [2, 8] for 32 x 32 patches, got {scale:g}")
    out = check_output(out, directory=True)
    ck = load_checkpoint(ckpt or SHIPPED_IMAGES["skild"])
    den = load_image_model(ck, device)
    L = den.process.L
    sr3_path, sr3_note = _sr3_checkpoint(sr3_ckpt, scale), None
    if sr3_path is not None:
        sck = load_checkpoint(sr3_path)
        if abs(float(sck["config"]["scale"]) - scale) > 1e-9:
            raise InputError(f"{sr3_path}: SR3 was trained for scale {sck['config']['scale']:g}, not {scale:g}")
    l = coarse_size(L, scale)  # noqa: E741
    truth = photo_patches("test", size=L, seed=seed)
    if n is not None:
        if not 2 <= n:
            raise InputError(f"n must be >= 2, got {n}")
        truth = truth[:n]
    coarse = downsample(torch.from_numpy(truth), l).numpy()
    steps = superres_steps(scale) if steps is None else int(steps)
    log(f"{len(truth)} held-out {L}x{L} patches of {', '.join(TEST_PHOTOGRAPHS)}, downsampled to {l}x{l} "
        f"(scale {scale:g}, effective {L / l:.3f}); {steps} reverse steps")
    report = progress or (lambda stage, done, total: None)

    def stage(name):
        return lambda done, total: report(name, done, total)

    outputs, timings = {"bicubic": bicubic(torch.from_numpy(coarse), L).numpy()}, {}
    t = time.perf_counter()
    outputs["skild"] = skild_superresolve(den, ck, coarse, scale, steps=steps, sampler=sampler, seed=seed,
                                          progress=stage("skild"))
    timings["skild"] = time.perf_counter() - t
    if sr3_path is not None:
        t = time.perf_counter()
        outputs["sr3"] = sr3_superresolve(load_image_model(sck, device), coarse, L, steps=steps, sampler=sampler,
                                          seed=seed, progress=stage("sr3"))
        timings["sr3"] = time.perf_counter() - t
    else:
        sr3_note = f"no SR3 checkpoint for scale {scale:g} (SR3 runs its training scale only)"
        log(sr3_note)
    if generation:
        t = time.perf_counter()
        generated = skild_generate(den, gen_n, channels=truth.shape[1], steps=gen_steps, sampler=sampler,
                                   seed=seed + 10**6, progress=stage("generation"))
        timings["generation"] = time.perf_counter() - t

    t = time.perf_counter()
    sets = {"truth": truth, **outputs, **({"generation": generated} if generation else {})}
    total, done, feats = sum(len(v) for v in sets.values()), 0, {}
    for name, images in sets.items():
        feats[name] = inception_features(images, device=device,
                                         progress=lambda d, _, o=done: report("inception", o + d, total))
        done += len(images)
    timings["inception"] = time.perf_counter() - t
    methods = {m: _scores(outputs[m], truth, feats[m], feats["truth"], seed) for m in outputs}
    summary = {"scale": scale, "coarse_size": l, "effective_scale": L / l, "patch": L, "n": len(truth),
               "test_photographs": list(TEST_PHOTOGRAPHS), "steps": steps, "sampler": sampler, "seed": seed,
               "methods": methods}
    if sr3_note:
        summary["sr3"] = sr3_note
    if generation:
        k, k_err = kid(feats["generation"], feats["truth"], subset_size=max(2, min(gen_n, len(truth)) // 2),
                       seed=seed)
        summary["generation"] = {"n": gen_n, "steps": gen_steps, "kid": k, "kid_err": k_err,
                                 "fid": fid(feats["generation"], feats["truth"])}
    summary.update({"checkpoints": {"skild": portable_path(ckpt or SHIPPED_IMAGES["skild"]),
                                    "sr3": None if sr3_path is None else portable_path(sr3_path)},
                    **run_provenance(), "torch": torch.__version__,
                    "machine": platform.machine(), "threads": torch.get_num_threads(),
                    "timings_s": {k: round(v, 1) for k, v in timings.items()},
                    "wall_s": round(time.perf_counter() - t0, 1)})
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "table.md").write_text(image_table(summary))
    _grid(out / "grid.png", coarse, outputs, truth, L)
    if generation:
        _mosaic(out / "generated.png", generated)
    log(f"wrote {out}/summary.json, table.md, grid.png ({summary['wall_s']:.0f} s)")
    return summary


def image_table(summary: dict) -> str:
    """The Markdown table of a summary: one row per method (and generation)."""
    rows = ["| method | PSNR (dB) | SSIM | KID (x1e3) | FID |", "|---|---|---|---|---|"]
    for m, r in summary["methods"].items():
        rows.append(f"| {m} | {r['psnr']:.2f} ± {r['psnr_err']:.2f} | {r['ssim']:.3f} ± {r['ssim_err']:.3f} | "
                    f"{1e3 * r['kid']:.1f} ± {1e3 * r['kid_err']:.1f} | {r['fid']:.1f} |")
    g = summary.get("generation")
    if g:
        rows.append(f"| skild, generation ({g['n']}) | | | {1e3 * g['kid']:.1f} ± {1e3 * g['kid_err']:.1f} | "
                    f"{g['fid']:.1f} |")
    return "\n".join(rows) + "\n"


def _show(x: np.ndarray) -> np.ndarray:
    return np.clip((np.transpose(x, (1, 2, 0)) + 1) / 2, 0, 1)


def _grid(path: Path, coarse: np.ndarray, outputs: dict, truth: np.ndarray, L: int) -> None:
    from matplotlib.figure import Figure

    cols = [("input", np.repeat(np.repeat(coarse, -(-L // coarse.shape[-1]), -1), -(-L // coarse.shape[-1]), -2)
             [..., :L, :L])] + [(m, outputs[m]) for m in ("bicubic", "sr3", "skild") if m in outputs]
    cols.append(("truth", truth))
    rows = np.linspace(0, len(truth) - 1, _FIGURE_ROWS).round().astype(int)
    fig = Figure(figsize=(1.3 * len(cols), 1.3 * len(rows)))
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for i, r in enumerate(rows):
        for j, (name, images) in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(_show(images[r]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=120)


def _mosaic(path: Path, images: np.ndarray, side: int = 8) -> None:
    from matplotlib.figure import Figure

    k = min(len(images), side * side)
    rows = -(-k // side)
    fig = Figure(figsize=(side, rows))
    axes = fig.subplots(rows, side, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < k:
            ax.imshow(_show(images[i]), interpolation="nearest")
        ax.axis("off")
    fig.tight_layout(pad=0.1)
    fig.savefig(path, dpi=100)
