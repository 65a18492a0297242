"""Speed of SKILD's sampling on this machine: network evaluations per second, and where the time goes.

1. The network alone (shipped ``small`` U-Net, no gradients) at L = 32 and
   L = 128 for several batch sizes, in PyTorch's default memory layout and
   channels-last (what :meth:`isingsr.diffusion.unet.UNet.for_inference` uses
   on a CPU), in float32 and, channels-last, under bf16 autocast
   (``--precision bf16``).
2. One 4x super-resolution of ``--n`` configurations with the default sampler
   and steps (:mod:`isingsr.defaults`), in float32 and bf16, split into the
   time inside the network, inside the spectral transforms and the rest (the
   sampler's arithmetic, noise, Python).

The CPU allocator is set as every command sets it (``UNet.for_inference`` on a CPU).

Timing does not depend on the weights' values, so this uses the shipped
checkpoint as it is; the inputs are Monte Carlo configurations generated here.

Usage:  python experiments/bench_sampling.py [--n 256] [--repeats 3] [--out results/bench_sampling]
(``--out`` writes both tables to ``OUT/network.md`` and ``OUT/sampling.md``.)
``--compile`` measures instead whether ``torch.compile`` (inductor) speeds up the network on this CPU
(``OUT/compile.md``); ``--threads`` whether running one batch per core at once (Python threads, one
intra-op thread each, :func:`isingsr.device.in_batches`) beats one batch at a time over all cores, for the
network (``OUT/threads.md``) and a 4x super-resolution of ``--n`` configurations at L = 32 (``--n / 16`` at
L = 128), ``--repeats`` runs each in turn (``OUT/threads_sampling.md``). ``--operators`` measures how close
the network is to the CPU's arithmetic limit, on one intra-op thread as each batch runs: its floating-point
operations per evaluation (torch's flop counter), the rate it reaches overall and inside its convolutions,
beside a large float32 matrix product's rate (the practical peak of one core), and the share of its time per
operator (torch's profiler; ``OUT/operators.md``).
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from isingsr import device
from isingsr.analysis.tables import markdown
from isingsr.coarse import coarse_grain
from isingsr.defaults import SAMPLER, auto_batch, superres_steps
from isingsr.diffusion.pipeline import superresolve_fields
from isingsr.diffusion.inference import build_from_checkpoint
from isingsr.device import bf16_autocast
from isingsr.io.checkpoint import load_checkpoint
from isingsr.mc import sample_configurations
from isingsr.models import shipped_checkpoint

from _script import main, parser

STEPS = superres_steps(4.0)


def net_rate(net, L: int, batch: int, channels_last: bool, seconds: float = 2.0, repeats: int = 3,
             bf16: bool = False) -> float:
    """Best-of-``repeats`` network evaluations per second for a batch of ``batch`` L x L fields."""
    x, c = torch.randn(batch, 1, L, L), torch.randn(batch, 2)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    best = 0.0
    with torch.inference_mode(), bf16_autocast(bf16, "cpu"):
        net(x, c)
        for _ in range(repeats):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / repeats:
                net(x, c)
                n += 1
            best = max(best, n * batch / (time.perf_counter() - t0))
    return best


def write_tables(out: Path | None, tables: dict) -> None:
    """Each markdown table of ``tables`` (file name -> text) into folder ``out``, if one is given."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in tables.items():
            (out / name).write_text(text + "\n")


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


def compile_table(ck, args) -> None:
    """Channels-last float32 evaluations per second, eager and under ``torch.compile`` (inductor, one compiled
    module per lattice size, fixed shapes), with the seconds the first call of each new shape takes (compiled
    from scratch: inductor's on-disk cache goes to a fresh folder, as on a fresh machine, removed afterwards)."""
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        try:
            rows = _compile_rows(ck, args.repeats)
        finally:
            if before is None:
                del os.environ["TORCHINDUCTOR_CACHE_DIR"]
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    table = markdown(["L", "batch", "eager", "torch.compile", "first call s", "max abs difference"], rows)
    print(table)
    write_tables(args.out, {"compile.md": table})


def _compile_rows(ck, repeats: int) -> list:
    rows = []
    for L, batches in ((32, (8, 32)), (128, (2,))):
        net = build_from_checkpoint(ck, L=L).net
        torch._dynamo.reset()
        compiled = torch.compile(net, dynamic=False)
        for b in batches:
            x, c = torch.randn(b, 1, L, L).contiguous(memory_format=torch.channels_last), torch.randn(b, 2)
            t0 = time.perf_counter()
            with torch.inference_mode():
                diff = float((compiled(x, c) - net(x, c)).abs().max())
            first = time.perf_counter() - t0
            rows.append([L, b, f"{net_rate(net, L, b, True, repeats=repeats):.0f}",
                         f"{net_rate(compiled, L, b, True, repeats=repeats):.0f}", f"{first:.0f}", f"{diff:.1e}"])
            print(" ".join(str(v) for v in rows[-1]), flush=True)
    return rows


