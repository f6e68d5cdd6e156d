"""Parse and print human units: bytes ("512MB", "4GiB") and durations ("90s", "10min", "20ms").

Decimal prefixes are powers of 1000 (kB, MB, GB, TB) and binary prefixes powers of 1024
(KiB, MiB, GiB, TiB), as the SI and IEC define them. Internally tightfit works in bytes (int)
and seconds (float); these helpers live at the edges only. Printing is exact: parsing what
``format_bytes``/``format_seconds`` print gives back the same number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "BYTE_FORMS",
    "MAX_BYTES",
    "MAX_SECONDS",
    "TIME_FORMS",
    "format_bytes",
    "format_seconds",
    "parse_bytes",
    "parse_seconds",
]

_BYTE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_TIME_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "sec": Fraction(1),
    "m": Fraction(60),
    "min": Fraction(60),
    "h": Fraction(3600),
    "hr": Fraction(3600),
    "d": Fraction(86400),
}
MAX_BYTES = 2**63 - 1  # the largest limit the OS takes (setrlimit's signed 64-bit range)
MAX_SECONDS = 10**9  # about 31 years: beyond any deadline a clock can keep
BYTE_FORMS = (
    "a positive number of bytes or a string such as '512MB', '1.5GB' or '4GiB' (kB/MB/GB/TB or KiB/MiB/GiB/TiB), "
    "below 2**63 bytes (what the OS can express)"
)
TIME_FORMS = (
    "a positive number of seconds or a string such as '20ms', '90s', '10min' or '2h' (ns/us/ms/s/min/h/d), "
    "at most 1e9 s"
)

_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class UnitError(ValueError):
    """A quantity string could not be read; the caller turns it into a ConfigError naming the field."""


def _split(text: str, units: dict, default_unit: str) -> Fraction:
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(text)
    number, unit = match.group(1), match.group(2).lower() or default_unit
    if unit not in units:
        raise UnitError(text)
    try:
        return Fraction(Decimal(number)) * units[unit]
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
        raise UnitError(text) from exc


def _positive(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitError(value)
    if not math.isfinite(value) or value <= 0:
        raise UnitError(value)
    return Fraction(value)


def parse_bytes(value: int | float | str) -> int:
    """Read a byte quantity; numbers are bytes. Raises ``UnitError`` for zero, negatives and unknown units.

    Examples
    --------
    >>> parse_bytes("512MiB"), parse_bytes("1.5GB"), parse_bytes(2048)
    (536870912, 1500000000, 2048)
    """
    amount = _split(value, _BYTE_UNITS, "b") if isinstance(value, str) else _positive(value)
    n_bytes = round(amount)
    if n_bytes <= 0 or n_bytes > MAX_BYTES:
        raise UnitError(value)
    return int(n_bytes)


def parse_seconds(value: int | float | str) -> float:
    """Read a duration; numbers are seconds. Raises ``UnitError`` for zero, negatives and unknown units.

    Examples
    --------
    >>> parse_seconds("20ms"), parse_seconds("10min"), parse_seconds(1.5)
    (0.02, 600.0, 1.5)
    """
    amount = _split(value, _TIME_UNITS, "s") if isinstance(value, str) else _positive(value)
    if amount <= 0 or amount > MAX_SECONDS:
        raise UnitError(value)
    return float(amount)


def _trim(number: Fraction, digits: int) -> str:
    text = f"{float(number):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _significant(value: float, unit: str) -> str:
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return _trim(Fraction(value), digits) + unit


def format_bytes(n_bytes: int | float, exact: bool = False) -> str:
    """Print bytes in the largest fitting unit.

    With ``exact=False`` (reports) decimal units and about three significant digits; with ``exact=True``
    (what ``Budget`` prints) the shortest of the binary and decimal forms that parse back to ``n_bytes``
    exactly, so ``"2GB"`` prints as ``2GB`` and ``"4GiB"`` as ``4GiB``.

    Examples
    --------
    >>> format_bytes(339_992), format_bytes(1_500_000_000), format_bytes(4 * 1024**3)
    ('340kB', '1.5GB', '4.29GB')
    >>> format_bytes(4 * 1024**3, exact=True), format_bytes(2 * 10**9, exact=True)
    ('4GiB', '2GB')
    >>> format_bytes(123_456_789, exact=True)
    '123456789B'
    """
    n = round(n_bytes)
    if not exact:
        for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
            if n >= factor:
                return _significant(n / factor, unit)
        return f"{n}B"
    forms = [f"{n}B"]
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            forms.append(f"{n // factor}{unit}")
            break
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= factor:
            forms += [t for t in (_trim(Fraction(n, factor), d) + unit for d in range(4)) if parse_bytes(t) == n][:1]
            break
    return min(forms, key=len)  # the shortest exact form: what the user most likely typed


def format_seconds(seconds: float, exact: bool = False) -> str:
    """Print a duration in the largest fitting unit (h, min, s, ms, us).

    With ``exact=False`` the number is rounded to about three significant digits; with ``exact=True``
    parsing the text gives back ``seconds`` exactly (falling back to plain seconds when needed).

    Examples
    --------
    >>> format_seconds(0.02), format_seconds(90), format_seconds(600), format_seconds(7200)
    ('20ms', '90s', '10min', '2h')
    >>> format_seconds(0.123456), format_seconds(0.123456, exact=True)
    ('123ms', '123.456ms')
    """
    plain = repr(float(seconds)) + "s"
    if seconds <= 0:
        return plain
    units = (("h", 3600), ("min", 60), ("s", 1), ("ms", Fraction(1, 1000)), ("us", Fraction(1, 10**6)))
    for unit, factor in units:
        if seconds < factor:
            continue
        scaled = Fraction(seconds) / factor
        if not exact:
            if unit in ("h", "min") and scaled.denominator != 1 and scaled < 10:
                continue  # 90.5 s reads better as seconds than as 1.51min
            return _significant(float(scaled), unit)
        for digits in range(0, 4):
            text = _trim(scaled, digits) + unit
            if parse_seconds(text) == seconds:
                return text
        if unit not in ("h", "min"):
            return plain
    return plain if exact else _significant(seconds * 1e9, "ns")
