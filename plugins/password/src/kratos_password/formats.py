"""Parsers and verifiers for every password hash format Kratos accepts.

An identity can be imported with a hash from another system (kratos-behaviour.md section 5.4), so
the comparator understands many formats. Each parser turns an encoded hash into a
:class:`ParsedHash` and checks the declared cost parameters against fixed bounds *before* any
expensive work happens: a hostile or broken import must never make a login spend minutes or
gigabytes. Parsing raises :class:`UnknownHashFormatError` for anything unrecognised or malformed
and :class:`HashBoundsError` for parameters over the bounds; :func:`parse_hash` is the entry point.

All comparisons of derived values use :func:`hmac.compare_digest` (section 12, pitfall 3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import bcrypt
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kratos_password import _crypt
from kratos_password.errors import HashBoundsError, UnknownHashFormatError

__all__ = [
    "ARGON2_MAX_ITERATIONS",
    "ARGON2_MAX_KEY_BYTES",
    "ARGON2_MAX_MEMORY_KIB",
    "ARGON2_MAX_PARALLELISM",
    "ARGON2_VERSION",
    "BCRYPT_MAX_COST",
    "BCRYPT_MAX_PASSWORD_BYTES",
    "BCRYPT_MIN_COST",
    "FIRESCRYPT_MAX_LN",
    "MAX_ENCODED_LENGTH",
    "PBKDF2_MAX_ITERATIONS",
    "PBKDF2_MAX_KEY_BYTES",
    "SCRYPT_MAX_KEY_BYTES",
    "SCRYPT_MAX_N",
    "SCRYPT_MAX_P",
    "SCRYPT_MAX_R",
    "SHA_CRYPT_MAX_ROUNDS",
    "ParsedHash",
    "identify",
    "memory_cost",
    "parse_hash",
]

# --- Bounds -----------------------------------------------------------------------------------
# The first group are Kratos's own bounds (section 5.4); the rest are our additions where Kratos
# has none but a single verification could otherwise run for minutes.

#: bcrypt cost bounds (Kratos: cost <= 15; bcrypt itself needs >= 4).
BCRYPT_MIN_COST = 4
BCRYPT_MAX_COST = 15
#: bcrypt only reads 72 bytes; longer passwords are rejected, never truncated (pitfall 5).
BCRYPT_MAX_PASSWORD_BYTES = 72
#: Argon2 bounds (Kratos): m <= 1 GiB in KiB, t <= 10, p <= 16, version 0x13 only.
ARGON2_MAX_MEMORY_KIB = 1_048_576
ARGON2_MAX_ITERATIONS = 10
ARGON2_MAX_PARALLELISM = 16
ARGON2_VERSION = 19
#: Ours: a longer Argon2 tag is pointless; 1 KiB keeps the final hashing step trivial.
ARGON2_MAX_KEY_BYTES = 1024
#: PBKDF2 iterations bound (Kratos).
PBKDF2_MAX_ITERATIONS = 10_000_000
#: Ours: PBKDF2 work grows with the key length in digest-sized blocks; 64 bytes covers every
#: common output (SHA-512's full digest) while keeping the worst case a few block computations.
PBKDF2_MAX_KEY_BYTES = 64
#: scrypt bounds (Kratos): N <= 2^17, r <= 8, p <= 10 (at most 128 MiB of memory).
SCRYPT_MAX_N = 131_072
SCRYPT_MAX_R = 8
SCRYPT_MAX_P = 10
#: Ours: the key length only costs one PBKDF2-SHA256 pass, but stays bounded.
SCRYPT_MAX_KEY_BYTES = 1024
#: Firebase scrypt bound (Kratos: ln <= 17); r and p use the scrypt bounds above.
FIRESCRYPT_MAX_LN = 17
#: Ours: SHA-crypt allows up to 999,999,999 rounds; our verifier is pure Python (about 4 us per
#: round), so we stop at one million, which still covers passlib's defaults (535,000/656,000).
SHA_CRYPT_MAX_ROUNDS = 1_000_000
#: Ours: no accepted format comes anywhere near this; longer input is not a hash.
MAX_ENCODED_LENGTH = 4096

# ASCII digits only: int() would also accept "1_000", " 7" or "٧". Any length, so that a huge
# value is reported as out of bounds; MAX_ENCODED_LENGTH keeps int() well under its digit limit.
_INT = r"([0-9]+)"


@dataclass(frozen=True, slots=True)
class ParsedHash:
    """A parsed, bounds-checked hash, ready to verify candidate passwords.

    Attributes:
        scheme: Format name, as :func:`identify` returns it (``"argon2id"``, ``"bcrypt"`` ...).
        params: Cost parameters by name (``m``/``t``/``p``/``salt_length``/``key_length`` for
            Argon2, ``cost`` for bcrypt ...), used to decide on re-hashing.
        memory_bytes: Memory one verification needs when that is significant (Argon2, scrypt),
            else 0; lets the hash pool bound concurrent memory use.
    """

    scheme: str
    params: Mapping[str, int]
    memory_bytes: int
    _check: Callable[[bytes], bool] = field(repr=False)

    def verify(self, password: bytes) -> bool:
        """Whether ``password`` (UTF-8 bytes) matches; may raise on library errors."""
        return self._check(password)


# --- Helpers ----------------------------------------------------------------------------------


def _malformed(detail: str) -> UnknownHashFormatError:
    return UnknownHashFormatError(detail)


def _bound(name: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise HashBoundsError(f"{name}={value} exceeds the maximum {maximum}")


def _b64(value: str, what: str = "value") -> bytes:
    """Standard base64, with or without padding (Kratos writes both, depending on format)."""
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", value):
        raise _malformed(f"{what} is not base64")
    bare = value.rstrip("=")
    if len(bare) % 4 == 1:
        raise _malformed(f"{what} has an impossible base64 length")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True)
    except binascii.Error as exc:
        raise _malformed(f"{what} is not base64") from exc


def _params(spec: str, names: tuple[str, ...]) -> list[int]:
    """Parse ``a=1,b=2`` with exactly ``names`` in this order (Kratos parses a fixed layout)."""
    pattern = ",".join(f"{re.escape(n)}={_INT}" for n in names)
    match = re.fullmatch(pattern, spec)
    if match is None:
        raise _malformed(f"parameters {spec!r} do not match {','.join(names)}")
    return [int(g) for g in match.groups()]


def _split(encoded: str, count: int) -> list[str]:
    parts = encoded.split("$")
    if len(parts) != count:
        raise _malformed(f"expected {count - 1} '$'-separated fields")
    return parts


def _non_empty(digest: bytes) -> bytes:
    # An empty stored digest would compare equal to an empty derived key for any password.
    if not digest:
        raise _malformed("the hash is empty")
    return digest


# --- bcrypt -----------------------------------------------------------------------------------

_BCRYPT_RE = re.compile(r"\$(2|2a|2b|2y)\$([0-9]{2})\$([./A-Za-z0-9]{53})")


def _parse_bcrypt(encoded: str) -> ParsedHash:
    match = _BCRYPT_RE.fullmatch(encoded)
    if match is None:
        raise _malformed("not a bcrypt hash")
    minor, cost, rest = match.group(1), int(match.group(2)), match.group(3)
    if cost < BCRYPT_MIN_COST:
        raise _malformed(f"bcrypt cost {cost} is below {BCRYPT_MIN_COST}")
    _bound("cost", cost, BCRYPT_MAX_COST)
    # The library has no "$2$" (the original, minor-less version); Go's bcrypt treats it like
    # "$2a$", which is identical for the <= 72-byte passwords we ever pass.
    normalised = f"${'2a' if minor == '2' else minor}${cost:02d}${rest}".encode()

    def check(password: bytes) -> bool:
        if len(password) > BCRYPT_MAX_PASSWORD_BYTES:
            return False  # never let the library truncate (pitfall 5)
        return hmac.compare_digest(bcrypt.hashpw(password, normalised), normalised)

    return ParsedHash("bcrypt", {"cost": cost}, 0, check)


# --- Argon2 -----------------------------------------------------------------------------------


def _parse_argon2(encoded: str) -> ParsedHash:
    _, scheme, version, spec, salt_b64, hash_b64 = _split(encoded, 6)
    if version != f"v={ARGON2_VERSION}":
        raise _malformed(f"unsupported argon2 version {version!r}")
    m, t, p = _params(spec, ("m", "t", "p"))
    _bound("m", m, ARGON2_MAX_MEMORY_KIB)
    _bound("t", t, ARGON2_MAX_ITERATIONS)
    _bound("p", p, ARGON2_MAX_PARALLELISM)
    if t < 1 or p < 1 or m < 8 * p:
        raise _malformed("argon2 parameters below the algorithm's minimums")
    salt, digest = _b64(salt_b64, "salt"), _b64(hash_b64, "hash")
    _bound("key length", len(digest), ARGON2_MAX_KEY_BYTES)
    if len(salt) < 8 or len(digest) < 4:
        raise _malformed("argon2 salt or hash too short")
    kind = Type.ID if scheme == "argon2id" else Type.I

    def check(password: bytes) -> bool:
        derived = hash_secret_raw(password, salt, t, m, p, len(digest), kind, ARGON2_VERSION)
        return hmac.compare_digest(derived, digest)

    params = {"m": m, "t": t, "p": p, "salt_length": len(salt), "key_length": len(digest)}
    return ParsedHash(scheme, params, m * 1024, check)


# --- PBKDF2 -----------------------------------------------------------------------------------


def _pbkdf2_digest(name: str) -> str:
    # Compatibility quirk of Kratos's comparator: "sha224"/"sha384" select SHA3-224/SHA3-384,
    # and any other unknown sha<digits> name silently means SHA-256 (section 5.4).
    return {"sha1": "sha1", "sha224": "sha3_224", "sha256": "sha256", "sha384": "sha3_384",
            "sha512": "sha512"}.get(name, "sha256")  # fmt: skip


def _parse_pbkdf2(encoded: str) -> ParsedHash:
    _, scheme, spec, salt_b64, hash_b64 = _split(encoded, 5)
    match = re.fullmatch(r"pbkdf2-(sha[0-9]{1,4})", scheme)
    if match is None:
        raise _malformed(f"unknown pbkdf2 digest in {scheme!r}")
    iterations, _declared_length = _params(spec, ("i", "l"))  # l is ignored, as in Kratos
    _bound("i", iterations, PBKDF2_MAX_ITERATIONS)
    if iterations < 1:
        raise _malformed("pbkdf2 needs at least one iteration")
    salt, digest = _b64(salt_b64, "salt"), _non_empty(_b64(hash_b64, "hash"))
    _bound("key length", len(digest), PBKDF2_MAX_KEY_BYTES)
    algorithm = _pbkdf2_digest(match.group(1))

    def check(password: bytes) -> bool:
        derived = hashlib.pbkdf2_hmac(algorithm, password, salt, iterations, len(digest))
        return hmac.compare_digest(derived, digest)

    return ParsedHash("pbkdf2", {"i": iterations, "key_length": len(digest)}, 0, check)


# --- scrypt and Firebase scrypt ----------------------------------------------------------------


def _scrypt_memory(n: int, r: int, p: int) -> int:
    # OpenSSL needs 128*r*(N+2) bytes for V plus 128*r*p for B (its own maxmem accounting).
    return 128 * r * (n + 2 + p)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    maxmem = _scrypt_memory(n, r, p) + 65_536
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem)


def _check_scrypt_rp(r: int, p: int) -> None:
    _bound("r", r, SCRYPT_MAX_R)
    _bound("p", p, SCRYPT_MAX_P)
    if r < 1 or p < 1:
        raise _malformed("scrypt r and p must be at least 1")


def _parse_scrypt(encoded: str) -> ParsedHash:
    _, _, spec, salt_b64, hash_b64 = _split(encoded, 5)
    # Unlike passlib's format, Kratos's "ln" carries N itself, not log2(N) (section 5.4).
    n, r, p = _params(spec, ("ln", "r", "p"))
    _bound("N", n, SCRYPT_MAX_N)
    _check_scrypt_rp(r, p)
    if n < 2 or n & (n - 1):
        raise _malformed("scrypt N must be a power of two greater than 1")
    salt, digest = _b64(salt_b64, "salt"), _non_empty(_b64(hash_b64, "hash"))
    _bound("key length", len(digest), SCRYPT_MAX_KEY_BYTES)

    def check(password: bytes) -> bool:
        return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)

    params = {"N": n, "r": r, "p": p, "key_length": len(digest)}
    return ParsedHash("scrypt", params, _scrypt_memory(n, r, p), check)


def _parse_firescrypt(encoded: str) -> ParsedHash:
    _, _, spec, salt_b64, hash_b64, sep_b64, signer_b64 = _split(encoded, 7)
    ln, r, p = _params(spec, ("ln", "r", "p"))  # here ln really is log2(N)
    _bound("ln", ln, FIRESCRYPT_MAX_LN)
    _check_scrypt_rp(r, p)
    if ln < 1:
        raise _malformed("firescrypt ln must be at least 1")
    salt, separator = _b64(salt_b64, "salt"), _b64(sep_b64, "salt separator")
    digest, signer = _non_empty(_b64(hash_b64, "hash")), _b64(signer_b64, "signer key")
    n = 1 << ln

    def check(password: bytes) -> bool:
        # Firebase: derive an AES-256 key with scrypt, then encrypt the project's signer key
        # in CTR mode with an all-zero IV; the ciphertext is the stored hash.
        key = _scrypt(password, salt + separator, n, r, p, 32)
        encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\x00" * 16)).encryptor()
        derived = encryptor.update(signer) + encryptor.finalize()
        return hmac.compare_digest(derived, digest)

    return ParsedHash("firescrypt", {"ln": ln, "r": r, "p": p}, _scrypt_memory(n, r, p), check)


# --- Salted digests with a pattern (md5, sha1, sha256, sha512) ---------------------------------

_PATTERN_RE = re.compile(rb"\{SALT\}|\{PASSWORD\}")


def _apply_pattern(pattern: bytes, salt: bytes, password: bytes) -> bytes:
    # One pass, like Go's strings.Replacer: a salt containing "{PASSWORD}" stays literal.
    values = {b"{SALT}": salt, b"{PASSWORD}": password}
    return _PATTERN_RE.sub(lambda m: values[m.group(0)], pattern)


def _patterned(scheme: str, parts: list[str]) -> ParsedHash:
    _, _, pf, salt_b64, hash_b64 = parts
    if not pf.startswith("pf="):
        raise _malformed("expected a pf= pattern")
    pattern, salt = _b64(pf[3:], "pattern"), _b64(salt_b64, "salt")
    digest = _non_empty(_b64(hash_b64, "hash"))

    def check(password: bytes) -> bool:
        data = _apply_pattern(pattern, salt, password)
        return hmac.compare_digest(hashlib.new(scheme, data).digest(), digest)

    return ParsedHash(scheme, {}, 0, check)


def _parse_md5(encoded: str) -> ParsedHash:
    parts = encoded.split("$")
    if len(parts) == 5:
        return _patterned("md5", parts)
    _, _, hash_b64 = _split(encoded, 3)
    digest = _non_empty(_b64(hash_b64, "hash"))

    def check(password: bytes) -> bool:
        return hmac.compare_digest(hashlib.md5(password).digest(), digest)

    return ParsedHash("md5", {}, 0, check)


def _parse_sha(encoded: str) -> ParsedHash:
    parts = _split(encoded, 5)
    return _patterned(parts[1], parts)


# --- LDAP salted SHA --------------------------------------------------------------------------

_SSHA_RE = re.compile(r"\{(SSHA|SSHA256|SSHA512)\}(.+)", re.DOTALL)
_SSHA_DIGESTS = {"SSHA": "sha1", "SSHA256": "sha256", "SSHA512": "sha512"}


def _parse_ssha(encoded: str) -> ParsedHash:
    match = _SSHA_RE.fullmatch(encoded)
    if match is None:
        raise _malformed("not an LDAP salted SHA hash")
    algorithm = _SSHA_DIGESTS[match.group(1)]
    size = hashlib.new(algorithm).digest_size
    decoded = _b64(match.group(2), "hash")
    if len(decoded) < size:
        raise _malformed("LDAP hash shorter than its digest")
    digest, salt = decoded[:size], decoded[size:]  # base64(digest || salt)

    def check(password: bytes) -> bool:
        return hmac.compare_digest(hashlib.new(algorithm, password + salt).digest(), digest)

    return ParsedHash(match.group(1).lower(), {}, 0, check)


# --- HMAC -------------------------------------------------------------------------------------

_HMAC_DIGESTS: Mapping[str, Callable[..., object] | str] = {
    "md4": _crypt.MD4,  # not in OpenSSL 3's default provider
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}


def _parse_hmac(encoded: str) -> ParsedHash:
    _, scheme, hash_b64, key_b64 = _split(encoded, 4)
    digestmod = _HMAC_DIGESTS.get(scheme.removeprefix("hmac-"))
    if digestmod is None:
        raise _malformed(f"unknown hmac digest in {scheme!r}")
    # The stored value is base64 of the lower-case hex digest, not of the raw digest.
    hex_digest = _b64(hash_b64, "hash").lower()
    size = hmac.new(b"", digestmod=digestmod).digest_size
    if not re.fullmatch(rb"[0-9a-f]*", hex_digest) or len(hex_digest) != 2 * size:
        raise _malformed("hmac hash is not a hex digest of the right length")
    key = _b64(key_b64, "key")

    def check(password: bytes) -> bool:
        derived = hmac.new(key, password, digestmod=digestmod).hexdigest().encode()
        return hmac.compare_digest(derived, hex_digest)

    return ParsedHash("hmac", {}, 0, check)


# --- Unix crypt ---------------------------------------------------------------------------------

_CRYPT_LENGTHS = {"md5-crypt": 22, "sha256-crypt": 43, "sha512-crypt": 86}


def _crypt_checksum_re(scheme: str) -> re.Pattern[str]:
    return re.compile(f"[./0-9A-Za-z]{{{_CRYPT_LENGTHS[scheme]}}}")


def _parse_crypt(encoded: str) -> ParsedHash:
    # Kratos rewrites "$md5-crypt$" to "$1$", "$sha256-crypt$" to "$5$", "$sha512-crypt$" to
    # "$6$" and hands the result to a crypt(3) implementation; we parse the fields directly.
    parts = encoded.split("$")
    scheme = parts[1]
    rounds = _crypt.SHA_CRYPT_DEFAULT_ROUNDS
    if scheme != "md5-crypt" and len(parts) == 5:
        (rounds,) = _params(parts[2], ("rounds",))
        _bound("rounds", rounds, SHA_CRYPT_MAX_ROUNDS)
        del parts[2]
    if len(parts) != 4:
        raise _malformed("expected $<scheme>$[rounds=<n>$]<salt>$<checksum>")
    salt, checksum = parts[2], parts[3]
    if not _crypt_checksum_re(scheme).fullmatch(checksum):
        raise _malformed("crypt checksum has the wrong length or alphabet")
    salt_bytes, expected = salt.encode(), checksum.encode()

    def check(password: bytes) -> bool:
        if scheme == "md5-crypt":
            derived = _crypt.md5_crypt_checksum(password, salt_bytes)
        else:
            bits = 256 if scheme == "sha256-crypt" else 512
            derived = _crypt.sha_crypt_checksum(password, salt_bytes, rounds, bits=bits)
        return hmac.compare_digest(derived.encode(), expected)

    params = {} if scheme == "md5-crypt" else {"rounds": rounds}
    return ParsedHash(scheme, params, 0, check)


# --- Dispatch ---------------------------------------------------------------------------------

_BY_SCHEME: Mapping[str, Callable[[str], ParsedHash]] = {
    "2": _parse_bcrypt,
    "2a": _parse_bcrypt,
    "2b": _parse_bcrypt,
    "2y": _parse_bcrypt,
    "argon2id": _parse_argon2,
    "argon2i": _parse_argon2,
    "scrypt": _parse_scrypt,
    "firescrypt": _parse_firescrypt,
    "md5": _parse_md5,
    "sha1": _parse_sha,
    "sha256": _parse_sha,
    "sha512": _parse_sha,
    "md5-crypt": _parse_crypt,
    "sha256-crypt": _parse_crypt,
    "sha512-crypt": _parse_crypt,
}


def _parser_for(encoded: str) -> tuple[str, Callable[[str], ParsedHash]] | None:
    ssha = _SSHA_RE.match(encoded)
    if ssha is not None:
        return ssha.group(1).lower(), _parse_ssha
    if not encoded.startswith("$"):
        return None
    scheme = encoded.split("$", 2)[1]
    if scheme.startswith("pbkdf2-"):
        return "pbkdf2", _parse_pbkdf2
    if scheme.startswith("hmac-"):
        return "hmac", _parse_hmac
    parser = _BY_SCHEME.get(scheme)
    if parser is None:
        return None
    return ("bcrypt" if parser is _parse_bcrypt else scheme), parser


def identify(encoded: str) -> str | None:
    """The format an encoded hash claims by its prefix, without validating the rest.

    Args:
        encoded: A stored hash.

    Returns:
        ``"bcrypt"``, ``"argon2id"``, ``"argon2i"``, ``"pbkdf2"``, ``"scrypt"``, ``"firescrypt"``,
        ``"md5"``, ``"sha1"``, ``"sha256"``, ``"sha512"``, ``"ssha"``, ``"ssha256"``,
        ``"ssha512"``, ``"hmac"``, ``"md5-crypt"``, ``"sha256-crypt"``, ``"sha512-crypt"``, or
        ``None`` for an unknown prefix.
    """
    if not isinstance(encoded, str):
        return None
    found = _parser_for(encoded)
    return None if found is None else found[0]


def parse_hash(encoded: str) -> ParsedHash:
    """Parse and bounds-check an encoded hash; cheap (no key derivation happens here).

    Args:
        encoded: A stored or imported hash.

    Returns:
        The parsed hash.

    Raises:
        UnknownHashFormatError: No accepted format, or malformed within its format.
        HashBoundsError: Cost parameters exceed the bounds above.
    """
    if not isinstance(encoded, str) or not encoded:
        raise _malformed("the hash is empty or not a string")
    if len(encoded) > MAX_ENCODED_LENGTH:
        raise _malformed(f"the hash is longer than {MAX_ENCODED_LENGTH} characters")
    found = _parser_for(encoded)
    if found is None:
        raise _malformed("unknown hash prefix")
    return found[1](encoded)


def memory_cost(encoded: str) -> int:
    """Bytes of memory verifying against ``encoded`` needs (0 if negligible or unparseable)."""
    try:
        return parse_hash(encoded).memory_bytes
    except (UnknownHashFormatError, HashBoundsError):
        return 0

