"""Load ``kratos.yml``: files, then environment, then overrides, validated into a frozen Config.

Precedence follows Kratos (kratos-behaviour.md section 9): built-in defaults < config files (in
order, mappings deep-merged) < environment variables < explicit overrides (command-line flags).
Plugins declare the shape of the sections they own as msgspec Structs ("fragments"); those are
validated here too, so a typo in a plugin's section fails at boot with its full key path.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import tomllib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import yaml

from kratos_core.config.env import CastError, KnownPaths, cast_text, deep_merge, set_path
from kratos_core.config.errors import ConfigError
from kratos_core.config.frozen import FrozenDict, freeze
from kratos_core.config.model import METHOD_DEFAULT_ENABLED, RUNTIME_FIELDS, Config
from kratos_core.config.public_secrets import check_public_secrets
from kratos_core.config.validate import Checker, convert, format_path, type_info

__all__ = ["load_config", "read_config_file"]

logger = logging.getLogger("kratos_core.config")

_Segments = tuple[str, ...]
_CODE_ONLY_KEYS = ("passwordless_enabled", "mfa_enabled")
_MIN_BCRYPT_COST = 12
_SCALAR_KINDS = ("bool", "int", "float", "literal")
_ANY_HOST = ("", "0.0.0.0", "::", "[::]")
# libyaml's loader is several times faster; both are the safe (no arbitrary objects) variant.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(
    files: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    dev: bool = False,
    fragments: Mapping[str, type] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load, merge and validate the configuration.

    Args:
        files: Config files (YAML, JSON or TOML), merged in order; later files win.
        env: Environment variables; ``None`` means ``os.environ``. Names that match no config
            key are ignored.
        dev: Kratos's ``--dev`` mode: plain-HTTP defaults, non-secure cookies, generated secrets.
        fragments: Plugin-owned sections: dotted path -> msgspec Struct type validating it.
        overrides: Dotted path -> value, applied last (command-line flags, tests).

    Returns:
        The frozen, fully defaulted configuration.

    Raises:
        ConfigError: If a file cannot be read or parsed, or any value is invalid.
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]  # a lone path would otherwise be iterated character by character
    frag_types = _fragment_types(fragments or {})
    known = _known_paths(tuple(frag_types.items()))
    checker = _core_checker(frag_types)
    raw: dict[str, Any] = {}
    for file in files:
        raw = deep_merge(raw, read_config_file(file))
    _apply_env(raw, os.environ if env is None else env, known, checker)
    _apply_overrides(raw, overrides or {}, known)
    if dev:
        raw["dev"] = True
    explicit = _explicit_methods(raw)
    _fill_method_defaults(raw)
    config = convert(checker.check(raw, Config, ()), Config)
    config = _derive(config)
    _cross_check(config)
    built = {".".join(path): _build_fragment(raw, path, tp) for path, tp in frag_types.items()}
    return msgspec.structs.replace(
        freeze(config),
        files=tuple(str(Path(f).resolve()) for f in files),
        source_dir=os.getcwd(),
        fragments=FrozenDict(built),
        explicit_methods=explicit,
    )


# ------------------------------------------------------------------------------------- files


def read_config_file(file: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one config file (format chosen by extension and content).

    ``.toml`` is TOML; ``.json`` or content starting with ``{`` is tried as JSON first; everything
    else (and JSON-looking YAML) is YAML.

    Args:
        file: The path.

    Returns:
        The top-level mapping (empty for an empty file).

    Raises:
        ConfigError: If the file cannot be read, parsed, or is not a mapping.
    """
    name = os.fspath(file)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "", f"cannot be read: {getattr(exc, 'strerror', None) or exc}", file=name
        ) from None
    data = _parse(name, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("", "the top level must be a mapping of config keys", file=name)
    return data


def _parse(name: str, text: str) -> Any:
    suffix = Path(name).suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("", f"invalid TOML: {exc}", file=name) from None
    if suffix == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if suffix == ".json":
                raise ConfigError(
                    "", f"invalid JSON: {exc.msg}", file=name, line=exc.lineno
                ) from None
    try:
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError("", f"invalid YAML: {problem}", file=name, line=line) from None


# ------------------------------------------------------------------------ env and overrides


def _apply_env(
    raw: dict[str, Any], env: Mapping[str, str], known: KnownPaths, checker: Checker
) -> None:
    matches = []
    for name, text in env.items():
        match = known.match_env(name) if text != "" else None
        if match is not None:
            matches.append((match[0], match[1], name, text))
    # Whole objects first, so SERVE_PUBLIC_PORT still wins over a SERVE_PUBLIC JSON document.
    for path, tp, name, text in sorted(matches, key=lambda m: (len(m[0]), m[2])):
        source = f"environment variable {name}"
        value = _cast(text, tp, path, source)
        _check_leaf(checker, value, tp, path, source)
        _set(raw, path, value, source)


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any], known: KnownPaths) -> None:
    for dotted, value in overrides.items():
        path = _override_path(raw, dotted, known)
        tp = known.type_at(path)
        # Command-line flags may arrive as text; scalars get the environment's casting.
        if isinstance(value, str) and tp is not None and type_info(tp).kind in _SCALAR_KINDS:
            value = _cast(value, tp, path, None)
        _set(raw, path, value, None)


