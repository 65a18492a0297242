"""Which torch device a command runs on, in which precision, the CPU allocator setting that keeps
inference fast, and how batches of independent samples share a CPU's cores."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable

import torch

from .defaults import PRECISIONS
from .exceptions import InputError

__all__ = ["resolve_device", "keep_freed_memory", "use_bf16", "precision_name", "bf16_autocast", "in_batches"]

#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks below it come from the heap, not fresh mmap pages
TRIM_THRESHOLD = 2**30  # free heap kept before returning memory to the system
_tuned: bool | None = None
#: Batches :func:`in_batches` runs at once on a CPU: None, one per torch thread; 1, one batch at a time over all of
#: torch's threads (e.g. to measure the difference, ``experiments/bench_sampling.py --threads``).
BATCH_WORKERS: int | None = None


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed network activations instead of returning them to the system.

    By default glibc serves blocks of a few MB (a U-Net's activations for a
    batch) with fresh ``mmap`` pages and unmaps them when freed, so every
    network evaluation pays page faults in the kernel: a 4x super-resolution
    of 256 configurations at L = 32 took 62 s wall, 29 s of it system time,
    and 43 s with this setting (0.4 s system time; the result is bit-identical).
    Sets ``M_MMAP_THRESHOLD`` to 32 MB and ``M_TRIM_THRESHOLD`` to 1 GB once per
    process. Returns whether it applies (False without glibc, e.g. macOS).
    """
    global _tuned
    if _tuned is None:
        _tuned = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _tuned


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; a clear error if cuda is asked for and absent.

    On a CPU also applies :func:`keep_freed_memory`.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (install a CUDA build of torch)")
    device = torch.device(name)
    if device.type == "cpu":
        keep_freed_memory()
    return device


def use_bf16(precision: str) -> bool:
    """Whether a sampling network runs under bf16 autocast: ``precision`` one of :data:`PRECISIONS`.

    float32 is the default on every device. bf16 made 4x sampling at L = 128 1.5 times as fast on a CPU
    with AVX512-BF16 (other CPUs not measured), and biases the output: at 4x, L = 128, the same inputs and
    seeds come out with energy +0.0011 per site (20 sigma paired) and G4c moved by up to 0.0016
    (docs/sampling.md#precision). Training keeps bf16 autocast on CUDA.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision == "bf16"


def precision_name(bf16: bool) -> str:
    """The :data:`PRECISIONS` entry an output records (HDF5 attribute ``precision``)."""
    return "bf16" if bf16 else "float32"


def bf16_autocast(enabled: bool, device_type: str):
    """``torch.autocast(device_type, bfloat16)`` when ``enabled``, else a context that does nothing."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def in_batches(n: int, batch: int, fill: Callable[[int, int], None], device=None,
               progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> None:
    """Calls ``fill(a, b)`` for the consecutive batches ``[a, b)`` of ``n`` independent samples.

    On a CPU with T torch threads, T batches run at once, each in its own Python thread with one intra-op
    thread (torch releases the GIL inside its kernels), instead of one batch at a time spread over the T
    threads: the small convolutions of a sampling network do not keep T threads busy. On 2 cores a 4x
    super-resolution ran 1.09-1.25 times as fast at L = 32 and L = 128, and the network's output does not
    depend on the thread count, bit for bit (``experiments/bench_sampling.py --threads``,
    docs/sampling.md#speed). So
    ``fill`` must only write its own samples (``out[a:b] = ...``) and seed them by index. On other
    devices, or with ``workers=1`` (default :data:`BATCH_WORKERS`), the batches run one after the other.
    ``progress(done, n)`` is called from the calling thread after each batch; torch's thread count is
    restored afterwards.
    """
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    spans = [(a, min(n, a + batch)) for a in range(0, n, batch)]
    threads = torch.get_num_threads()
    cpu = device is None or torch.device(device).type == "cpu"
    workers = BATCH_WORKERS if workers is None else workers
    workers = min(threads if workers is None else int(workers), len(spans)) if cpu else 1
    if workers <= 1:
        for a, b in spans:
            fill(a, b)
            if progress:
                progress(b, n)
        return
    done = 0
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="isingsr-batch") as pool:
            futures = {pool.submit(fill, a, b): b - a for a, b in spans}
            try:
                for f in as_completed(futures):
                    f.result()
                    done += futures[f]
                    if progress:
                        progress(done, n)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        torch.set_num_threads(threads)
