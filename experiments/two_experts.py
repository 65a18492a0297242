"""SKILD with two networks split by time: one for the blurs above a switch length, another below.

At L = 128 the shipped ``skild_L64.pt`` (carried from L = 64) makes the
4-16-site band too strongly correlated, and the same network fine-tuned at
L = 128 removes that band but is too weak at r <= 3
(docs/L128.md). Their per-mode denoising errors
(``experiments/transfer_denoising.py``) differ by blur: the fine-tuned
network is better for the modes near the cutoff at blurs l >= 2.8, the
carried one better on the shortest modes at every blur >= 1, and at l <= 2
the two agree on all the others. If each part of the correlations were drawn where
the denoising errors differ, taking the x_0 estimate from the fine-tuned
network (``--early``) while the blur is above ``--switch`` and from the
carried one (``--late``) below it would keep the better of each, at one
network evaluation per step. This measures whether it does.

Both networks answer the contract ``D(x_t, t)`` for the same process: the
``--late`` checkpoint's, carried to the truth's L (its spectrum, start
state, zero-mode prior); the ``--early`` network is conditioned and its
prediction converted with that process too. Everything else is
``isingsr correlate``'s default super-resolution (start, sampler, steps,
seeds, inputs), so the file pairs with the single-network runs of
``compare_methods.py`` on the same truth. The ensemble goes to
``OUT/sS/skild.h5`` (resumable: repeat the command after an interruption);
score it with ``compare_methods.py --reuse``. With ``--switch`` above the
start blur the output is the ``--late`` model's, bit for bit.

``--k-split K`` splits by wavenumber instead of (or, below the switch, as
well as) by time: the modes with |k| <= K from ``--early``, the others from
``--late``, at two network evaluations per step. The denoising tables put
the fine-tuned network ahead or level on |k| <= 1.6 at blurs >= 2.8 and level below,
and ``skild_L64.pt`` ahead on |k| > 1.6 at every blur >= 1; with ``--switch``
above the start blur the split holds at every step:
  python experiments/two_experts.py --truth data/L128_n1000.h5 --scale 4 --early runs/L128_ft2/checkpoint.pt \\
      --late isingsr/models/skild_L64.pt --switch 1000 --k-split 1.6 --out results/L128_two_experts_k

Usage (78 min for 1,000 configurations at L = 128, 4x, on 2 slow cores):
  python experiments/two_experts.py --truth data/L128_n1000.h5 --scale 4 --early runs/L128_ft2/checkpoint.pt \\
      --late isingsr/models/skild_L64.pt --switch 2 --out results/L128_two_experts
  python experiments/compare_methods.py --out results/L128_two_experts --scales 4 --truth data/L128_n1000.h5 \\
      --collinear --methods skild,posterior --reuse
"""

from __future__ import annotations

from pathlib import Path

import torch

from isingsr.diffusion.denoiser import Denoiser
from isingsr.diffusion.inference import SkildSuperResolver, build_from_checkpoint
from isingsr.exceptions import InputError
from isingsr.io.checkpoint import load_checkpoint
from isingsr.io.hdf5 import load_ensemble
from isingsr.io.paths import portable_path
from isingsr.progress import StageBars

from _script import main, parser, super_resolve_truth