def _override_path(raw: dict[str, Any], dotted: str, known: KnownPaths) -> tuple[str | int, ...]:
    path: list[str | int] = []
    node: Any = raw
    for segment in dotted.split("."):
        as_index = segment.isdigit() and (
            isinstance(node, list) or (node is None and _is_seq(known.type_at(path)))
        )
        step: str | int = int(segment) if as_index else segment
        path.append(step)
        node = _child(node, step)
    return tuple(path)


def _is_seq(tp: Any) -> bool:
    return tp is not None and type_info(tp).kind == "seq"


def _child(node: Any, step: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and step < len(node):
        return node[step]
    return None


def _cast(text: str, tp: Any, path: tuple[str | int, ...], source: str | None) -> Any:
    try:
        return cast_text(text, tp)
    except CastError as exc:
        raise ConfigError(format_path(path), str(exc), source=source) from None


def _check_leaf(
    checker: Checker, value: Any, tp: Any, path: tuple[str | int, ...], source: str
) -> None:
    try:
        checker.check(value, tp, path)
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.message, source=source) from None


def _set(raw: dict[str, Any], path: tuple[str | int, ...], value: Any, source: str | None) -> None:
    try:
        set_path(raw, path, value)
    except CastError as exc:
        raise ConfigError(format_path(path), str(exc), source=source) from None


# --------------------------------------------------------------------------------- fragments


def _fragment_types(fragments: Mapping[str, type]) -> dict[_Segments, type]:
    out = {}
    for dotted, tp in fragments.items():
        if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
            raise TypeError(f"config fragment {dotted!r} must be a msgspec.Struct type, got {tp!r}")
        path = tuple(dotted.split("."))
        if not dotted or "" in path:
            raise ValueError(f"invalid config fragment path {dotted!r}")
        out[path] = tp
    return out


@lru_cache(maxsize=64)
def _known_paths(frag_items: tuple[tuple[_Segments, type], ...]) -> KnownPaths:
    # Building the table walks the whole model; plugin sets repeat across loads (tests, reloads).
    methods = {("selfservice", "methods"): tuple(METHOD_DEFAULT_ENABLED)}
    return KnownPaths(Config, dict(frag_items), methods, RUNTIME_FIELDS)


def _core_checker(frag_types: Mapping[_Segments, type]) -> Checker:
    owned = set()
    for path in frag_types:
        owned.update(path[:i] for i in range(1, len(path) + 1))
    return Checker(owned=frozenset(owned), lenient=frozenset(frag_types), reserved=RUNTIME_FIELDS)


def _build_fragment(raw: Mapping[str, Any], path: _Segments, tp: type) -> Any:
    section: Any = raw
    for segment in path:
        section = section.get(segment) if isinstance(section, Mapping) else None
    checked = Checker(forbid_all=True).check({} if section is None else section, tp, path)
    return convert(checked, tp, path)


# --------------------------------------------------------------------------- derived defaults


def _explicit_methods(raw: Mapping[str, Any]) -> tuple[str, ...]:
    selfservice = raw.get("selfservice")
    methods = selfservice.get("methods") if isinstance(selfservice, Mapping) else None
    if not isinstance(methods, Mapping):
        return ()
    return tuple(
        name
        for name, entry in methods.items()
        if isinstance(entry, Mapping) and entry.get("enabled") is True
    )


def _fill_method_defaults(raw: dict[str, Any]) -> None:
    selfservice = raw.get("selfservice")
    if not isinstance(selfservice, dict):
        return  # the checker reports a missing or malformed selfservice section
    methods = selfservice.setdefault("methods", {})
    if not isinstance(methods, dict):
        return
    for name, enabled in METHOD_DEFAULT_ENABLED.items():
        entry = methods.setdefault(name, {})
        if not isinstance(entry, dict):
            continue
        entry.setdefault("enabled", enabled)
        for key in _CODE_ONLY_KEYS:
            if name != "code" and key in entry:
                raise ConfigError(
                    f"selfservice.methods.{name}.{key}",
                    f'unknown key "{key}" (only the code method has it)',
                )


