"""Speed of SKILD's sampling on this machine: network evaluations per second, and where the time goes.

1. The network alone (shipped ``small`` U-Net, float32, no gradients) at
   L = 32 and L = 128 for several batch sizes, in PyTorch's default memory
   layout and channels-last (what :meth:`isingsr.diffusion.unet.UNet.for_inference`
   uses on a CPU).
2. One 4x super-resolution of ``--n`` configurations with the default sampler
   and steps (:mod:`isingsr.defaults`), split into the time inside the network,
   inside the spectral transforms and the rest (the sampler's arithmetic,
   noise, Python).

Timing does not depend on the weights' values, so this uses the shipped
checkpoint as it is; the inputs are Monte Carlo configurations generated here.

Usage:  python experiments/bench_sampling.py [--n 256] [--repeats 3]
"""

from __future__ import annotations

import copy
import time

import torch

from isingsr.coarse import coarse_grain
from isingsr.defaults import REVERSE_STEPS, SAMPLER, auto_batch
from isingsr.diffusion.pipeline import superresolve_fields
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.io.checkpoint import load_checkpoint
from isingsr.mc import sample_configurations
from isingsr.models import shipped_checkpoint

from _script import main, parser


def net_rate(net, L: int, batch: int, channels_last: bool, seconds: float = 2.0, repeats: int = 3) -> float:
    """Best-of-``repeats`` network evaluations per second for a batch of ``batch`` L x L fields."""
    x, c = torch.randn(batch, 1, L, L), torch.randn(batch, 2)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    best = 0.0
    with torch.inference_mode():
        net(x, c)
        for _ in range(repeats):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / repeats:
                net(x, c)
                n += 1
            best = max(best, n * batch / (time.perf_counter() - t0))
    return best


class Timer:
    """Wraps a callable and accumulates the wall time spent in it."""

    def __init__(self, f):
        self.f, self.seconds = f, 0.0

    def __call__(self, *args, **kw):
        t0 = time.perf_counter()
        try:
            return self.f(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t0


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--n", type=int, default=256, help="configurations super-resolved in part 2")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ck = load_checkpoint(shipped_checkpoint(32))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("\nnetwork evaluations per second (shipped small U-Net, float32)")
    print("| L | batch | default layout | channels-last |\n|---|---|---|---|")
    for L, batches in ((32, (8, 32, 128)), (128, (1, 2, 8))):
        plain = build_from_checkpoint(ck, L=L).net
        plain = copy.deepcopy(plain).to(memory_format=torch.contiguous_format)
        plain._channels_last = False
        fast = build_from_checkpoint(ck, L=L).net
        for b in batches:
            print(f"| {L} | {b} | {net_rate(plain, L, b, False, repeats=args.repeats):.0f} | "
                  f"{net_rate(fast, L, b, True, repeats=args.repeats):.0f} |", flush=True)

    print(f"\n4x super-resolution, {args.n} configurations, {SAMPLER} {REVERSE_STEPS} steps, batch auto")
    for L in (32, 128):
        den = build_from_checkpoint(ck, L=L)
        n = args.n if L == 32 else max(4, args.n // 16)
        coarse = coarse_grain(sample_configurations(L, n, seed=5), 4, seed=0)
        den.net.forward = net_timer = Timer(den.net.forward)
        B = den.process.basis
        B.forward, B.inverse = fwd, inv = Timer(B.forward), Timer(B.inverse)
        try:
            t0 = time.perf_counter()
            superresolve_fields(den, ck, coarse, 4.0, steps=REVERSE_STEPS, sampler=SAMPLER)
            wall = time.perf_counter() - t0
        finally:
            del B.forward, B.inverse
        tr = fwd.seconds + inv.seconds
        evals = n * REVERSE_STEPS
        print(f"L = {L}, batch {auto_batch(L)}: {wall:.1f} s for {n} configurations, {evals / wall:.0f} evaluations/s; "
              f"network {net_timer.seconds / wall:.0%}, transforms {tr / wall:.0%}, "
              f"rest {(wall - net_timer.seconds - tr) / wall:.0%}", flush=True)


if __name__ == "__main__":
    main(run)
