"""Device choice and the CPU allocator setting of inference."""

import ctypes
import ctypes.util
import platform

import pytest
import torch

from isingsr.defaults import PRECISION
from isingsr.device import MMAP_THRESHOLD, bf16_autocast, in_batches, keep_freed_memory, resolve_device, use_bf16
from isingsr.exceptions import InputError


def test_auto_and_cpu_resolve_to_a_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_allocator_setting_applies_on_glibc_and_is_idempotent():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
    # glibc accepts the threshold: setting it again by hand succeeds as well
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    assert libc.mallopt(-3, MMAP_THRESHOLD) == 1



def test_precision_is_float32_by_default_and_bf16_only_when_asked():
    assert PRECISION == "float32" and use_bf16(PRECISION) is False and use_bf16("bf16") is True
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        use_bf16("fp8")


def test_bf16_autocast_runs_a_cpu_matmul_in_bf16_and_the_null_context_does_not():
    a = torch.randn(8, 8)
    with bf16_autocast(True, "cpu"):
        assert (a @ a).dtype == torch.bfloat16
    with bf16_autocast(False, "cpu"):
        assert (a @ a).dtype == torch.float32


@pytest.mark.parametrize("workers", [1, 3])
def test_in_batches_fills_every_span_once_and_reports_progress_up_to_n(workers):
    """Every sample is filled exactly once, progress rises to n, and torch's thread count is restored; on 3
    workers the batches run at once with one intra-op thread each."""
    import threading

    threads = torch.get_num_threads()
    seen, counts, inner, lock = [], [], set(), threading.Lock()

    def fill(a, b):
        with lock:
            seen.extend(range(a, b))
            inner.add(torch.get_num_threads())
    in_batches(10, 3, fill, "cpu", lambda done, n: counts.append((done, n)), workers=workers)
    assert sorted(seen) == list(range(10))
    assert [c[1] for c in counts] == [10] * 4 and counts[-1][0] == 10
    assert [c[0] for c in counts] == sorted(c[0] for c in counts)
    assert inner == ({threads} if workers == 1 else {1})
    assert torch.get_num_threads() == threads


def test_in_batches_passes_a_failure_on_and_rejects_a_bad_batch():
    threads = torch.get_num_threads()

    def fill(a, b):
        if a == 4:
            raise ValueError("batch 4 failed")
    with pytest.raises(ValueError, match="batch 4 failed"):
        in_batches(8, 2, fill, "cpu", workers=2)
    assert torch.get_num_threads() == threads
    with pytest.raises(InputError, match="batch must be >= 1"):
        in_batches(8, 0, fill)
