"""Training: one loop for SKILD (one unconditional network for every scale) and the conditional baselines.

``method`` picks what is trained: ``skild`` (default;
:func:`isingsr.diffusion.train.skild_setup`), ``sr3`` or ``cnn``
(:mod:`isingsr.baselines`, one network per ``scale``); ``dataset`` what it
is trained on: Ising configurations (``ising``, an HDF5 file) or images
(``photos``, ``cifar10``; :mod:`isingsr.images.train`). Everything else --
the loop below, checkpoints, resume, logging, DDP -- is shared.

AdamW with linear warm-up, EMA weights, gradient clipping, bf16 autocast on
CUDA, augmentation by the exact symmetries of the data (lattice symmetries; mirror images), periodic self-describing
checkpoints and an exact resume (N steps + resume + N steps gives the same
weights as 2N steps on CPU). Multi-GPU data parallel through ``torchrun``
(PyTorch DDP; ``gloo`` on CPU).

Run folder: ``config.json`` (resolved options), ``log.txt`` (progress lines),
``loss.csv`` (step, loss), ``checkpoint.pt`` (latest, resumable) and, at the
end, ``loss.png``.
"""

from __future__ import annotations

import copy
import json
import math
import operator
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .baselines.cnn import cnn_setup
from .baselines.sr3 import sr3_setup
from .defaults import LR_SCHEDULES
from .device import resolve_device
from .diffusion.data import SymmetricBatches
from .diffusion.process import TARGETS
from .diffusion.train import skild_setup
from .diffusion.unet import UNetConfig
from .exceptions import InputError, TrainingDiverged
from .images.train import DATASETS as IMAGE_DATASETS, IMAGE_BASIS, image_skild_setup, image_sr3_setup, load_image_data
from .io.checkpoint import load_checkpoint, save_checkpoint
from .io.hdf5 import load_ensemble
from .io.paths import check_output, portable_path

__all__ = ["LR_SCHEDULES", "METHODS", "TrainConfig", "train"]

#: Trainable methods (``isingsr train --method``).
METHODS = ("skild", "sr3", "cnn")
#: Training sets (``isingsr train --dataset``): Ising configurations in HDF5, or images.
DATASETS = ("ising", *IMAGE_DATASETS)


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run (stored in ``config.json`` and in every checkpoint)."""

    data: str
    out: str
    preset: str = "small"
    steps: int = 20000
    batch: int = 64
    lr: float = 2e-4
    warmup: int = 500
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    ema: float = 0.999
    grad_clip: float = 1.0
    basis: str = "fourier"
    target: str = "eps"
    seed: int = 0
    ckpt_every: int = 1000
    log_every: int = 50
    device: str = "auto"
    max_samples: int | None = None
    max_minutes: float | None = None
    method: str = "skild"
    scale: float | None = None
    dataset: str = "ising"
    patch: int = 32
    init_from: str | None = None

    def check(self) -> "TrainConfig":
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.dataset not in DATASETS:
            raise InputError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.dataset != "ising" and self.method == "cnn":
            raise InputError("--method cnn is an Ising baseline; images train skild or sr3")
        if self.dataset != "ising" and self.basis != IMAGE_BASIS:
            raise InputError(f"images use the {IMAGE_BASIS} basis (mirror boundaries), not {self.basis!r}")
        if self.method == "skild" and self.scale is not None:
            raise InputError("SKILD is one network for every scale: --scale applies to --method sr3 or cnn only")
        if self.method != "skild" and (self.scale is None or not self.scale > 1):
            raise InputError(f"--method {self.method} is trained per scale factor: pass --scale S > 1")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"--minutes must be positive, got {self.max_minutes}")
        if self.steps < 1 or self.batch < 1 or self.ckpt_every < 1 or self.log_every < 1:
            raise InputError("steps, batch, ckpt_every and log_every must be >= 1")
        if not (self.lr > 0 and 0 <= self.ema < 1 and self.grad_clip > 0 and self.warmup >= 0):
            raise InputError("need lr > 0, 0 <= ema < 1, grad_clip > 0, warmup >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"unknown learning-rate schedule {self.lr_schedule!r}; choose one of "
                             f"{', '.join(LR_SCHEDULES)}")
        if self.target not in TARGETS:
            raise InputError(f"unknown target {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.init_from is not None and not Path(self.init_from).is_file():
            raise InputError(f"--init-from {self.init_from}: no such checkpoint")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"device must be auto, cpu or cuda, got {self.device!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _dist():
    """(rank, world size), initialising torch.distributed under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