def _derive(config: Config) -> Config:
    dev = config.dev
    serve = config.serve
    public = msgspec.structs.replace(
        serve.public, base_url=_base_url(serve.public, "serve.public", dev)
    )
    admin = msgspec.structs.replace(
        serve.admin, base_url=_base_url(serve.admin, "serve.admin", dev)
    )
    cookies = config.cookies
    if cookies.secure is None:
        cookies = msgspec.structs.replace(cookies, secure=not dev)
    return msgspec.structs.replace(
        config,
        serve=msgspec.structs.replace(serve, public=public, admin=admin),
        cookies=cookies,
        session=_derive_session(config.session, cookies),
        hashers=_derive_hashers(config.hashers, dev),
        secrets=_derive_secrets(config),
    )


def _base_url(section: Any, where: str, dev: bool) -> str:
    url = section.base_url
    if url is None:
        host = socket.gethostname() if section.host in _ANY_HOST else section.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{'http' if dev else 'https'}://{host}:{section.port}/"
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ConfigError(
            f"{where}.base_url",
            f'expected an absolute URL such as "https://auth.example.org/", got "{url}"',
        )
    # Kratos joins paths onto the base URL, which only works with a trailing slash.
    return url if url.endswith("/") else url + "/"


def _derive_session(session: Any, cookies: Any) -> Any:
    cookie = session.cookie
    cookie = msgspec.structs.replace(
        cookie,
        domain=cookie.domain if cookie.domain is not None else cookies.domain,
        path=cookie.path if cookie.path is not None else cookies.path,
        same_site=cookie.same_site if cookie.same_site is not None else cookies.same_site,
        secure=cookie.secure if cookie.secure is not None else cookies.secure,
    )
    extend = session.earliest_possible_extend
    return msgspec.structs.replace(
        session,
        cookie=cookie,
        earliest_possible_extend=session.lifespan if extend is None else extend,
    )


def _derive_hashers(hashers: Any, dev: bool) -> Any:
    argon2 = hashers.argon2
    if argon2.parallelism is None:
        argon2 = msgspec.structs.replace(argon2, parallelism=2 * (os.cpu_count() or 1))
    bcrypt = hashers.bcrypt
    if bcrypt.cost < _MIN_BCRYPT_COST and not dev:
        logger.warning(
            "hashers.bcrypt.cost %d is below the minimum of %d outside dev mode; using %d",
            bcrypt.cost,
            _MIN_BCRYPT_COST,
            _MIN_BCRYPT_COST,
        )
        bcrypt = msgspec.structs.replace(bcrypt, cost=_MIN_BCRYPT_COST)
    return msgspec.structs.replace(hashers, argon2=argon2, bcrypt=bcrypt)


def _derive_secrets(config: Config) -> Any:
    current = config.secrets
    check_public_secrets(current, dev=config.dev)
    if current.default or current.cookie:
        return current
    if not config.dev:
        raise ConfigError(
            "secrets.default",
            "a value is required: set secrets.default or secrets.cookie to a list of secrets "
            "of at least 16 characters (only --dev mode generates one)",
        )
    logger.warning(
        "no secrets.default or secrets.cookie configured; generated a random one for this dev "
        "process, so sessions and cookies will not survive a restart"
    )
    return msgspec.structs.replace(current, default=(secrets.token_urlsafe(32),))


def _cross_check(config: Config) -> None:
    ids = [schema.id for schema in config.identity.schemas]
    if not ids:
        raise ConfigError("identity.schemas", "expected at least one identity schema")
    for index, schema_id in enumerate(ids):
        if schema_id in ids[:index]:
            raise ConfigError(
                f"identity.schemas.{index}.id", f'duplicate identity schema id "{schema_id}"'
            )
    if config.identity.default_schema_id not in ids:
        raise ConfigError(
            "identity.default_schema_id",
            f'no identity schema has the id "{config.identity.default_schema_id}" '
            f"(configured ids: {', '.join(ids)})",
        )
    if config.ciphers.algorithm != "noop" and not config.secrets.cipher:
        raise ConfigError(
            "secrets.cipher",
            f'a value is required when ciphers.algorithm is "{config.ciphers.algorithm}": '
            "a list of secrets of exactly 32 characters",
        )
