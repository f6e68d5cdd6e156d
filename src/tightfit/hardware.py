"""`Hardware.probe()`: what this machine offers — cores, RAM, cgroup limit, CUDA devices, CPU int8/bf16 ISA.

The probe fills what a :class:`~tightfit.budget.Budget` leaves unsaid and is printed by ``tightfit info``.
It reads only local facts (``/proc``, ``/sys/fs/cgroup``, psutil, torch) and is cheap to call.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = ["CudaDevice", "Hardware"]

# CPU flags (as /proc/cpuinfo spells them) that decide how fast int8 and bf16 inference runs on the CPU.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
_NO_LIMIT = 1 << 60  # cgroup v1 writes a huge number for "no limit"


@dataclass(frozen=True)
class CudaDevice:
    """One CUDA device as torch sees it; memory in bytes."""

    index: int
    name: str
    total_bytes: int
    free_bytes: int
    capability: str  # compute capability, "8.6"
    bf16: bool
    fp16: bool


@dataclass(frozen=True)
class Hardware:
    """A snapshot of this machine. Use :meth:`probe`; fields are plain numbers (bytes) and strings."""

    cores_physical: int
    cores_logical: int
    cores_usable: int  # the CPU affinity mask: what this process may actually run on
    ram_total_bytes: int
    ram_available_bytes: int
    cgroup_memory_limit_bytes: int | None
    cpu_isa: dict[str, bool]
    cpu_bf16: bool  # torch runs bf16 on this CPU natively (AVX512-BF16 or AMX), not by emulation
    cuda: tuple[CudaDevice, ...] = field(default_factory=tuple)
    platform: str = ""
    python: str = ""
    torch: str = ""

    @classmethod
    def probe(cls) -> Hardware:
        """Read the machine now.

        Examples
        --------
        >>> hw = Hardware.probe()
        >>> hw.cores_logical >= hw.cores_physical >= 1 and hw.ram_total_bytes > 0
        True
        """
        import torch

        isa = _cpu_isa()
        return cls(
            cores_physical=psutil.cpu_count(logical=False) or os.cpu_count() or 1,
            cores_logical=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
            cores_usable=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
            ram_total_bytes=psutil.virtual_memory().total,
            ram_available_bytes=psutil.virtual_memory().available,
            cgroup_memory_limit_bytes=_cgroup_memory_limit(),
            cpu_isa=isa,
            cpu_bf16=isa.get("avx512_bf16", False) or isa.get("amx_bf16", False),
            cuda=tuple(_cuda_devices()),
            platform=platform.platform(),
            python=platform.python_version(),
            torch=torch.__version__,
        )

    @property
    def has_cuda(self) -> bool:
        return bool(self.cuda)

    def native_bf16(self, device: str) -> bool:
        """Whether bf16 runs natively on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) rather than by emulation
        (several times slower): a CUDA GPU of compute capability 8.0+ or a ROCm GPU, a CPU with AVX512-BF16 or AMX.
        A CUDA device that is not here (a plan for another machine's ranks) is taken to be Ampere or newer."""
        if not device.startswith("cuda"):
            return self.cpu_bf16
        index = device.partition(":")[2]
        return next((d.bf16 for d in self.cuda if d.index == int(index or 0)), True)

    @property
    def memory_limit_bytes(self) -> int:
        """The RAM this process can really use: the smaller of physical RAM and the cgroup limit."""
        limits = [self.ram_total_bytes]
        if self.cgroup_memory_limit_bytes is not None:
            limits.append(self.cgroup_memory_limit_bytes)
        return min(limits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> dict[str, Any]:
        """The short description benchmark results and model cards record: cores, RAM, torch and its thread
        count, CUDA device names and the CPU flags that are present."""
        import torch

        return {
            "cores_physical": self.cores_physical,
            "cores_logical": self.cores_logical,
            "ram_bytes": self.ram_total_bytes,
            "torch": self.torch,
            "torch_threads": torch.get_num_threads(),
            "cuda": [d.name for d in self.cuda],
            "cpu_isa": sorted(k for k, v in self.cpu_isa.items() if v),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _cpu_isa() -> dict[str, bool]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    return {name: name in flags for name in ISA_FLAGS}


def _cgroup_memory_limit() -> int | None:
    """cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; None when unlimited or unknown."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return None if value >= _NO_LIMIT else value
    return None


def _cuda_devices() -> list[CudaDevice]:
    import torch

    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        devices.append(
            CudaDevice(
                index=index,
                name=props.name,
                total_bytes=int(total),
                free_bytes=int(free),
                capability=f"{props.major}.{props.minor}",
                bf16=props.major >= 8 or bool(torch.version.hip),  # Ampere and newer (and ROCm) run bf16 natively
                fp16=props.major >= 6 or (props.major, props.minor) >= (5, 3),
            )
        )
    return devices