_SETUPS = {"skild": skild_setup, "sr3": sr3_setup, "cnn": cnn_setup,
           "images-skild": image_skild_setup, "images-sr3": image_sr3_setup}


def _training_data(cfg: TrainConfig):
    """The run's data: what the method's set-up reads (the Ising ensemble or the image patches), a
    ``make_batches(batch, seed)`` of endless augmented batches, and the checkpoint's description of the data."""
    if cfg.dataset == "ising":
        ens = load_ensemble(cfg.data, max_samples=cfg.max_samples)
        return (ens, lambda batch, seed: SymmetricBatches(ens.spins, batch, seed=seed),
                {"path": portable_path(cfg.data), "n": ens.n, "L": ens.L, "beta": ens.beta,
                 "seed": ens.attrs.get("seed"), "algorithm": ens.attrs.get("algorithm")})
    data = load_image_data(cfg.dataset, cfg.data, cfg.patch, seed=cfg.seed, max_samples=cfg.max_samples)
    return data, data.batches, {**data.describe(), "dataset": cfg.dataset}
#: Options a resume may change: the cures for a diverged run (the continuation is then no longer the
#: uninterrupted run's, and the checkpoint records the new values).
_RETUNABLE = ("lr", "grad_clip")


def _lr(cfg: TrainConfig, step: int) -> float:
    """The learning rate of (0-based) ``step``: linear warm-up over ``warmup`` steps, then ``lr`` (constant) or
    ``lr`` times a half cosine that reaches zero at ``steps``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_schedule == "cosine":
        done = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
    return cfg.lr


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """One multi-tensor operator for all parameters (a per-tensor loop costs a launch each on a GPU)."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def _initial_weights(cfg: TrainConfig, meta: dict) -> tuple[dict, dict]:
    """The (EMA) weights of ``cfg.init_from`` to start from, and their provenance: fine-tuning, e.g. an
    L = 32 model continued on L = 64 data (the network is fully convolutional; process, spectrum and
    pass-band statistics are the new data's). The checkpoint must be the same kind of model with the
    same architecture, basis, schedule and target."""
    src = load_checkpoint(cfg.init_from)
    kind = meta.get("kind", "skild")

    def arch(m):  # older checkpoints store fewer UNetConfig fields (their defaults)
        return UNetConfig.from_dict(m["unet"]) if "unet" in m else m.get("cnn")
    if src.get("kind", "skild") != kind or arch(src) != arch(meta):
        raise InputError(f"--init-from {cfg.init_from}: a {src.get('kind', 'skild')} model with another "
                         f"architecture; it must be a {kind} model of the same preset")

    def process(m):  # the process without what scales with the lattice size
        return {k: v for k, v in (m.get("process") or {}).items() if k not in ("L", "l_max")}
    if process(src) != process(meta) or src["config"].get("target") != cfg.target:
        raise InputError(f"--init-from {cfg.init_from}: trained with another process (basis, schedule) or target")
    return src["ema"], {"path": portable_path(cfg.init_from), "step": int(src["step"]),
                        "L": int(src["process"]["L"]) if "process" in src else None}


def _check_run_dir(cfg: TrainConfig, resume: bool) -> Path:
    """The run folder, checked (created later, once everything else is known to be good)."""
    out = check_output(cfg.out, directory=True)
    if resume:
        if not (out / "checkpoint.pt").exists():
            raise InputError(f"{out}: no checkpoint.pt to resume from")
    elif (out / "checkpoint.pt").exists():
        raise InputError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    return out


