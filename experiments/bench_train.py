"""Speed of one SKILD training step on this machine: images per second and operators per step.

A small network on small fields is bound by the cost of launching each
operator (on a GPU: one kernel launch each, ~5-10 us, plus Python), not by
arithmetic: the H200 ran the shipped ``small`` U-Net at L = 32, batch 256,
at 4,100 images/s, 62 ms per step. This measures, for each (L, batch) of
``--configs``, the training loop of :func:`isingsr.train.train` end to end
(SKILD, fresh weights, Monte Carlo data generated here):

* images per second: the median of the loop's own ``img/s`` over intervals
  of 5 steps, ``--steps`` steps after a warm-up of 5 (no checkpoint until
  the end);
* top-level operators per step: the torch profiler counts the ``aten``
  operators the loop calls (the autograd engine's included, not operators
  inside operators) in runs of ``--steps`` and ``2 --steps`` steps; their
  difference over ``--steps`` is the count
  per step, which on a GPU is the number of launches the host pays for.

Usage:  python experiments/bench_train.py [--device cpu] [--configs 8:4,32:64] [--steps 30]
        [--out results/bench_train]   (``--out`` writes ``OUT/train.md``)
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from isingsr.analysis.tables import markdown
from isingsr.device import resolve_device
from isingsr.io.hdf5 import write_ensemble
from isingsr.mc import sample_configurations
from isingsr.train import TrainConfig, train

from _script import main, parser


def _run(data: Path, out: Path, batch: int, steps: int, device: str) -> float:
    """Train 5 + ``steps`` steps; the median of the loop's images per second over its logging intervals of
    5 steps after the first (checkpoints only at the end)."""
    cfg = TrainConfig(data=str(data), out=str(out), batch=batch, steps=5 + steps, warmup=1, log_every=5,
                      ckpt_every=10**9, device=device, seed=1)
    train(cfg, log=lambda s: None)
    rates = [float(r) for r in re.findall(r"img/s ([0-9.]+)", (out / "log.txt").read_text())[1:]]
    return statistics.median(rates)


def _ops(data: Path, tmp: Path, batch: int, steps: int, device: str) -> float:
    """Top-level aten operators per training step (the difference of runs of 2n and n steps, over n)."""
    tmp.mkdir()
    counts = []
    for n in (steps, 2 * steps):
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with profile(activities=acts) as prof:
            _run(data, tmp / f"ops{n}", batch, n, device)
        counts.append(sum(1 for e in prof.events() if e.name.startswith("aten::")
                          and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))))
    return (counts[1] - counts[0]) / steps


def measure(configs: list[tuple[int, int]], steps: int, device: str) -> list[dict]:
    dev = str(resolve_device(device))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for L, batch in configs:
            data = tmp / f"L{L}.h5"
            if not data.exists():
                write_ensemble(data, sample_configurations(L, 256, seed=3), {"beta": 0.4406867935, "source": "bench"})
            rate = _run(data, tmp / f"rate{L}_{batch}", batch, steps, dev)
            ops = _ops(data, tmp / f"o{L}_{batch}", batch, steps, dev)
            rows.append({"L": L, "batch": batch, "device": dev, "img/s": rate, "ms/step": 1000 * batch / rate,
                         "operators/step": ops})
            print(f"L {L} batch {batch} on {dev}: {rate:.0f} img/s, {1000 * batch / rate:.1f} ms/step, "
                  f"{ops:.0f} operators/step", flush=True)
    return rows


def _configs(text: str) -> list[tuple[int, int]]:
    """``"8:4,32:64"`` -> ``[(8, 4), (32, 64)]``; anything else is the parser's one-line error."""
    try:
        pairs = [tuple(int(v) for v in c.split(":")) for c in text.split(",")]
    except ValueError:
        pairs = None
    if not pairs or any(len(p) != 2 or p[0] < 4 or p[1] < 1 for p in pairs):
        raise argparse.ArgumentTypeError(f"expected L:batch pairs like 8:4,32:64 (L >= 4, batch >= 1), got {text!r}")
    return pairs


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def run(argv=None):
    ap = parser(__doc__)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto [default: auto]")
    ap.add_argument("--configs", type=_configs, default="8:4,32:64",
                    help="L:batch pairs, comma-separated [default: 8:4,32:64]")
    ap.add_argument("--steps", type=_positive, metavar="N", default=30,
                    help="timed steps per configuration [default: 30]")
    ap.add_argument("--out", type=Path, help="folder for train.md")
    a = ap.parse_args(argv)
    rows = measure(a.configs, a.steps, a.device)
    table = markdown(["L", "batch", "device", "img/s", "ms/step", "operators/step"],
                     [[r["L"], r["batch"], r["device"], f"{r['img/s']:.0f}", f"{r['ms/step']:.1f}",
                       f"{r['operators/step']:.0f}"] for r in rows])
    print(table)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "train.md").write_text(table + "\n")


if __name__ == "__main__":
    main(run)
