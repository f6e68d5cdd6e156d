"""Exceptions raised by tightfit, and the one helper that formats a bad-parameter message.

Every exception subclasses :class:`TightfitError` *and* the builtin it stands in for, so
``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "BudgetExceeded",
    "ChildProcessFailed",
    "ConfigError",
    "DataError",
    "SearchFailed",
    "TechniqueNotApplicable",
    "TightfitError",
    "TrainingDiverged",
    "bad_param",
    "is_out_of_memory",
    "unknown_key",
]


class TightfitError(Exception):
    """Base class of every error tightfit raises on purpose."""


class ConfigError(TightfitError, ValueError):
    """A parameter, budget or config value is not allowed."""


class DataError(TightfitError, ValueError):
    """The data handed to tightfit cannot be used (wrong shape, missing columns, NaNs where none are allowed)."""


class SearchFailed(TightfitError, RuntimeError):
    """Every candidate of a search failed (no limit was the cause); the message lists each one's error."""


class TechniqueNotApplicable(TightfitError, ValueError):
    """A technique cannot apply to this model or machine (no prunable layer pair, fp16 without CUDA); a search
    records it as that entry's ``failed`` reason."""


class ChildProcessFailed(TightfitError, RuntimeError):
    """A guarded child process died or raised an exception that could not be sent back as itself.

    ``child_traceback`` holds the traceback text printed in the child, when there was one.
    """

    def __init__(self, message: str, child_traceback: str = "") -> None:
        super().__init__(message)
        self.child_traceback = child_traceback


class TrainingDiverged(TightfitError, ArithmeticError):
    """Training produced non-finite losses for too many consecutive steps, even after lowering the LR."""


class BudgetExceeded(TightfitError, RuntimeError):
    """A stated limit was hit: ``kind`` is ``"memory"``, ``"time"``, ``"latency"`` or ``"size"`` (bytes or seconds
    in ``limit``/``observed``), or ``"labels"`` (labelled rows).

    ``observed`` may be ``None`` when the amount could not be measured (for example a process killed
    by the kernel). ``hint`` says what to try next.
    """

    def __init__(self, kind: str, limit: float, observed: float | None, detail: str = "", hint: str = "") -> None:
        from tightfit.units import format_bytes, format_seconds

        if kind == "labels":  # a count of rows, spent rather than exceeded
            message = f"labels budget spent: {observed} labelled rows of labels={limit}"
        else:
            fmt = format_bytes if kind in ("memory", "ram", "size") else format_seconds
            seen = "an unknown amount" if observed is None else fmt(observed)
            message = f"{kind} budget exceeded: {seen} > limit {fmt(limit)}"
        if detail:
            message += f" ({detail})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
        self.kind = kind
        self.limit = limit
        self.observed = observed
        self.detail = detail
        self.hint = hint

    def __reduce__(self):  # keep the fields when the exception crosses a process boundary
        return (type(self), (self.kind, self.limit, self.observed, self.detail, self.hint))


def _show(value: Any) -> str:
    return repr(value)


def bad_param(param: str, owner: str, allowed: str | Iterable[Any], got: Any) -> ConfigError:
    """Build the one message template for a bad parameter (scikit-learn's wording).

    ``allowed`` is either a sentence fragment ("a positive number of bytes such as '512MB'") or an
    iterable of allowed values, which are printed sorted so that messages are stable.

    Examples
    --------
    >>> str(bad_param("precision", "TrainConfig", ["fp32", "bf16", "fp16"], "fp8"))
    "The 'precision' parameter of TrainConfig must be one of 'bf16', 'fp16', 'fp32'. Got 'fp8' instead."
    """
    if isinstance(allowed, str):
        what = allowed
    else:
        values = sorted(allowed, key=lambda v: (str(type(v)), str(v)))
        what = "one of " + ", ".join(_show(v) for v in values)
    return ConfigError(f"The {param!r} parameter of {owner} must be {what}. Got {_show(got)} instead.")


def unknown_key(key: str, owner: str, allowed: Iterable[str]) -> ConfigError:
    """A key that ``owner`` does not know, with the closest allowed one ("did you mean") and the full list.

    Examples
    --------
    >>> str(unknown_key("learning_rat", "tuning_params", ["learning_rate", "epochs"]))
    "Unknown key 'learning_rat' in tuning_params; did you mean 'learning_rate'? Allowed: 'epochs', 'learning_rate'."
    """
    import difflib

    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return ConfigError(f"Unknown key {key!r} in {owner}{hint} Allowed: {', '.join(map(repr, allowed))}.")


_OUT_OF_MEMORY_TEXT = ("out of memory", "can't allocate memory", "Cannot allocate memory", "std::bad_alloc")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure: ``MemoryError``, ``torch.OutOfMemoryError`` (CUDA) or a CPU allocator error.

    Examples
    --------
    >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"))
    True
    >>> is_out_of_memory(RuntimeError("shape mismatch"))
    False
    """
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _OUT_OF_MEMORY_TEXT)
