"""Device choice and the CPU allocator setting of inference."""

import ctypes
import ctypes.util
import platform

import pytest
import torch

from isingsr.device import MMAP_THRESHOLD, keep_freed_memory, resolve_device
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

