"""Device choice and the CPU allocator setting of inference."""

import ctypes
import ctypes.util
import platform

import pytest
import torch

from isingsr.defaults import PRECISION
from isingsr.device import MMAP_THRESHOLD, bf16_autocast, keep_freed_memory, resolve_device, use_bf16
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