class TimeSplitDenoiser:
    """``D(x_t, t)``: ``early`` where the blur length of t exceeds ``switch``, ``late`` elsewhere.

    With ``k_split``, below the switch the modes of physical wavenumber |k| <= ``k_split`` come from
    ``early`` and the others from ``late`` (two evaluations per step there). Carries ``late``'s process,
    precision and zero-mode prior, which is what the samplers and start protocols read.
    """

    def __init__(self, early: Denoiser, late: Denoiser, switch: float, k_split: float | None = None):
        if early.process is not late.process:
            raise InputError("both networks must use the same process")
        self.early, self.late, self.switch, self.k_split = early, late, float(switch), k_split
        self.process, self.autocast, self.zero_mode = late.process, late.autocast, late.zero_mode
        p = self.process
        self.low = None if k_split is None else p.basis.wavenumber(p.L, device=p.S.device) <= k_split

    def _below(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.low is None:
            return self.late(x_t, t)
        B = self.process.basis
        return B.inverse(torch.where(self.low, B.forward(self.early(x_t, t)), B.forward(self.late(x_t, t))))

    @torch.no_grad()
    def __call__(self, x_t: torch.Tensor, t) -> torch.Tensor:
        p = self.process
        t = torch.as_tensor(t, dtype=torch.float64, device=p.S.device).reshape(-1).expand(x_t.shape[0])
        early = p.blur_length(t) > self.switch
        x0 = torch.empty_like(x_t)
        for where, denoise in ((early, self.early), (~early, self._below)):
            if bool(where.any()):
                x0[where] = denoise(x_t[where], t[where])
        return x0


def two_experts(early_ckpt, late_ckpt, L: int, switch: float, k_split: float | None = None,
                device: str = "cpu") -> tuple[TimeSplitDenoiser, dict, int]:
    """The time-split denoiser at lattice size L, the ``late`` checkpoint (its start-state statistics) and the
    ``early`` one's training step."""
    late_ck, early_ck = load_checkpoint(late_ckpt), load_checkpoint(early_ckpt)
    late = build_from_checkpoint(late_ck, device=device, L=L)
    if early_ck["config"]["target"] != late_ck["config"]["target"]:
        raise InputError("the two checkpoints predict different targets")
    net = build_from_checkpoint(early_ck, device=device, L=L, zero_mode=False).net
    early = Denoiser(net, late.process, target=late.target, autocast=late.autocast, zero_mode=late.zero_mode)
    return TimeSplitDenoiser(early, late, switch, k_split), late_ck, int(early_ck["step"])


class TwoExpertResolver(SkildSuperResolver):
    """A :class:`SkildSuperResolver` whose provenance also names the early network and the switch."""

    def __init__(self, den: TimeSplitDenoiser, ck: dict, early_ckpt: str, early_step: int, **kw):
        super().__init__(den, ck, **kw)
        self.expert_attrs = {"early_checkpoint": early_ckpt, "early_checkpoint_step": int(early_step),
                             "switch_blur": den.switch}
        if den.k_split is not None:
            self.expert_attrs["k_split"] = float(den.k_split)

    def provenance(self) -> dict:
        return dict(super().provenance(), **self.expert_attrs)


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--truth", required=True, help="Monte Carlo ensemble whose coarse-graining is super-resolved")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--early", required=True, help="SKILD checkpoint used while the blur is above --switch")
    ap.add_argument("--late", required=True, help="SKILD checkpoint used below --switch; its process drives "
                    "the sampler")
    ap.add_argument("--switch", type=float, default=2.0, help="blur length (sites) where the networks change")
    ap.add_argument("--k-split", type=float, default=None,
                    help="below --switch, take the modes with |k| <= K (radians per site) from --early and the rest "
                         "from --late (two evaluations per step); with a --switch above the start blur, at every step")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=None, help="only the first N configurations (a quick check; "
                    "compare_methods.py pairs only full runs)")
    args = ap.parse_args()
    if args.switch <= 0:
        raise InputError("--switch must be a positive blur length")
    if args.k_split is not None and args.k_split <= 0:
        raise InputError("--k-split must be a positive wavenumber")
    if args.n is not None and args.n < 1:
        raise InputError("--n must be at least 1")
    den, ck, step = two_experts(args.early, args.late, load_ensemble(args.truth).L, args.switch, args.k_split,
                                device=args.device)
    resolver = TwoExpertResolver(den, ck, portable_path(args.early), step, checkpoint=portable_path(args.late))
    out = Path(args.out) / f"s{args.scale:g}"
    out.mkdir(parents=True, exist_ok=True)
    bars = StageBars()
    try:
        super_resolve_truth(None, args.truth, args.scale, out / "skild.h5", resolver=resolver, n=args.n,
                            progress=lambda d, n: bars(f"two experts {args.scale:g}x", d, n))
    finally:
        bars.close()


if __name__ == "__main__":
    main(run)