def matmul_rate(n: int = 1024, repeats: int = 5) -> float:
    """Best-of-``repeats`` GFLOP/s of an n x n float32 matrix product on torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


#: Operator groups of ``--operators``: the profiler's self time of each aten operator whose name holds the key.
OPERATOR_GROUPS = {"convolutions": "conv", "cat": "aten::cat", "group norm": "group_norm", "SiLU": "silu"}


def operators_table(ck, args) -> None:
    """The network's arithmetic against the machine's on one thread, and its time per operator group."""
    from torch.utils.flop_counter import FlopCounterMode

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each batch runs on a CPU (isingsr.device.in_batches)
    try:
        peak, rows = matmul_rate(), []
        for L, b in ((32, 32), (128, 2)):
            net = build_from_checkpoint(ck, L=L).net
            x, c = torch.randn(b, 1, L, L).contiguous(memory_format=torch.channels_last), torch.randn(b, 2)
            with torch.inference_mode(), FlopCounterMode(display=False) as fc:
                net(x, c)
            flops = fc.get_total_flops() / b
            conv_flops = sum(v for k, v in fc.get_flop_counts()["Global"].items() if "conv" in str(k)) / b
            rate = net_rate(net, L, b, True, repeats=args.repeats)
            calls = 10
            with torch.inference_mode(), torch.profiler.profile() as prof:
                for _ in range(calls):
                    net(x, c)
            self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
            total = sum(self_us.values())
            share = {g: sum(t for k, t in self_us.items() if key in k) / total for g, key in OPERATOR_GROUPS.items()}
            conv_s = share["convolutions"] * total / 1e6
            rows.append([L, b, f"{flops / 1e9:.3f}", f"{rate:.0f}", f"{rate * flops / 1e9:.0f}",
                         f"{conv_flops * b * calls / conv_s / 1e9:.0f}", f"{peak:.0f}",
                         *(f"{v:.0%}" for v in share.values()), f"{1 - sum(share.values()):.0%}"])
            print(" ".join(str(v) for v in rows[-1]), flush=True)
    finally:
        torch.set_num_threads(threads)
    table = markdown(["L", "batch", "GFLOP per evaluation", "evaluations/s", "GFLOP/s", "convolutions GFLOP/s",
                      "matrix product GFLOP/s", *(f"{g} %" for g in OPERATOR_GROUPS), "other %"], rows)
    print(table)
    write_tables(args.out, {"operators.md": table})


def concurrent_rate(net, L: int, batch: int, workers: int, repeats: int) -> float:
    """Evaluations per second summed over ``workers`` Python threads, each timing its own batches at once."""
    rates = [0.0] * workers

    def work(i):
        rates[i] = net_rate(net, L, batch, True, seconds=2.0 * repeats, repeats=repeats)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rates)


def threads_table(ck, args) -> None:
    """Channels-last float32 evaluations per second: one batch at a time over all of torch's threads (what the
    sampler does) against as many Python threads as that, each running its own batch with one intra-op thread;
    and whether the network's output depends on the thread count (bit for bit)."""
    cores = torch.get_num_threads()
    rows = []
    for L, b in ((32, 32), (128, 2)):
        net = build_from_checkpoint(ck, L=L).net
        x = torch.randn(b, 1, L, L).contiguous(memory_format=torch.channels_last)
        c = torch.randn(b, 2)
        with torch.inference_mode():
            pool = net_rate(net, L, b, True, repeats=args.repeats)
            many = net(x, c)
            torch.set_num_threads(1)
            try:
                same = torch.equal(many, net(x, c))
                together = concurrent_rate(net, L, b, cores, args.repeats)
            finally:
                torch.set_num_threads(cores)
        rows.append([L, b, f"{pool:.0f}", f"{together:.0f}", f"{together / pool:.2f}", "yes" if same else "no"])
        print(" ".join(str(v) for v in rows[-1]), flush=True)
    table = markdown(["L", "batch", f"one batch over {cores} threads", f"{cores} batches at once, 1 thread each",
                      "ratio", "same output"], rows)
    print(table)
    print(f"\n4x super-resolution, {SAMPLER} {STEPS} steps, batch auto: one batch at a time, then "
          f"{cores} at once (isingsr.device.BATCH_WORKERS), {args.repeats} times in turn")
    end = []
    for L in (32, 128):
        n = args.n if L == 32 else max(4, args.n // 16)
        coarse = coarse_grain(sample_configurations(L, n, seed=5), 4, seed=0)
        den = build_from_checkpoint(ck, L=L)
        walls, outs = {1: [], None: []}, {}
        for workers in (1, None) * args.repeats:
            device.BATCH_WORKERS = workers
            try:
                t0 = time.perf_counter()
                outs[workers] = superresolve_fields(den, ck, coarse, 4.0, steps=STEPS, sampler=SAMPLER)[0]
                walls[workers].append(time.perf_counter() - t0)
            finally:
                device.BATCH_WORKERS = None
            print(L, workers, f"{walls[workers][-1]:.1f} s", flush=True)
        pairs = [one / many for one, many in zip(walls[1], walls[None])]
        end.append([L, n, f"{min(walls[1]):.1f}", f"{min(walls[None]):.1f}", f"{min(walls[1]) / min(walls[None]):.2f}",
                    f"{min(pairs):.2f}-{max(pairs):.2f}", "yes" if np.array_equal(outs[1], outs[None]) else "no"])
    end_table = markdown(["L", "configurations", "best wall s, one batch at a time", f"best wall s, {cores} at once",
                          "ratio of the best", "ratio, run by run", "same output"], end)
    print(end_table)
    write_tables(args.out, {"threads.md": table, "threads_sampling.md": end_table})


def run() -> None:
    ap = parser(__doc__)
    ap.add_argument("--n", type=int, default=256, help="configurations super-resolved in part 2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="folder for network.md and sampling.md")
    ap.add_argument("--compile", action="store_true",
                    help="instead: the network eager and under torch.compile (OUT/compile.md)")
    ap.add_argument("--threads", action="store_true",
                    help="instead: one batch over all threads against one batch per thread at once (OUT/threads.md)")
    ap.add_argument("--operators", action="store_true",
                    help="instead: the network's GFLOP/s on one thread against a matrix product's, and its time "
                         "per operator (OUT/operators.md)")
    args = ap.parse_args()
    if args.n < 1 or args.repeats < 1:
        ap.error(f"--n and --repeats must be >= 1, got {args.n} and {args.repeats}")
    ck = load_checkpoint(shipped_checkpoint(32))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.compile:
        return compile_table(ck, args)
    if args.threads:
        return threads_table(ck, args)
    if args.operators:
        return operators_table(ck, args)
    print("\nnetwork evaluations per second (shipped small U-Net)")
    net_rows = []
    for L, batches in ((32, (8, 32, 128)), (128, (1, 2, 8))):
        plain = build_from_checkpoint(ck, L=L).net
        plain = copy.deepcopy(plain).to(memory_format=torch.contiguous_format)
        plain._channels_last = False
        fast = build_from_checkpoint(ck, L=L).net
        for b in batches:
            net_rows.append([L, b, f"{net_rate(plain, L, b, False, repeats=args.repeats):.0f}",
                             f"{net_rate(fast, L, b, True, repeats=args.repeats):.0f}",
                             f"{net_rate(fast, L, b, True, repeats=args.repeats, bf16=True):.0f}"])
            print(" ".join(str(c) for c in net_rows[-1]), flush=True)
    net_table = markdown(["L", "batch", "default layout", "channels-last", "channels-last, bf16"], net_rows)
    print(net_table)

    print(f"\n4x super-resolution, {SAMPLER} {STEPS} steps, batch auto")
    rows = []
    for L, bf16 in ((32, False), (32, True), (128, False), (128, True)):
        den = build_from_checkpoint(ck, L=L, bf16=bf16)
        n = args.n if L == 32 else max(4, args.n // 16)
        coarse = coarse_grain(sample_configurations(L, n, seed=5), 4, seed=0)
        den.net.forward = net_timer = Timer(den.net.forward)
        B = den.process.basis
        B.forward, B.inverse = fwd, inv = Timer(B.forward), Timer(B.inverse)
        try:
            t0 = time.perf_counter()
            superresolve_fields(den, ck, coarse, 4.0, steps=STEPS, sampler=SAMPLER)
            wall = time.perf_counter() - t0
        finally:
            del B.forward, B.inverse
        tr = fwd.seconds + inv.seconds
        rows.append([L, "bf16" if bf16 else "float32", auto_batch(L), n, f"{wall:.1f}", f"{n * STEPS / wall:.0f}",
                     f"{net_timer.seconds / wall:.0%}", f"{tr / wall:.0%}",
                     f"{(wall - net_timer.seconds - tr) / wall:.0%}"])
        print(" ".join(str(c) for c in rows[-1]), flush=True)
    table = markdown(["L", "precision", "batch", "configurations", "wall s", "evaluations/s", "network", "transforms",
                      "rest"], rows)
    print(table)
    write_tables(args.out, {"network.md": net_table, "sampling.md": table})


if __name__ == "__main__":
    main(run)
