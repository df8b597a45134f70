"""Go-style durations (``1h30m``) and byte sizes (``128MB``) as Kratos's config writes them.

Kratos is written in Go, so its config uses ``time.ParseDuration`` syntax for every lifespan and
``go-bytesize`` syntax (1024-based units) for memory sizes. These helpers parse both into Python
values and format durations back for diagnostics.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

__all__ = ["parse_duration", "format_duration", "parse_bytes"]

# Nanoseconds per unit, exactly as Go's time package defines them (both spellings of micro).
_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}

#: The longest duration Go can hold: the largest int64 of nanoseconds.
_MAX_NS = 2**63 - 1

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:ns|us|µs|μs|ms|s|m|h)"
_DURATION_RE = re.compile(rf"[+-]?(?:{_NUMBER}{_UNIT})+")
_PART_RE = re.compile(rf"({_NUMBER})({_UNIT})")

# go-bytesize units: powers of 1024; "KB", "K" and "KiB" all mean the same thing.
_BYTES_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?", re.IGNORECASE)
_BYTE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def parse_duration(s: str) -> timedelta:
    """Parse a Go duration string such as ``"1h30m"``, ``"500ms"`` or ``"1.5h"``.

    A unit is mandatory for every number (Go's rule), so ``"10"`` is refused; the lone ``"0"`` is
    accepted as Go does. Precision below a microsecond is truncated (``timedelta``'s resolution).

    Args:
        s: The duration text.

    Returns:
        The duration.

    Raises:
        ValueError: If ``s`` is not a string in Go duration syntax.
    """
    if not isinstance(s, str):
        raise ValueError(f"expected a duration string, got {type(s).__name__}")
    text = s.strip()
    if text in ("0", "+0", "-0"):
        return timedelta(0)
    if not _DURATION_RE.fullmatch(text):
        raise ValueError(f"invalid duration {s!r}")
    sign = -1 if text.startswith("-") else 1
    # Fractions keep "1.1h" exact; floats would drift by a few nanoseconds.
    total_ns = sum(
        (Fraction(number) * _UNIT_NS[unit] for number, unit in _PART_RE.findall(text)),
        Fraction(0),
    )
    if total_ns > _MAX_NS:
        # Go's durations are int64 nanoseconds (about 292 years); longer ones do not parse
        # there either, and would overflow a date when added to now (issue 14, finding 5).
        raise ValueError(f"invalid duration {s!r}: longer than 2562047h")
    return sign * timedelta(microseconds=int(total_ns // 1000))


def format_duration(value: timedelta) -> str:
    """Format a duration compactly in Go syntax, e.g. ``"1h30m"``, ``"500ms"``, ``"0s"``.

    The result always parses back to the same value with :func:`parse_duration`.

    Args:
        value: The duration.

    Returns:
        The Go-syntax text.
    """
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1_000_000:
        if micros % 1000 == 0:
            return f"{sign}{micros // 1000}ms"
        return f"{sign}{micros}us"
    hours, rest = divmod(micros, 3600 * 1_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest:
        seconds, frac = divmod(rest, 1_000_000)
        parts.append(f"{seconds}.{frac:06d}".rstrip("0").rstrip(".") + "s")
    return sign + "".join(parts)


def parse_bytes(s: str | int) -> int:
    """Parse a byte size such as ``"128MB"``, ``"1GB"``, ``"64KiB"`` or a plain byte count.

    Units are 1024-based like Go's ``go-bytesize`` that Kratos uses, so ``"1KB"`` is 1024.

    Args:
        s: The size text, or an integer number of bytes.

    Returns:
        The number of bytes.

    Raises:
        ValueError: If the value is negative or not a byte size.
    """
    if isinstance(s, bool):
        raise ValueError("expected a byte size, got a boolean")
    if isinstance(s, int):
        if s < 0:
            raise ValueError(f"a byte size cannot be negative, got {s}")
        return s
    if not isinstance(s, str):
        raise ValueError(f"expected a byte size, got {type(s).__name__}")
    match = _BYTES_RE.fullmatch(s.strip())
    if not match:
        raise ValueError(f"invalid byte size {s!r}")
    number, prefix = match.groups()
    return int(Fraction(number) * 1024 ** _BYTE_POWERS[prefix.lower()])
