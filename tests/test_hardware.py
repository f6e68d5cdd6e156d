"""Hardware.probe reads this machine; the values must agree with independent sources."""

import os

import psutil
import torch

from tightfit import Hardware
from tightfit.hardware import ISA_FLAGS


def test_probe_matches_independent_sources():
    hw = Hardware.probe()
    assert hw.cores_logical == psutil.cpu_count(logical=True)
    assert 1 <= hw.cores_physical <= hw.cores_logical
    assert hw.cores_usable == len(os.sched_getaffinity(0))
    assert hw.ram_total_bytes == psutil.virtual_memory().total
    assert 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert set(hw.cpu_isa) == set(ISA_FLAGS)
    assert hw.has_cuda == torch.cuda.is_available() == (len(hw.cuda) > 0)
    assert hw.memory_limit_bytes <= hw.ram_total_bytes
    assert hw.torch == torch.__version__


def test_cpu_flags_agree_with_torch_kernel_choice():
    hw = Hardware.probe()
    capability = torch.backends.cpu.get_cpu_capability()
    if capability.startswith("AVX512"):
        assert hw.cpu_isa["avx512f"]
    if capability in ("AVX2", "AVX512"):
        assert hw.cpu_isa["avx2"]
