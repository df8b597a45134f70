"""Identifier normalisation (kratos-behaviour.md sections 5.2 and 12, pitfall 4).

Identifiers are normalised both when they are stored (credential identifiers, verifiable and
recovery addresses) and when they are looked up, so that ``Jane@Example.org``, `` jane@example.org``
and the full-width ``ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ`` all name the same account.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import phonenumbers

__all__ = ["normalize_identifier", "normalize_phone", "strip_invisible"]

# Invisible characters that are *letters* (category Lo), so the Cc/Cf test below misses them, yet
# they render as nothing and are a known way to forge look-alike identifiers.
_INVISIBLE_LETTERS = frozenset(
    {
        "\u115f",  # HANGUL CHOSEONG FILLER
        "\u1160",  # HANGUL JUNGSEONG FILLER
        "\u3164",  # HANGUL FILLER
        "\uffa0",  # HALFWIDTH HANGUL FILLER
    }
)

# Cc = control characters, Cf = format characters (bidi marks/embeddings/isolates, zero-width
# space/joiners, BOM, soft hyphen ...), Zl/Zp = line/paragraph separators.
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def strip_invisible(value: str) -> str:
    """Remove control, bidi and other invisible code points from ``value``.

    Args:
        value: Any string.

    Returns:
        ``value`` without the invisible code points (visible characters keep their order).
    """
    if value.isascii() and value.isprintable():
        # Fast path: the common case has nothing to strip.
        return value
    return "".join(
        ch
        for ch in value
        if ch not in _INVISIBLE_LETTERS and unicodedata.category(ch) not in _STRIPPED_CATEGORIES
    )


def _clean(value: str) -> str:
    """Trim, NFKC-fold (full-width forms become ASCII) and drop invisible code points."""
    value = unicodedata.normalize("NFKC", value.strip())
    # Trim again: removing a zero-width character can expose surrounding whitespace.
    return strip_invisible(value).strip()


# Parsing a phone number is the costliest step of traits validation and the same value is parsed
# for normalisation, format checking and identifier extraction: memoise (the function is pure).
@lru_cache(maxsize=4096)
def normalize_phone(value: str) -> str | None:
    """Return ``value`` as an E.164 phone number, or ``None`` when it is not a valid number.

    Only the international form (leading ``+``) is accepted: without a region there is no way to
    interpret a national number, and guessing one would make identifiers ambiguous.

    Args:
        value: A phone number as typed, e.g. ``"+49 (0)151 2345 6789"``.

    Returns:
        The E.164 form (``"+4915123456789"``) or ``None``.
    """
    cleaned = _clean(value)
    if not cleaned.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_identifier(value: str) -> str:
    """Normalise a login identifier or address the way Kratos does.

    Steps: trim whitespace; Unicode NFKC (folds full-width forms); strip bidi, invisible and
    control code points; lower-case; a valid international phone number becomes E.164; an
    e-mail address keeps its (already lower-cased, trimmed) canonical form. Dots and ``+tags`` in
    e-mail local parts are deliberately kept: dropping them is provider-specific and would merge
    accounts that the provider treats as different mailboxes.

    Args:
        value: The raw identifier.

    Returns:
        The normalised identifier (possibly the empty string).
    """
    cleaned = _clean(value).lower()
    if "@" not in cleaned and cleaned.startswith("+"):
        phone = normalize_phone(cleaned)
        if phone is not None:
            return phone
    return cleaned
