"""Declarative parameter checks: state what a parameter may be once, get scikit-learn's error wording for free.

In the spirit of scikit-learn's ``_param_validation``: a constraint is a small object that says whether it
accepts a value and how it reads in a sentence. ``check(owner, name=(value, constraint, ...))`` raises the
one :func:`~tightfit.errors.bad_param` message naming the parameter, the value and every accepted form.

    check("Forecaster", n_windows=(n_windows, Interval(int, 1)), budget=(budget, None, Budget))
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tightfit.errors import bad_param

__all__ = ["DEVICE_FORMS", "Interval", "Options", "check", "check_device"]

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
DEVICE_FORMS = "one of 'auto', 'cpu', 'cuda' or 'cuda:N'"


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``int``: integers only; ``float``: any real number) between ``low`` and ``high``.

    Booleans are never numbers here, and NaN/infinity are refused unless ``high`` is None and ``low`` allows.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # which ends are included: "both", "left", "right", "neither"
    what: str = ""  # how the accepted values read in a message, when plainer than the interval

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if self.kind is float and (not isinstance(value, numbers.Real) or math.isnan(value)):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        return self.high is None or not (
            value > self.high or (value == self.high and self.closed in ("left", "neither"))
        )

    def __str__(self) -> str:
        if self.what:
            return self.what
        noun = "an int" if self.kind is int else "a number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{noun} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{noun} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if right else '<'} {self.high}"
        return noun


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``, so ``"cpu"`` but not ``True`` for ``1``)."""

    values: tuple

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in sorted(self.values, key=str))


def _accepts(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (constraint in (int, float) and isinstance(value, bool))
    if callable(getattr(constraint, "accepts", None)):
        return constraint.accepts(value)
    raise TypeError(f"not a constraint: {constraint!r}")  # a programming error in tightfit itself


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if constraint is bool:
        return "True or False"
    if isinstance(constraint, type):
        return f"a {constraint.__name__}"
    return str(constraint)


def check(owner: str, **params: tuple) -> None:
    """Check each ``name=(value, *constraints)``: the value must meet at least one constraint.

    A constraint is ``None`` (the value None), a type (``isinstance``; ``bool`` is never an ``int`` here), an
    :class:`Interval` or :class:`Options`, or any object with ``accepts(value)`` and a readable ``str``.

    Examples
    --------
    >>> check("Forecaster", n_windows=(3, Interval(int, 1)))
    >>> check("Forecaster", n_windows=(0, Interval(int, 1)))
    Traceback (most recent call last):
    ...
    tightfit.errors.ConfigError: The 'n_windows' parameter of Forecaster must be an int >= 1. Got 0 instead.
    """
    for name, (value, *constraints) in params.items():
        if not any(_accepts(c, value) for c in constraints):
            shown = type(value).__name__ if _shown_by_type(constraints) else value
            raise bad_param(name, owner, " or ".join(_describe(c) for c in constraints), shown)


def _shown_by_type(constraints: Iterable[Any]) -> bool:
    """Objects (a model, a Budget) are named by their type; plain values by themselves."""
    return all(c is None or (isinstance(c, type) and c not in (int, float, str, bool)) for c in constraints)


def check_device(device: Any, owner: str, allow_auto: bool = True) -> str:
    """The one rule for a device string: ``"auto"`` (where allowed), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Examples
    --------
    >>> check_device("cuda:1", "Budget")
    'cuda:1'
    """
    ok = isinstance(device, str) and (bool(_DEVICE.match(device)) or (allow_auto and device == "auto"))
    if not ok:
        forms = DEVICE_FORMS if allow_auto else "one of 'cpu', 'cuda' or 'cuda:N'"
        raise bad_param("device", owner, forms, device)
    return device
