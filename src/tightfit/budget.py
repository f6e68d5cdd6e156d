"""`Budget`: the limits a user states — memory, RAM, wall time, latency, artefact size, labels — and the device.

A budget is immutable and validated where it is typed: ``Budget(memory="4 parsecs")`` raises a
:class:`~tightfit.errors.ConfigError` at once. Every field is optional; ``Budget()`` states no limit.
Numbers are bytes or seconds; strings take human units (``"512MB"``, ``"4GiB"``, ``"90s"``, ``"20ms"``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tightfit.errors import ConfigError, bad_param
from tightfit.params import check_device
from tightfit.units import (
    BYTE_FORMS,
    TIME_FORMS,
    UnitError,
    format_bytes,
    format_seconds,
    parse_bytes,
    parse_seconds,
)

__all__ = ["Budget"]

_UNLIMITED = "unlimited"


@dataclass(frozen=True)
class Budget:
    """Limits for one job. ``None`` means "no limit stated".

    Parameters
    ----------
    memory : int or str, default=None
        Peak memory of training: accelerator memory on a GPU, process memory (RSS) on the CPU.
    ram : int or str, default=None
        Peak host RAM of the whole process (data loading included), in bytes.
    time : float or str, default=None
        Wall time of a fit, in seconds.
    latency : float or str, default=None
        95th-percentile latency of one inference batch, in seconds.
    size : int or str, default=None
        Size of the saved artefact on disk, in bytes.
    labels : int or str, default=None
        Labelled rows the user can afford in all (active learning stops suggesting rows at this many).
    device : str, default="auto"
        ``"auto"`` (CUDA when torch sees it, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Examples
    --------
    >>> b = Budget(memory="2GiB", time="5min")
    >>> b.memory, b.time
    (2147483648, 300.0)
    >>> str(b)
    'memory=2GiB,time=5min'
    >>> Budget.parse(str(b)) == b
    True
    """

    memory: int | None = None  # bytes
    ram: int | None = None  # bytes
    time: float | None = None  # seconds
    latency: float | None = None  # seconds, p95 of one batch
    size: int | None = None  # bytes on disk
    labels: int | None = None  # labelled rows in all
    device: str = field(default="auto")

    _BYTE_FIELDS: ClassVar[tuple[str, ...]] = ("memory", "ram", "size")
    _TIME_FIELDS: ClassVar[tuple[str, ...]] = ("time", "latency")

    def __post_init__(self) -> None:
        for name in self._BYTE_FIELDS + self._TIME_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            parse, forms = (parse_bytes, BYTE_FORMS) if name in self._BYTE_FIELDS else (parse_seconds, TIME_FORMS)
            try:
                object.__setattr__(self, name, parse(value))
            except UnitError:
                raise bad_param(name, "Budget", forms, value) from None
        if self.labels is not None:
            labels = self.labels
            if isinstance(labels, str) and labels.strip().isdigit():
                labels = int(labels.strip())
            if isinstance(labels, bool) or not isinstance(labels, int) or labels < 1:
                raise bad_param("labels", "Budget", "a whole number of rows, at least 1 (such as 100)", self.labels)
            object.__setattr__(self, "labels", labels)
        check_device(self.device, "Budget")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Read ``"memory=2GB,time=5min,device=cpu"`` (the CLI form); ``""`` or ``"unlimited"`` is ``Budget()``.

        Examples
        --------
        >>> Budget.parse("memory=512MB, latency=20ms")
        Budget(memory=512000000, latency=0.02)
        """
        if not isinstance(text, str):
            raise bad_param("text", "Budget.parse", "a string such as 'memory=2GB,time=5min'", text)
        text = text.strip()
        if text.lower() in ("", _UNLIMITED):
            return cls()
        names = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or not value.strip():
                raise ConfigError(
                    f"Budget.parse expects comma-separated key=value pairs such as 'memory=2GB,time=5min'. "
                    f"Got {item.strip()!r} in {text!r}."
                )
            if key not in names:
                raise bad_param("key", "Budget.parse", names, key)
            if key in values:
                raise ConfigError(f"Budget.parse got the key {key!r} twice in {text!r}.")
            values[key] = value.strip()
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (bytes, seconds) for ``run.json``; ``Budget(**d)`` reads it back."""
        return dataclasses.asdict(self)

    @property
    def is_unlimited(self) -> bool:
        """True when no limit is stated (the device may still be pinned)."""
        return all(getattr(self, n) is None for n in (*self._BYTE_FIELDS, *self._TIME_FIELDS, "labels"))

    def beyond(self, hardware: Any) -> list[str]:
        """Warnings for limits this machine cannot reach: a memory budget above the RAM (or, on CUDA, above the
        device's memory) can never bind, so it protects nothing.

        Examples
        --------
        >>> from tightfit import Hardware
        >>> Budget(memory="1000000TB").beyond(Hardware.probe())[0].startswith("memory=1000000TB is above")
        True
        """
        notes = []
        ram = hardware.cgroup_memory_limit_bytes or hardware.ram_total_bytes
        on_cuda = self.device.startswith("cuda") or (self.device == "auto" and hardware.has_cuda)
        if self.memory is not None:
            if on_cuda and hardware.cuda:
                index = int(self.device.partition(":")[2] or 0) if self.device.startswith("cuda") else 0
                device = hardware.cuda[min(index, len(hardware.cuda) - 1)]
                if self.memory > device.total_bytes:
                    notes.append(f"memory={format_bytes(self.memory, exact=True)} is above {device.name}'s "
                                 f"{format_bytes(device.total_bytes)}: it cannot bind")  # fmt: skip
            elif self.memory > ram:
                notes.append(f"memory={format_bytes(self.memory, exact=True)} is above this machine's "
                             f"{format_bytes(ram)} of RAM: it cannot bind")  # fmt: skip
        if self.ram is not None and self.ram > ram:
            notes.append(f"ram={format_bytes(self.ram, exact=True)} is above this machine's {format_bytes(ram)}: "
                         "it cannot bind")  # fmt: skip
        return notes

    def resolve_device(self) -> str:
        """The concrete torch device: ``"auto"`` becomes ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

        Asking for CUDA on a machine without it raises ``ConfigError`` rather than failing later.
        """
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ConfigError(
                    f"The 'device' parameter of Budget is {self.device!r}, but torch sees no CUDA device "
                    f"(torch {torch.__version__}). Use device='cpu' or 'auto'."
                )
            index = int(self.device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise ConfigError(
                    f"The 'device' parameter of Budget is {self.device!r}, but torch sees "
                    f"{torch.cuda.device_count()} CUDA device(s)."
                )
        return self.device

    def __str__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "device" and value == "auto"):
                continue
            if f.name in self._BYTE_FIELDS:
                value = format_bytes(value, exact=True)
            elif f.name in self._TIME_FIELDS:
                value = format_seconds(value, exact=True)
            parts.append(f"{f.name}={value}")
        return ",".join(parts) or _UNLIMITED

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        return f"Budget({', '.join(shown)})"
