"""Identifier normalisation: trim, NFKC, invisible characters, lower-case, E.164, e-mail form."""

from __future__ import annotations

import pytest

from kratos_core.identity.normalize import normalize_identifier, normalize_phone, strip_invisible


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # case and surrounding whitespace
        ("Jane@Example.ORG", "jane@example.org"),
        ("  jane@example.org\t\n", "jane@example.org"),
        ("\u3000jane@example.org\u00a0", "jane@example.org"),
        # full-width forms fold to ASCII
        ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "jane@example.org"),
        ("ＪＡＮＥ＠ＥＸＡＭＰＬＥ．ＯＲＧ", "jane@example.org"),
        # invisible, bidi and control code points are removed
        ("\u200bjane@example.org", "jane@example.org"),
        ("ja\u200dne@exa\u200cmple.org", "jane@example.org"),
        ("\u202ejane@example.org\u202c", "jane@example.org"),
        ("\u2066jane@example.org\u2069", "jane@example.org"),
        ("\ufeffjane@example.org", "jane@example.org"),
        ("ja\u00adne@example.org", "jane@example.org"),
        ("jane@example.org\x00\x07", "jane@example.org"),
        ("\u200e jane@example.org \u200f", "jane@example.org"),
        ("ja\u3164ne@example.org", "jane@example.org"),
        # e-mail canonical form keeps dots and plus tags
        ("Jane.Doe+News@Example.org", "jane.doe+news@example.org"),
        # phone numbers in international form become E.164
        ("+49 151 23456789", "+4915123456789"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("  +44 20 7946 0958 ", "+442079460958"),
        ("＋４９　１５１　２３４５６７８９", "+4915123456789"),
        ("+49-151-2345\u200b6789", "+4915123456789"),
        # not a valid phone number: only the generic steps apply
        ("+123", "+123"),
        ("0151 23456789", "0151 23456789"),
        # plain user names
        ("JaneDoe", "janedoe"),
        (" Ｊａｎｅ ", "jane"),
        ("", ""),
        ("\u200b", ""),
    ],
)
def test_normalize_identifier(raw: str, expected: str) -> None:
    assert normalize_identifier(raw) == expected


def test_normalize_identifier_is_idempotent() -> None:
    for raw in ["ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "+49 151 23456789", " Jane.Doe+x@Example.org "]:
        once = normalize_identifier(raw)
        assert normalize_identifier(once) == once


def test_email_with_plus_is_not_mistaken_for_a_phone() -> None:
    assert normalize_identifier("+4915123456789@example.org") == "+4915123456789@example.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+4915123456789", "+4915123456789"),
        ("+49 (0)151 2345 6789", "+4915123456789"),
        ("+1 650-253-0000", "+16502530000"),
        (" \u200e+16502530000 ", "+16502530000"),
        ("＋１６５０２５３００００", "+16502530000"),
        ("6502530000", None),  # national form: no region to interpret it
        ("+1 555", None),
        ("+999 1234567", None),
        ("not a number", None),
        ("jane@example.org", None),
        ("", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_strip_invisible_keeps_visible_text() -> None:
    assert strip_invisible("plain ascii") == "plain ascii"
    assert strip_invisible("Grüße\u200b an\u2060 alle") == "Grüße an alle"
    assert strip_invisible("a\tb\nc") == "abc"
