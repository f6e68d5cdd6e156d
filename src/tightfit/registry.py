"""`Registry`: every technique a search can try, registered once under an id in the layer that owns it.

Training techniques live in ``tightfit.train.techniques.TECHNIQUES``, compression variants in
``tightfit.compress.TECHNIQUES``, tabular candidates in ``tightfit.tabular.CANDIDATES`` and forecasting models
in ``tightfit.timeseries.MODELS``. Each entry says which budget limits it relaxes, so
:func:`tightfit.search.triage` can name real ids when a limit binds. An unknown id is a
:class:`~tightfit.errors.ConfigError` with the closest known one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tightfit.errors import unknown_key

__all__ = ["LIMITS", "Registry", "Technique"]

LIMITS = ("memory", "ram", "time", "latency", "size", "labels", "data")
T = TypeVar("T")


@dataclass(frozen=True)
class Technique(Generic[T]):
    """A registered technique: its ``id``, what it is (``obj``: a class, a builder or a spec), the limits it
    relaxes (in the order a search should reach for it: lower ``rank`` first) and a one-line summary."""

    id: str
    obj: T = field(repr=False)
    relaxes: tuple[str, ...] = ()
    summary: str = ""
    rank: int = 100


class Registry(Generic[T]):
    """Ids to techniques of one kind (``"training technique"``, ``"compress technique"``, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Technique[T]] = {}

    def register(self, id: str, obj: T, relaxes: tuple[str, ...] = (), summary: str = "", rank: int = 100) -> T:
        """Add ``obj`` under ``id``; returns ``obj`` so a module can register and keep its name in one line."""
        unknown = set(relaxes) - set(LIMITS)
        if unknown:
            raise ValueError(f"{self.kind} {id!r} relaxes unknown limits {sorted(unknown)}; known: {LIMITS}")
        if id in self._items:
            raise ValueError(f"{self.kind} {id!r} is registered twice")
        self._items[id] = Technique(id, obj, tuple(relaxes), summary, rank)
        return obj

    def __getitem__(self, id: str) -> T:
        return self.technique(id).obj

    def technique(self, id: str) -> Technique[T]:
        """The registered entry; an unknown id raises ``ConfigError`` with the closest id."""
        if id not in self._items:
            raise unknown_key(id, f"the {self.kind}s", self._items)
        return self._items[id]

    def __contains__(self, id: object) -> bool:
        return id in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        return list(self._items)

    def relaxing(self, limit: str) -> list[str]:
        """The ids that relax ``limit``, in the order to try them."""
        found = [t for t in self._items.values() if limit in t.relaxes]
        return [t.id for t in sorted(found, key=lambda t: t.rank)]

    def describe(self) -> dict[str, Any]:
        return {t.id: {"relaxes": list(t.relaxes), "summary": t.summary} for t in self._items.values()}
