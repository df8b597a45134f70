"""Every accepted hash format: match, mismatch, bounds, malformed input.

Test vectors are produced here by independent code (hashlib, hmac, the bcrypt and argon2
libraries, cryptography's AES) or are published ones (SHA-crypt specification, RFC 1320).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import argon2
import bcrypt
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from kratos_password import _crypt
from kratos_password.errors import HashBoundsError, UnknownHashFormatError
from kratos_password.formats import identify, memory_cost, parse_hash
from kratos_password.hashing import validate_hash, verify_password

PASSWORD = "correct horse battery staple ✓"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_b64(data: bytes) -> str:
    return b64(data).rstrip("=")


def assert_matches(encoded: str, password: str = PASSWORD) -> None:
    validate_hash(encoded)
    assert verify_password(password, encoded) is True
    assert verify_password(password + "x", encoded) is False
    assert verify_password("", encoded) is False


def assert_out_of_bounds(encoded: str) -> None:
    with pytest.raises(HashBoundsError) as info:
        validate_hash(encoded)
    assert info.value.status_code == 400
    assert "exceed" in info.value.reason
    started = time.perf_counter()
    assert verify_password(PASSWORD, encoded) is False
    assert time.perf_counter() - started < 0.05  # rejected before any key derivation


def assert_unknown(encoded: object) -> None:
    with pytest.raises(UnknownHashFormatError) as info:
        validate_hash(encoded)  # type: ignore[arg-type]
    assert info.value.status_code == 400
    assert info.value.reason == "The imported password does not match any known hash format."
    assert verify_password(PASSWORD, encoded) is False  # type: ignore[arg-type]


# --- bcrypt -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
def test_bcrypt(prefix: bytes) -> None:
    encoded = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()
    assert_matches(encoded)
    assert identify(encoded) == "bcrypt"


@pytest.mark.parametrize("variant", ["$2y$", "$2$"])
def test_bcrypt_legacy_prefixes(variant: str) -> None:
    encoded = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix=b"2a")).decode()
    assert_matches(variant + encoded[len("$2a$") :])


def test_bcrypt_never_truncates_at_72_bytes() -> None:
    password = "a" * 72
    encoded = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    assert verify_password(password, encoded) is True
    # Plain bcrypt would ignore the 73rd byte and accept this; we must not.
    assert verify_password(password + "b", encoded) is False


def test_bcrypt_bounds() -> None:
    encoded = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    validate_hash(encoded.replace("$04$", "$15$"))
    assert_out_of_bounds(encoded.replace("$04$", "$16$"))
    assert_out_of_bounds(encoded.replace("$04$", "$31$"))
    assert_unknown(encoded.replace("$04$", "$03$"))
    assert_unknown(encoded[:-1])
    assert_unknown(encoded.replace("$2b$", "$2x$"))


# --- Argon2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "prefix"), [(argon2.Type.ID, "argon2id"), (argon2.Type.I, "argon2i")])
def test_argon2(kind: argon2.Type, prefix: str) -> None:
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=2, type=kind)
    encoded = hasher.hash(PASSWORD)
    assert encoded.startswith(f"${prefix}$v=19$m=64,t=1,p=2$")
    assert_matches(encoded)
    assert identify(encoded) == prefix
    assert memory_cost(encoded) == 64 * 1024


def _argon2(m: int, t: int, p: int, version: str = "v=19") -> str:
    return f"$argon2id${version}$m={m},t={t},p={p}${raw_b64(b's' * 16)}${raw_b64(b'h' * 32)}"


def test_argon2_bounds() -> None:
    validate_hash(_argon2(1_048_576, 10, 16))
    assert_out_of_bounds(_argon2(1_048_577, 1, 1))
    assert_out_of_bounds(_argon2(64, 11, 1))
    assert_out_of_bounds(_argon2(256, 1, 17))
    assert_out_of_bounds(_argon2(2**40, 1, 1))


def test_argon2_malformed() -> None:
    assert_unknown(_argon2(64, 1, 1, version="v=16"))
    assert_unknown(_argon2(64, 0, 1))
    assert_unknown(_argon2(4, 1, 1))  # below 8 KiB per lane
    assert_unknown("$argon2id$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")  # no version field
    assert_unknown("$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
    assert_unknown("$argon2id$v=19$m=64,t=1,p=1$c2Fs!dHNhbHQ$aGFzaGhhc2g")
    assert_unknown("$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")
    assert_unknown("$argon2id$v=19$m=6_4,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")


# --- PBKDF2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "real"),
    [
        ("sha1", "sha1"),
        ("sha224", "sha3_224"),  # Kratos compatibility quirk
        ("sha256", "sha256"),
        ("sha384", "sha3_384"),  # Kratos compatibility quirk
        ("sha512", "sha512"),
        ("sha3", "sha256"),  # unknown sha<digits> falls back to SHA-256
        ("sha999", "sha256"),
    ],
)
def test_pbkdf2(name: str, real: str) -> None:
    salt = b"NaCl-salt-16byte"
    key = hashlib.pbkdf2_hmac(real, PASSWORD.encode(), salt, 1000, 32)
    encoded = f"$pbkdf2-{name}$i=1000,l=32${raw_b64(salt)}${raw_b64(key)}"
    assert_matches(encoded)
    assert identify(encoded) == "pbkdf2"


def test_pbkdf2_key_length_is_the_hash_length() -> None:
    key = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), b"salt", 10, 20)
    assert_matches(f"$pbkdf2-sha256$i=10,l=64${raw_b64(b'salt')}${raw_b64(key)}")


def test_pbkdf2_bounds_and_malformed() -> None:
    tail = f"{raw_b64(b'salt')}${raw_b64(b'k' * 32)}"
    validate_hash(f"$pbkdf2-sha256$i=10000000,l=32${tail}")
    assert_out_of_bounds(f"$pbkdf2-sha256$i=10000001,l=32${tail}")
    assert_out_of_bounds(f"$pbkdf2-sha256$i=1000,l=32${raw_b64(b'salt')}${raw_b64(b'k' * 65)}")
    assert_unknown(f"$pbkdf2-md5$i=1000,l=32${tail}")
    assert_unknown(f"$pbkdf2-sha256$i=0,l=32${tail}")
    assert_unknown(f"$pbkdf2-sha256$l=32,i=1000${tail}")
    assert_unknown(f"$pbkdf2-sha256$i=1000,l=32${raw_b64(b'salt')}$")


# --- scrypt -----------------------------------------------------------------------------------


def test_scrypt() -> None:
    salt = b"scrypt-salt"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=1024, r=8, p=2, dklen=32)
    encoded = f"$scrypt$ln=1024,r=8,p=2${b64(salt)}${b64(key)}"  # ln carries N itself
    assert_matches(encoded)
    assert identify(encoded) == "scrypt"
    assert memory_cost(encoded) >= 128 * 8 * 1024


def test_scrypt_bounds_and_malformed() -> None:
    tail = f"{b64(b'salt')}${b64(b'k' * 32)}"
    validate_hash(f"$scrypt$ln=131072,r=8,p=10${tail}")
    assert_out_of_bounds(f"$scrypt$ln=262144,r=8,p=1${tail}")
    assert_out_of_bounds(f"$scrypt$ln=16384,r=9,p=1${tail}")
    assert_out_of_bounds(f"$scrypt$ln=16384,r=8,p=11${tail}")
    assert_unknown(f"$scrypt$ln=1000,r=8,p=1${tail}")  # N not a power of two
    assert_unknown(f"$scrypt$ln=16384,r=0,p=1${tail}")
    assert_unknown(f"$scrypt$ln=16384,r=8${tail}")


# --- Firebase scrypt --------------------------------------------------------------------------


def _firescrypt(password: str, ln: int, salt: bytes, separator: bytes, signer: bytes) -> str:
    key = hashlib.scrypt(password.encode(), salt=salt + separator, n=2**ln, r=8, p=1, dklen=32)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    digest = encryptor.update(signer) + encryptor.finalize()
    return f"$firescrypt$ln={ln},r=8,p=1${b64(salt)}${b64(digest)}${b64(separator)}${b64(signer)}"


def test_firescrypt() -> None:
    encoded = _firescrypt(PASSWORD, 10, b"user-salt", b"\x01\x02", b"project signer key " * 3)
    assert_matches(encoded)
    assert identify(encoded) == "firescrypt"


def test_firescrypt_bounds() -> None:
    encoded = _firescrypt(PASSWORD, 4, b"salt", b"\x00", b"signer")
    validate_hash(encoded.replace("ln=4,", "ln=17,"))
    assert_out_of_bounds(encoded.replace("ln=4,", "ln=18,"))
    assert_out_of_bounds(encoded.replace("r=8,", "r=9,"))
    assert_unknown(encoded.rsplit("$", 1)[0])


# --- md5 / sha with patterns ------------------------------------------------------------------


def test_md5_plain() -> None:
    assert_matches(f"$md5${b64(hashlib.md5(PASSWORD.encode()).digest())}")
    assert identify("$md5$x") == "md5"


def _patterned(alg: str, pattern: bytes, salt: bytes, data: bytes) -> str:
    digest = hashlib.new(alg, data).digest()
    return f"${alg}$pf={b64(pattern)}${b64(salt)}${b64(digest)}"


@pytest.mark.parametrize("alg", ["md5", "sha1", "sha256", "sha512"])
def test_pattern_formats(alg: str) -> None:
    salt, pw = b"pepper&salt", PASSWORD.encode()
    encoded = _patterned(alg, b"{SALT}:{PASSWORD}:{SALT}", salt, salt + b":" + pw + b":" + salt)
    assert_matches(encoded)
    assert identify(encoded) == alg


def test_pattern_replacement_is_single_pass() -> None:
    # A salt that itself contains "{PASSWORD}" must stay literal (like Go's strings.Replacer).
    salt, pw = b"s{PASSWORD}s", PASSWORD.encode()
    assert_matches(_patterned("sha256", b"{PASSWORD}{SALT}", salt, pw + salt))


def test_sha_requires_pattern() -> None:
    assert_unknown(f"$sha256${b64(hashlib.sha256(PASSWORD.encode()).digest())}")
    assert_unknown(f"$sha256$xx={b64(b'p')}${b64(b's')}${b64(b'h')}")


# --- LDAP salted SHA --------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "alg"), [("SSHA", "sha1"), ("SSHA256", "sha256"), ("SSHA512", "sha512")])
def test_ldap_ssha(scheme: str, alg: str) -> None:
    salt = b"\x00\xffsalty"
    digest = hashlib.new(alg, PASSWORD.encode() + salt).digest()
    encoded = f"{{{scheme}}}{b64(digest + salt)}"
    assert_matches(encoded)
    assert identify(encoded) == scheme.lower()


def test_ldap_ssha_too_short() -> None:
    assert_unknown("{SSHA}" + b64(b"short"))


# --- HMAC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
def test_hmac(alg: str) -> None:
    key = b"server secret key"
    hex_digest = hmac.new(key, PASSWORD.encode(), alg).hexdigest()
    encoded = f"$hmac-{alg}${b64(hex_digest.encode())}${b64(key)}"
    assert_matches(encoded)
    assert identify(encoded) == "hmac"


def _manual_hmac_md4(key: bytes, message: bytes) -> str:
    # RFC 2104 spelled out, so this does not share the hmac module's code path.
    key = key.ljust(64, b"\x00")
    inner = _crypt.MD4(bytes(b ^ 0x36 for b in key) + message).digest()
    return _crypt.MD4(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def test_hmac_md4() -> None:
    key = b"k3y"
    encoded = f"$hmac-md4${b64(_manual_hmac_md4(key, PASSWORD.encode()).encode())}${b64(key)}"
    assert_matches(encoded)


@pytest.mark.parametrize(
    ("message", "digest"),
    [  # RFC 1320, appendix A.5
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
    ],
)
def test_md4_rfc1320_vectors(message: bytes, digest: str) -> None:
    assert _crypt.MD4(message).hexdigest() == digest


def test_hmac_malformed() -> None:
    assert_unknown(f"$hmac-sha3$${b64(b'ab' * 32)}${b64(b'k')}")
    assert_unknown(f"$hmac-sha256${b64(b'zz' * 32)}${b64(b'k')}")  # not hex
    assert_unknown(f"$hmac-sha256${b64(b'ab' * 31)}${b64(b'k')}")  # wrong length


# --- Unix crypt (published vectors) -----------------------------------------------------------

# SHA-crypt specification (Drepper), SHA-256 and SHA-512 test vectors.
SHA_CRYPT_VECTORS = [
    ("Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
    (
        "Hello world!",
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
    ),
    (
        "This is just a test",
        "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
    ),
    (
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
    ),
    (
        "we have a short salt string but not a short password",
        "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
    ),
    (
        "the minimum number is still observed",
        "$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
    ),
    (
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJu"
        "esI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8v"
        "OuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1"
        "yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66"
        "x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "the minimum number is still observed",
        "$6$rounds=10$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4Z"
        "EQpyUNGc0dqbpBYYBaHHrsX.",
    ),
]

# MD5-crypt: the libxcrypt test vector and the one from PHP's crypt() documentation.
MD5_CRYPT_VECTORS = [
    ("Hello world!", "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1"),
    ("rasmuslerdorf", "$1$rasmusle$rISCgZzpwk3UhDidwXvin0"),
]

_KRATOS_PREFIX = {"$1$": "$md5-crypt$", "$5$": "$sha256-crypt$", "$6$": "$sha512-crypt$"}


def _as_kratos(crypt_hash: str) -> str:
    return _KRATOS_PREFIX[crypt_hash[:3]] + crypt_hash[3:]


@pytest.mark.parametrize(("password", "crypt_hash"), SHA_CRYPT_VECTORS + MD5_CRYPT_VECTORS)
def test_unix_crypt_published_vectors(password: str, crypt_hash: str) -> None:
    encoded = _as_kratos(crypt_hash)
    assert_matches(encoded, password)
    assert identify(encoded) == _KRATOS_PREFIX[crypt_hash[:3]].strip("$")


def test_unix_crypt_raw_prefixes_are_not_accepted() -> None:
    # Only Kratos's named prefixes are import formats; "$5$..." itself is not.
    assert_unknown(SHA_CRYPT_VECTORS[0][1])


def test_sha_crypt_bounds_and_malformed() -> None:
    checksum = "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
    validate_hash(f"$sha256-crypt$rounds=1000000$salt${checksum}")
    assert_out_of_bounds(f"$sha256-crypt$rounds=1000001$salt${checksum}")
    assert_out_of_bounds(f"$sha256-crypt$rounds=999999999$salt${checksum}")
    assert_unknown(f"$sha256-crypt$rounds=x$salt${checksum}")
    assert_unknown(f"$sha256-crypt$salt${checksum[:-1]}")
    assert_unknown(f"$sha512-crypt$salt${checksum}")  # SHA-256 length under a SHA-512 name
    assert_unknown("$md5-crypt$rounds=1000$salt$YMyguxXMBpd2TEZ.vS/3q1")


# --- Generic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "plaintext-password",
        "$",
        "$$$",
        "$unknown$abc",
        "$argon2id$",
        "{SHA}" + b64(hashlib.sha1(b"x").digest()),
        "$2b$10$" + "x" * 5000,
        None,
        123,
    ],
)
def test_garbage_is_unknown(garbage: object) -> None:
    assert_unknown(garbage)
    if isinstance(garbage, str):
        assert identify(garbage) in (None, "bcrypt", "argon2id")


def test_parse_hash_exposes_parameters() -> None:
    parsed = parse_hash(_argon2(64, 3, 2))
    assert parsed.scheme == "argon2id"
    assert parsed.params == {"m": 64, "t": 3, "p": 2, "salt_length": 16, "key_length": 32}
    assert parsed.memory_bytes == 64 * 1024
    assert memory_cost("garbage") == 0
    assert memory_cost(_argon2(2**30, 1, 1)) == 0  # out of bounds: never run, costs nothing