def train(cfg: TrainConfig, resume: bool = False, progress=None, log=print) -> Path:
    """Train (or resume) a SKILD model; returns the path of the final checkpoint.

    Parameters
    ----------
    cfg : TrainConfig
    resume : bool
        Continue ``cfg.out/checkpoint.pt`` up to ``cfg.steps`` (which may be
        larger than the original run's).
    progress : callable, optional
        ``progress(step, total, loss)`` after each step (rank 0 only); ``loss`` is the running mean as of the
        last read-back of the losses (every ``log_every`` steps and before every checkpoint; None before
        the first).
    log : callable
        One-line messages (rank 0 only).
    """
    cfg.check()
    rank, world = _dist()
    if rank != 0:
        log = lambda s: None  # noqa: E731
        progress = None
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    ens, make_batches, described_data = _training_data(cfg)  # before the run folder: bad data leave nothing
    out = _check_run_dir(cfg, resume) if rank == 0 else Path(cfg.out)
    ck = load_checkpoint(out / "checkpoint.pt") if resume else None
    if ck is not None and ck.get("slim"):
        raise InputError(f"{out / 'checkpoint.pt'} is a slim release checkpoint and cannot be resumed")
    if ck is not None:
        old = TrainConfig.from_dict(ck["config"])
        same = {"data": lambda a, b: a == b or Path(a).resolve() == Path(b).resolve()}
        changed = [f.name for f in fields(cfg)
                   if f.name not in ("steps", "out", "device", "ckpt_every", "log_every", "max_minutes", "init_from",
                                     *_RETUNABLE)
                   and not same.get(f.name, operator.eq)(getattr(old, f.name), getattr(cfg, f.name))]
        if changed:
            raise InputError(f"--resume with different {', '.join(changed)} than the stored run")
        for name in _RETUNABLE:
            if getattr(old, name) != getattr(cfg, name):
                log(f"resuming with {name} {getattr(cfg, name):g} (was {getattr(old, name):g})")

    L = ens.L
    torch.manual_seed(cfg.seed)
    setup = _SETUPS[cfg.method if cfg.dataset == "ising" else f"images-{cfg.method}"](cfg, ens, device, ck, log)
    init = _initial_weights(cfg, setup.meta) if ck is None and cfg.init_from is not None else None
    if init is not None or (ck is not None and "init_from" in ck):
        setup.meta["init_from"] = init[1] if init is not None else ck["init_from"]  # kept across resumes
    if rank == 0:
        out.mkdir(exist_ok=True)
    net = setup.net
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    # multi-tensor AdamW: CUDA's default; on a CPU the default is a loop of ~10 operators per tensor, same result
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    batches = make_batches(max(1, cfg.batch // world), cfg.seed + 1000 * rank)
    gen = torch.Generator().manual_seed(cfg.seed + 1 + 1000 * rank)  # times, noise, tie-breaking
    step = 0
    if ck is not None:
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        for group in opt.param_groups:  # a stored group may name another implementation (same result)
            group["foreach"] = True
        step = int(ck["step"])
        states = ck["rng"].get("ranks", [ck["rng"]])
        if len(states) != world:
            raise InputError(f"--resume: the run was trained with {len(states)} process(es), this is {world}; "
                             "resume with the same number for an exact continuation")
        batches.load_state_dict(states[rank]["batches"])
        gen.set_state(states[rank]["noise"])
        torch.set_rng_state(states[rank]["torch"])
        log(f"resuming {out} at step {step}")
    elif init is not None:
        net.load_state_dict(init[0])
        ema.load_state_dict(init[0])
        log(f"starting from the weights of {init[1]['path']} (step {init[1]['step']}, L = {init[1]['L']})")
    model = net
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    meta = {"config": asdict(cfg), **setup.meta, "data": described_data}
    if rank == 0 and ck is None:
        described = {k: setup.meta[k] for k in ("kind", "unet", "cnn", "process", "schedule") if k in setup.meta}
        (out / "config.json").write_text(json.dumps({**asdict(cfg), **described, "world_size": world}, indent=2))
        log(f"{setup.describe}, {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters, L = {L}, "
            f"device {device}, world size {world}")

    def checkpoint():
        """Collective under DDP: every rank's generator states are gathered, so a resume is exact."""
        rng = {"batches": batches.state_dict(), "noise": gen.get_state(), "torch": torch.get_rng_state()}
        if world > 1:
            ranks = [None] * world
            torch.distributed.all_gather_object(ranks, rng)
            rng = {**ranks[0], "ranks": ranks}
        if rank == 0:
            payload = {**meta, "model": net.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                       "step": step, "rng": rng}
            save_checkpoint(out / "checkpoint.pt", payload)

    if rank == 0 and ck is not None and (out / "loss.csv").exists():  # drop rows past the checkpoint
        rows = (out / "loss.csv").read_text().splitlines()
        (out / "loss.csv").write_text("\n".join(r for r in rows if not r[:1].isdigit() or int(r.split(",")[0]) <= step)
                                      + "\n")
    logf = open(out / "log.txt", "a") if rank == 0 else None
    lossf = open(out / "loss.csv", "a") if rank == 0 else None
    if lossf is not None and lossf.tell() == 0:
        lossf.write("step,loss\n")
    t0, seen, running = time.perf_counter(), 0, None
    saved_step = step if ck is not None else None
    deadline = None if cfg.max_minutes is None else t0 + 60 * cfg.max_minutes
    t_last, seen_last = t0, 0  # img/s over the last logging interval (excludes warm-up)
    pending = []  # (step, loss on the device) not yet read back: one host sync per logging interval, not per step

    def read_back():
        """The pending losses to the host: checked (collective under DDP) and written to loss.csv."""
        nonlocal running
        if not pending:
            return
        values = torch.stack([v for _, v in pending]).cpu().tolist()
        bad = next(((s, v) for (s, _), v in zip(pending, values) if not math.isfinite(v)), None)
        if not _finite_on_every_rank(0.0 if bad is None else bad[1], world, device):
            # the weights after a bad loss are never saved: every checkpoint is written after a read-back
            s, v = bad if bad is not None else (pending[0][0], values[0])
            raise TrainingDiverged(_diverged_message(cfg, out, s, v, saved_step))
        for (s, _), v in zip(pending, values):
            running = v if running is None else 0.98 * running + 0.02 * v
            if lossf is not None:
                lossf.write(f"{s},{v:.6g}\n")
        pending.clear()

    net.train()
    try:
        while step < cfg.steps:
            x0 = next(batches).to(device)
            B = x0.shape[0]
            for group in opt.param_groups:
                group["lr"] = _lr(cfg, step)
            loss = setup.loss(model, x0, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip, foreach=True)
            opt.step()
            step += 1
            pending.append((step, loss.detach().float()))
            _ema_update(ema, net, min(cfg.ema, (1 + step) / (10 + step)))
            seen += B * world
            last = step == cfg.steps or _out_of_time(deadline, world, device)
            if step % cfg.log_every == 0 or step % cfg.ckpt_every == 0 or last:
                read_back()
            if rank == 0:
                if step % cfg.log_every == 0 or last:
                    now = time.perf_counter()
                    rate = (seen - seen_last) / (now - t_last)
                    t_last, seen_last = now, seen
                    logf.write(f"step {step} loss {running:.5f} lr {_lr(cfg, step - 1):.3g} img/s {rate:.1f} "
                               f"elapsed {now - t0:.0f}s\n")
                    logf.flush()
                    lossf.flush()
                if progress:
                    progress(step, cfg.steps, running)
            if step % cfg.ckpt_every == 0 or last:
                checkpoint()
                saved_step = step
            if last:
                break
    finally:
        if logf:
            logf.close()
            lossf.close()
    if rank == 0:
        _plot_loss(out)
        log(f"trained {step} steps; {seen / (time.perf_counter() - t0):.1f} img/s; checkpoint {out / 'checkpoint.pt'}")
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return out / "checkpoint.pt"


def _finite_on_every_rank(value: float, world: int, device) -> bool:
    """Whether the loss is finite on every rank (collective under DDP, so all ranks stop together)."""
    if world == 1:
        return math.isfinite(value)
    bad = torch.tensor([0.0 if math.isfinite(value) else 1.0], device=device)
    torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MAX)
    return not bool(bad.item())


def _diverged_message(cfg: TrainConfig, out: Path, step: int, value: float, saved_step: int | None) -> str:
    lower = f"--lr {cfg.lr / 4:g}"
    if saved_step is None:
        return (f"training diverged: the loss is {value} at step {step}, before the first checkpoint "
                f"(--ckpt-every {cfg.ckpt_every}); start again with a lower learning rate ({lower})")
    return (f"training diverged: the loss is {value} at step {step}; {out / 'checkpoint.pt'} holds the last good "
            f"state (step {saved_step}); continue it with the same command plus --resume {lower}")


def _out_of_time(deadline: float | None, world: int, device) -> bool:
    """Whether the time budget is spent; under DDP every rank gets the same answer (collective)."""
    if deadline is None:
        return False
    over = time.perf_counter() > deadline
    if world > 1:
        flag = torch.tensor([float(over)], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        over = bool(flag.item())
    return over


def _plot_loss(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    d = np.loadtxt(out / "loss.csv", delimiter=",", skiprows=1, ndmin=2)
    if len(d) == 0:
        return
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.plot(d[:, 0], d[:, 1], lw=0.3, alpha=0.4, color="C0")
    w = max(1, len(d) // 100)
    if len(d) >= w:
        smooth = np.convolve(d[:, 1], np.ones(w) / w, mode="valid")
        ax.plot(d[w - 1:, 0], smooth, color="C0", label=f"running mean ({w} steps)")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)
