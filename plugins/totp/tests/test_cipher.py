"""Encryption at rest: Kratos's algorithms, key rotation, tampering."""

from __future__ import annotations

import pytest

from kratos_totp.cipher import Cipher, CipherError, hchacha20

KEY_A = "a" * 32
KEY_B = "b" * 32


def test_hchacha20_matches_the_published_test_vector() -> None:
    # draft-irtf-cfrg-xchacha-03, section 2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert hchacha20(key, nonce).hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"


@pytest.mark.parametrize("algorithm", ["aes", "xchacha20-poly1305"])
def test_round_trip_hides_the_text_and_uses_a_new_nonce_each_time(algorithm: str) -> None:
    cipher = Cipher(algorithm, [KEY_A])
    first, second = cipher.encrypt("otpauth://totp/x?secret=ABC"), cipher.encrypt("otpauth://totp/x?secret=ABC")
    assert "otpauth" not in first and "ABC" not in first
    assert first != second
    assert cipher.decrypt(first) == cipher.decrypt(second) == "otpauth://totp/x?secret=ABC"


@pytest.mark.parametrize("algorithm", ["aes", "xchacha20-poly1305"])
def test_old_keys_still_decrypt_after_rotation(algorithm: str) -> None:
    stored = Cipher(algorithm, [KEY_A]).encrypt("secret")
    assert Cipher(algorithm, [KEY_B, KEY_A]).decrypt(stored) == "secret"
    with pytest.raises(CipherError):
        Cipher(algorithm, [KEY_B]).decrypt(stored)


@pytest.mark.parametrize("algorithm", ["aes", "xchacha20-poly1305"])
def test_tampered_or_foreign_values_are_refused(algorithm: str) -> None:
    cipher = Cipher(algorithm, [KEY_A])
    stored = cipher.encrypt("secret")
    flipped = stored[:-2] + ("00" if stored[-2:] != "00" else "11")
    for bad in (flipped, "not hex", ""):
        with pytest.raises(CipherError):
            cipher.decrypt(bad)


def test_noop_stores_the_text_as_is() -> None:
    assert Cipher("noop", []).encrypt("otpauth://x") == "otpauth://x"


def test_a_real_algorithm_needs_a_key() -> None:
    with pytest.raises(ValueError):
        Cipher("aes", [])
