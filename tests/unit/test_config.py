"""Loading kratos.yml: files, defaults, validation errors, secrets, fragments, derived values."""

from __future__ import annotations

import logging
import textwrap
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from kratos_core.config import (
    Config,
    ConfigError,
    format_duration,
    load_config,
    parse_bytes,
    parse_duration,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
dsn: memory
selfservice:
  default_browser_return_url: http://127.0.0.1:4455/
identity:
  schemas:
    - id: default
      url: file://./identity.schema.json
secrets:
  cookie:
    - a-cookie-secret-of-32-characters
"""


def write(tmp_path: Path, text: str, name: str = "kratos.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str = MINIMAL, **kwargs) -> Config:
    kwargs.setdefault("env", {})
    return load_config([write(tmp_path, text)], **kwargs)


def load_error(tmp_path: Path, text: str = MINIMAL, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **kwargs)
    return info.value


# ------------------------------------------------------------------------ realistic configs

EMAIL_PASSWORD = """
version: v0.13.0
dsn: memory
serve:
  public:
    base_url: http://127.0.0.1:4433/
    cors:
      enabled: true
  admin:
    base_url: http://kratos:4434/
selfservice:
  default_browser_return_url: http://127.0.0.1:4455/welcome
  allowed_return_urls:
    - http://127.0.0.1:4455
    - exp://localhost:8081/--/Callback
  methods:
    password:
      enabled: true
    totp:
      config:
        issuer: Kratos
      enabled: true
    lookup_secret:
      enabled: true
    link:
      enabled: true
    code:
      enabled: true
  flows:
    error:
      ui_url: http://127.0.0.1:4455/error
    settings:
      ui_url: http://127.0.0.1:4455/settings
      privileged_session_max_age: 15m
      required_aal: highest_available
    recovery:
      enabled: true
      ui_url: http://127.0.0.1:4455/recovery
      use: code
    verification:
      enabled: true
      ui_url: http://127.0.0.1:4455/verification
      use: code
      after:
        default_browser_return_url: http://127.0.0.1:4455/welcome
    logout:
      after:
        default_browser_return_url: http://127.0.0.1:4455/login
    login:
      ui_url: http://127.0.0.1:4455/login
      lifespan: 10m
    registration:
      lifespan: 10m
      ui_url: http://127.0.0.1:4455/registration
      after:
        password:
          hooks:
            - hook: session
            - hook: show_verification_ui
log:
  level: debug
  format: text
  leak_sensitive_values: true
secrets:
  cookie:
    - PLEASE-CHANGE-ME-I-AM-VERY-INSECURE
  cipher:
    - 32-LONG-SECRET-NOT-SECURE-AT-ALL
ciphers:
  algorithm: xchacha20-poly1305
hashers:
  algorithm: bcrypt
  bcrypt:
    cost: 8
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file:///etc/config/kratos/identity.schema.json
courier:
  smtp:
    connection_uri: smtps://test:test@mailslurper:1025/?skip_ssl_verify=true
feature_flags:
  use_continue_with_transitions: true
"""

# No dsn in the file: the quickstart's docker-compose passes DSN in the environment.
PASSKEY = """
serve:
  public:
    base_url: http://localhost:4433/
  admin:
    base_url: http://kratos:4434/
session:
  whoami:
    required_aal: aal1
selfservice:
  default_browser_return_url: http://localhost:4455/welcome
  methods:
    link:
      config:
        lifespan: 1h
    code:
      passwordless_enabled: true
      config:
        lifespan: 1h
    webauthn:
      enabled: true
      config:
        passwordless: true
        rp:
          id: localhost
          origin: http://localhost:4455
          display_name: Ory
    passkey:
      enabled: true
      config:
        rp:
          id: localhost
          origins:
            - http://localhost:4455
          display_name: Ory
  flows:
    settings:
      ui_url: http://localhost:4455/settings
      privileged_session_max_age: 5m
      required_aal: aal1
    registration:
      ui_url: http://localhost:4455/registration
      after:
        passkey:
          hooks:
            - hook: session
    login:
      ui_url: http://localhost:4455/login
secrets:
  cookie:
    - PLEASE-CHANGE-ME-I-AM-VERY-INSECURE
identity:
  schemas:
    - id: default
      url: file://contrib/quickstart/kratos/passkey/identity.schema.json
"""

PHONE_PASSWORD = """
dsn: sqlite:///var/lib/sqlite/db.sqlite?_fk=true
selfservice:
  default_browser_return_url: http://127.0.0.1:4455/welcome
  flows:
    verification:
      enabled: true
      use: code
secrets:
  default:
    - a-default-secret-of-enough-length
identity:
  schemas:
    - id: default
      url: base64://e30=
courier:
  channels:
    - id: sms
      type: http
      request_config:
        url: https://api.twilio.com/2010-04-01/Accounts/AX/Messages.json
        method: POST
        body: base64://ZnVuY3Rpb24oY3R4KSB7fQ==
        headers:
          Content-Type: application/x-www-form-urlencoded
        auth:
          type: basic_auth
          config:
            user: AX
            password: XX
"""


def test_email_password_quickstart_loads_with_its_values(tmp_path):
    # The quickstarts carry Kratos's public example secrets: they load only under --dev.
    config = load(tmp_path, EMAIL_PASSWORD, dev=True)

    assert config.version == "v0.13.0"
    assert config.serve.admin.base_url == "http://kratos:4434/"
    assert config.serve.public.cors.enabled is True
    assert config.selfservice.flows.login.lifespan == timedelta(minutes=10)
    assert config.selfservice.flows.settings.privileged_session_max_age == timedelta(minutes=15)
    assert [h.hook for h in config.selfservice.flows.registration.after.password.hooks] == [
        "session",
        "show_verification_ui",
    ]
    assert config.selfservice.methods["totp"].enabled is True
    assert config.selfservice.methods["totp"].config == {"issuer": "Kratos"}
    assert config.ciphers.algorithm == "xchacha20-poly1305"
    assert config.feature_flags.use_continue_with_transitions is True
    assert config.log.leak_sensitive_values is True


def test_passkey_quickstart_loads_with_dsn_from_environment(tmp_path):
    config = load(tmp_path, PASSKEY, env={"DSN": "memory"}, dev=True)

    assert config.dsn == "memory"
    assert config.session.whoami.required_aal == "aal1"
    assert config.selfservice.methods["code"].passwordless_enabled is True
    assert config.selfservice.methods["webauthn"].config["rp"]["origin"] == "http://localhost:4455"
    assert config.selfservice.flows.registration.after.passkey.hooks[0].hook == "session"


def test_phone_password_quickstart_loads_sms_channel(tmp_path):
    config = load(tmp_path, PHONE_PASSWORD, dev=True)

    (channel,) = config.courier.channels
    assert channel.id == "sms"
    assert channel.type == "http"
    assert channel.request_config["auth"]["config"]["user"] == "AX"
    assert config.selfservice.flows.verification.enabled is True


def test_repository_dev_config_loads(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    config = load_config(["config/kratos.yml"], env={}, dev=True)

    assert config.dsn == "sqlite://./kratos.sqlite?_fk=true"
    assert config.serve.public.base_url == "http://127.0.0.1:4433/"
    assert config.serve.admin.base_url == "http://127.0.0.1:4434/"
    assert config.hashers.algorithm == "argon2"
    assert config.hashers.argon2.memory == 19 * 1024 * 1024
    assert (config.hashers.argon2.iterations, config.hashers.argon2.parallelism) == (2, 1)
    assert config.selfservice.flows.login.lifespan == timedelta(hours=1)
    assert config.selfservice.flows.registration.after.password.hooks[0].hook == "session"
    assert config.courier.smtp.connection_uri == "smtp://127.0.0.1:1025/?disable_starttls=true"
    schema_path = config.resolve_path(config.identity.schemas[0].url)
    assert schema_path == REPO_ROOT / "config" / "identity.schema.json"
    assert schema_path.is_file()


# ---------------------------------------------------------------------------------- defaults


def test_minimal_config_gets_kratos_defaults(tmp_path):
    config = load(tmp_path)

    assert config.dev is False
    assert (config.serve.public.host, config.serve.public.port) == ("0.0.0.0", 4433)
    assert config.serve.admin.port == 4434
    assert config.serve.public.cors.allowed_origins == ("*",)
    assert config.serve.public.cors.allow_credentials is True
    flows = config.selfservice.flows
    assert flows.login.lifespan == timedelta(hours=1)
    assert flows.login.style == "unified"
    assert flows.login.ui_url == "https://www.ory.com/kratos/docs/fallback/login"
    assert flows.registration.enabled is True
    assert flows.registration.style == "profile_first"
    assert flows.settings.required_aal == "highest_available"
    assert flows.recovery.enabled is False
    assert flows.recovery.use == "code"
    assert flows.verification.enabled is False
    assert flows.logout.clear_browser_data is False
    assert config.session.lifespan == timedelta(hours=24)
    assert config.session.cookie.name == "ory_kratos_session"
    assert config.session.cookie.persistent is True
    assert config.cookies.path == "/"
    assert config.cookies.same_site == "Lax"
    assert config.hashers.algorithm == "bcrypt"
    assert config.hashers.bcrypt.cost == 12
    assert config.hashers.argon2.memory == 128 * 1024 * 1024
    assert config.hashers.argon2.expected_duration == timedelta(milliseconds=500)
    assert config.identity.default_schema_id == "default"
    assert config.courier.smtp.from_address == "no-reply@ory.kratos.sh"
    assert config.courier.message_retries == 5
    assert config.courier.worker.pull_wait == timedelta(seconds=1)
    assert config.log.level == "info"
    assert config.ciphers.algorithm == "noop"
    assert config.database.cleanup.batch_size == 100
    assert config.feature_flags.faster_session_extend is False
    assert config.feature_flags.password_profile_registration_node_group == "default"
    assert config.security.account_enumeration.mitigate is False
    assert config.oauth2_provider.override_return_to is False


def test_every_builtin_method_has_kratos_default_enabled(tmp_path):
    methods = load(tmp_path).selfservice.methods

    enabled = {name: methods[name].enabled for name in methods}
    assert enabled == {
        "password": True,
        "code": True,
        "profile": True,
        "link": False,
        "totp": False,
        "lookup_secret": False,
        "webauthn": False,
        "passkey": False,
        "oidc": False,
    }


def test_unknown_method_names_are_kept_for_plugins(tmp_path):
    config = load(
        tmp_path,
        overrides={"selfservice.methods.magic_link": {"enabled": True, "config": {"x": 1}}},
    )

    assert config.selfservice.methods["magic_link"].enabled is True
    assert config.selfservice.methods["magic_link"].config == {"x": 1}


def test_derived_defaults_follow_lifespan_and_cookies(tmp_path):
    config = load(
        tmp_path,
        MINIMAL
        + "session:\n  lifespan: 2h\ncookies:\n  domain: example.org\n  same_site: Strict\n",
    )

    assert config.session.earliest_possible_extend == timedelta(hours=2)
    assert config.session.cookie.domain == "example.org"
    assert config.session.cookie.same_site == "Strict"
    assert config.session.cookie.path == "/"
    assert config.cookies.secure is True
    assert config.session.cookie.secure is True


def test_cookies_are_not_secure_by_default_in_dev(tmp_path):
    config = load(tmp_path, dev=True)

    assert config.dev is True
    assert config.cookies.secure is False
    assert config.session.cookie.secure is False


def test_low_bcrypt_cost_is_raised_outside_dev_only(tmp_path):
    text = MINIMAL + "hashers:\n  bcrypt:\n    cost: 4\n"

    assert load(tmp_path, text).hashers.bcrypt.cost == 12
    assert load(tmp_path, text, dev=True).hashers.bcrypt.cost == 4


def test_after_hooks_fall_back_to_the_global_list(tmp_path):
    text = MINIMAL.replace(
        "selfservice:\n",
        """selfservice:
  flows:
    login:
      after:
        default_browser_return_url: https://app.example.org/
        hooks:
          - hook: require_verified_address
        oidc:
          hooks:
            - hook: web_hook
              config:
                url: https://hooks.example.org/
""",
    )
    after = load(tmp_path, text).selfservice.flows.login.after

    assert [h.hook for h in after.hooks_for("password")] == ["require_verified_address"]
    assert after.hooks_for("oidc")[0].config == {"url": "https://hooks.example.org/"}
    assert after.return_url_for("password") == "https://app.example.org/"


# ----------------------------------------------------------------------------- immutability


def test_config_is_deeply_immutable(tmp_path):
    # The quickstarts carry Kratos's public example secrets: they load only under --dev.
    config = load(tmp_path, EMAIL_PASSWORD, dev=True)

    with pytest.raises(AttributeError):
        config.dsn = "postgres://x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.serve.public.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.selfservice.methods["password"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        config.selfservice.methods["totp"].config["issuer"] = "evil"  # type: ignore[index]
    assert isinstance(config.selfservice.allowed_return_urls, tuple)
    assert isinstance(config.secrets.cookie, tuple)
    assert isinstance(config.selfservice.flows.registration.after.password.hooks, tuple)


# -------------------------------------------------------------------------- unknown keys, types


@pytest.mark.parametrize(
    ("overrides", "path", "hint"),
    [
        ({"dsnn": "memory"}, "dsnn", '"dsn"'),
        ({"selfservice.flows.logn": {}}, "selfservice.flows.logn", '"login"'),
        (
            {"selfservice.flows.login.after.password.hookz": []},
            "selfservice.flows.login.after.password.hookz",
            '"hooks"',
        ),
        ({"identity.schemas.0.urll": "x"}, "identity.schemas.0.urll", '"url"'),
        ({"watch_courier": True}, "watch_courier", '"watch-courier"'),
        ({"serve.public.cors.enable": True}, "serve.public.cors.enable", '"enabled"'),
    ],
)
def test_unknown_key_names_its_path_and_suggests_the_right_one(tmp_path, overrides, path, hint):
    error = load_error(tmp_path, overrides=overrides)

    assert error.path == path
    assert f'config key "{path}"' in str(error)
    assert "unknown key" in str(error)
    assert f"did you mean {hint}" in str(error)


def test_unknown_key_in_a_file_is_reported(tmp_path):
    error = load_error(tmp_path, MINIMAL + "selfservice_typo: {}\n")

    assert error.path == "selfservice_typo"


def test_runtime_attributes_are_not_config_keys(tmp_path):
    error = load_error(tmp_path, overrides={"source_dir": "/tmp"})

    assert error.path == "source_dir"


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        ({"serve.public.port": "http"}, "serve.public.port", 'expected an integer, got "http"'),
        (
            {"serve.public.port": 70000},
            "serve.public.port",
            "expected an integer <= 65535, got 70000",
        ),
        (
            {"selfservice.flows.registration.enabled": "yes"},
            "selfservice.flows.registration.enabled",
            "expected a boolean",
        ),
        ({"log.level": "loud"}, "log.level", 'expected one of "trace", "debug", "info"'),
        (
            {"selfservice.allowed_return_urls": "http://x"},
            "selfservice.allowed_return_urls",
            "expected a list",
        ),
        (
            {"identity.schemas": [{"id": 1, "url": "x"}]},
            "identity.schemas.0.id",
            "expected a string, got 1",
        ),
        ({"selfservice.flows.login": "fast"}, "selfservice.flows.login", "expected an object"),
        (
            {"courier.smtp.connection_uri": "http://mail"},
            "courier.smtp.connection_uri",
            "^smtps?://",
        ),
    ],
)
def test_wrong_type_names_path_and_expectation(tmp_path, overrides, path, expected):
    error = load_error(tmp_path, overrides=overrides)

    assert error.path == path
    assert expected in error.message
    assert str(error).startswith(f'config key "{path}": ')


def test_duration_error_reads_like_kratos(tmp_path):
    error = load_error(tmp_path, overrides={"selfservice.flows.login.lifespan": "abc"})

    assert str(error) == (
        'config key "selfservice.flows.login.lifespan": '
        'expected a duration such as "1h" or "30m", got "abc"'
    )


def test_plain_integer_is_not_a_duration(tmp_path):
    error = load_error(tmp_path, MINIMAL + "session:\n  lifespan: 3600\n")

    assert error.path == "session.lifespan"
    assert "got 3600" in error.message


# --------------------------------------------------------------------------- durations, bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("15m", timedelta(minutes=15)),
        ("1.5h", timedelta(minutes=90)),
        ("300s", timedelta(seconds=300)),
        ("2h45m30.5s", timedelta(hours=2, minutes=45, seconds=30.5)),
        ("100us", timedelta(microseconds=100)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration_reads_go_syntax(text, expected):
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["10", "1d", "abc", "", "h", "1 h", "1h-30m"])
def test_parse_duration_rejects_non_go_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_is_compact():
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(milliseconds=500)) == "500ms"
    assert format_duration(timedelta(0)) == "0s"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("128MB", 128 * 1024 * 1024),
        ("1GB", 1024**3),
        ("19MB", 19 * 1024 * 1024),
        ("64KB", 64 * 1024),
        ("64KiB", 64 * 1024),
        ("512B", 512),
        (4096, 4096),
    ],
)
def test_parse_bytes(value, expected):
    assert parse_bytes(value) == expected


@pytest.mark.parametrize("value", ["lots", "12XB", -1, True])
def test_parse_bytes_rejects_garbage(value):
    with pytest.raises(ValueError):
        parse_bytes(value)


def test_argon2_memory_accepts_sizes_and_reports_bad_ones(tmp_path):
    config = load(
        tmp_path, MINIMAL + "hashers:\n  argon2:\n    memory: 64MB\n    dedicated_memory: 2GB\n"
    )
    assert config.hashers.argon2.memory == 64 * 1024 * 1024
    assert config.hashers.argon2.dedicated_memory == 2 * 1024**3

    error = load_error(tmp_path, MINIMAL + "hashers:\n  argon2:\n    memory: plenty\n")
    assert error.path == "hashers.argon2.memory"
    assert 'expected a byte size such as "128MB", got "plenty"' in error.message


# ------------------------------------------------------------------------------ required keys


@pytest.mark.parametrize(
    ("remove", "path"),
    [
        ("dsn: memory\n", "dsn"),
        (
            "  default_browser_return_url: http://127.0.0.1:4455/\n",
            "selfservice.default_browser_return_url",
        ),
        (
            "  schemas:\n    - id: default\n      url: file://./identity.schema.json\n",
            "identity.schemas",
        ),
    ],
)
def test_required_keys_fail_when_missing(tmp_path, remove, path):
    text = MINIMAL.replace(remove, "")
    if path == "selfservice.default_browser_return_url":
        text = text.replace("selfservice:\n", "selfservice:\n  allowed_return_urls: []\n")
    if path == "identity.schemas":
        text = text.replace("identity:\n", "identity:\n  default_schema_id: default\n")

    error = load_error(tmp_path, text)

    assert error.path == path
    assert "required" in error.message


def test_default_schema_id_must_name_a_schema(tmp_path):
    error = load_error(tmp_path, overrides={"identity.default_schema_id": "customer"})

    assert error.path == "identity.default_schema_id"
    assert '"customer"' in error.message


# ------------------------------------------------------------------------------------ secrets

NO_SECRETS = MINIMAL.split("secrets:")[0]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (NO_SECRETS + "secrets:\n  cookie: [PLEASE-CHANGE-ME-I-AM-VERY-INSECURE]\n", "secrets.cookie.0"),
        (
            NO_SECRETS
            + "secrets:\n  cookie: [a-real-and-random-9f8e7d6c]\n  cipher: [32-LONG-SECRET-NOT-SECURE-AT-ALL]\n",
            "secrets.cipher.0",
        ),
        (NO_SECRETS + "secrets:\n  default: [my-secret-CHANGEME-later]\n", "secrets.default.0"),
    ],
)
def test_public_example_secrets_are_refused_outside_dev(tmp_path, text, path):
    error = load_error(tmp_path, text)

    assert error.path == path
    assert "publicly known example secret" in error.message and "--dev" in error.message
    assert "INSECURE" not in str(error) and "NOT-SECURE" not in str(error)


def test_public_example_secrets_are_refused_from_the_environment_too(tmp_path):
    error = load_error(tmp_path, NO_SECRETS, env={"SECRETS_COOKIE": "PLEASE-CHANGE-ME-I-AM-VERY-INSECURE"})

    assert error.path == "secrets.cookie.0"


def test_public_example_secrets_warn_loudly_under_dev(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kratos_core.config"):
        config = load(tmp_path, EMAIL_PASSWORD, dev=True)

    assert config.secrets_for("cookie") == ("PLEASE-CHANGE-ME-I-AM-VERY-INSECURE",)
    warnings = [r.getMessage() for r in caplog.records if "INSECURE: secrets." in r.getMessage()]
    assert {w.split()[1] for w in warnings} == {"secrets.cookie.0", "secrets.cipher.0"}


def test_secrets_are_required_outside_dev(tmp_path):
    error = load_error(tmp_path, NO_SECRETS)

    assert error.path.startswith("secrets")
    assert "--dev" in error.message


def test_dev_mode_generates_a_secret_and_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="kratos_core.config"):
        config = load(tmp_path, NO_SECRETS, dev=True)

    (generated,) = config.secrets_for("cookie")
    assert len(generated) >= 16
    assert config.secrets_for("default") == (generated,)
    assert any("secret" in record.getMessage() for record in caplog.records)


def test_cookie_secrets_fall_back_to_default(tmp_path):
    text = NO_SECRETS + "secrets:\n  default:\n    - the-default-secret-value\n"
    config = load(tmp_path, text)

    assert config.secrets_for("cookie") == ("the-default-secret-value",)
    assert config.secrets_for("cipher") == ()


def test_cookie_secrets_take_precedence_over_default(tmp_path):
    text = (
        NO_SECRETS
        + "secrets:\n  default: [the-default-secret-value]\n  cookie: [the-cookie-secret-value-1, old-cookie-secret-value]\n"
    )

    assert load(tmp_path, text).secrets_for("cookie") == (
        "the-cookie-secret-value-1",
        "old-cookie-secret-value",
    )


def test_short_secret_fails_without_echoing_it(tmp_path):
    error = load_error(tmp_path, NO_SECRETS + "secrets:\n  cookie: [tooshort]\n")

    assert error.path == "secrets.cookie.0"
    assert "at least 16 characters" in error.message
    assert "tooshort" not in str(error)


def test_cipher_secret_must_be_exactly_32_characters(tmp_path):
    error = load_error(tmp_path, overrides={"secrets.cipher": ["x" * 31]})

    assert error.path == "secrets.cipher.0"
    assert "exactly 32 characters" in error.message
    assert load(tmp_path, overrides={"secrets.cipher": ["x" * 32]}).secrets.cipher == ("x" * 32,)


def test_encrypting_cipher_needs_cipher_secrets(tmp_path):
    error = load_error(tmp_path, overrides={"ciphers.algorithm": "aes"})

    assert error.path == "secrets.cipher"


def test_to_dict_redacts_secrets_and_passwords(tmp_path):
    config = load(
        tmp_path, EMAIL_PASSWORD, overrides={"dsn": "postgres://kratos:hunter2@db:5432/kratos"}, dev=True
    )
    dumped = config.to_dict()

    assert dumped["secrets"]["cookie"] == ["<redacted>"]
    assert "hunter2" not in dumped["dsn"]
    assert "test:test" not in dumped["courier"]["smtp"]["connection_uri"]
    assert dumped["selfservice"]["flows"]["login"]["lifespan"] == "10m"
    assert dumped["serve"]["public"]["base_url"] == "http://127.0.0.1:4433/"
    assert "files" not in dumped


# ---------------------------------------------------------------------------------- files


def test_later_files_win_and_mappings_merge(tmp_path):
    first = write(
        tmp_path, MINIMAL + "serve:\n  public:\n    port: 4000\n    host: 127.0.0.1\n", "a.yml"
    )
    second = write(
        tmp_path,
        "serve:\n  public:\n    port: 5000\nselfservice:\n  allowed_return_urls: [https://b.example/]\n",
        "b.yml",
    )

    config = load_config([first, second], env={})

    assert config.serve.public.port == 5000
    assert config.serve.public.host == "127.0.0.1"
    assert config.selfservice.default_browser_return_url == "http://127.0.0.1:4455/"
    assert config.selfservice.allowed_return_urls == ("https://b.example/",)
    assert config.files == (str(first.resolve()), str(second.resolve()))


def test_json_and_toml_files_load(tmp_path):
    json_file = write(
        tmp_path,
        '{"dsn": "memory", "selfservice": {"default_browser_return_url": "http://x/"},'
        ' "identity": {"schemas": [{"id": "default", "url": "file:///s.json"}]},'
        ' "secrets": {"cookie": ["0123456789abcdef"]}}',
        "kratos.json",
    )
    toml_file = write(tmp_path, "[serve.public]\nport = 4999\n", "extra.toml")

    config = load_config([json_file, toml_file], env={})

    assert config.selfservice.default_browser_return_url == "http://x/"
    assert config.serve.public.port == 4999


def test_unparsable_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "dsn: memory\nserve:\n  public: [unclosed\n  admin: {}\n")

    with pytest.raises(ConfigError) as info:
        load_config([path], env={})

    assert info.value.file == str(path)
    assert info.value.line is not None
    assert str(path) in str(info.value)
    assert f"line {info.value.line}" in str(info.value)


def test_unparsable_json_names_file_and_line(tmp_path):
    path = write(tmp_path, '{\n  "dsn": "memory",\n  "serve": }\n', "kratos.json")

    with pytest.raises(ConfigError) as info:
        load_config([path], env={})

    assert info.value.line == 3
    assert "kratos.json" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config([tmp_path / "nope.yml"], env={})

    assert "nope.yml" in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config([write(tmp_path, "- a\n- b\n")], env={})

    assert "mapping" in str(info.value)


def test_overrides_win_over_files(tmp_path):
    config = load(tmp_path, overrides={"serve.public.port": 7000, "log.level": "error"})

    assert config.serve.public.port == 7000
    assert config.log.level == "error"


# -------------------------------------------------------------------------------- base URLs


def test_base_url_gets_a_trailing_slash(tmp_path):
    config = load(
        tmp_path,
        overrides={
            "serve.public.base_url": "https://auth.example.org/.ory/kratos/public",
            "serve.admin.base_url": "http://admin.internal:4434",
        },
    )

    assert config.serve.public.base_url == "https://auth.example.org/.ory/kratos/public/"
    assert config.serve.admin.base_url == "http://admin.internal:4434/"


def test_derived_base_urls_use_host_port_and_dev_scheme(tmp_path):
    overrides = {
        "serve.public.host": "auth.local",
        "serve.public.port": 8433,
        "serve.admin.host": "127.0.0.1",
    }

    dev = load(tmp_path, overrides=overrides, dev=True)
    prod = load(tmp_path, overrides=overrides)

    assert dev.serve.public.base_url == "http://auth.local:8433/"
    assert dev.serve.admin.base_url == "http://127.0.0.1:4434/"
    assert prod.serve.public.base_url == "https://auth.local:8433/"


def test_derived_base_url_on_all_interfaces_uses_the_hostname(tmp_path):
    url = load(tmp_path).serve.public.base_url

    assert url.startswith("https://")
    assert url.endswith(":4433/")
    assert "0.0.0.0" not in url


def test_relative_base_url_is_rejected(tmp_path):
    error = load_error(tmp_path, overrides={"serve.public.base_url": "/kratos"})

    assert error.path == "serve.public.base_url"


# -------------------------------------------------------------------------------- fragments


class PasswordConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    min_password_length: int = 8
    haveibeenpwned_enabled: bool = True
    lookup_timeout: timedelta = timedelta(seconds=5)


class SmsSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    provider: str
    retries: int = 3


PASSWORD_PATH = "selfservice.methods.password.config"


def test_fragment_is_validated_and_returned(tmp_path):
    text = MINIMAL.replace(
        "selfservice:\n",
        "selfservice:\n  methods:\n    password:\n      config:\n        min_password_length: 10\n        lookup_timeout: 2s\n",
    )
    config = load(tmp_path, text, fragments={PASSWORD_PATH: PasswordConfig})

    fragment = config.fragment(PASSWORD_PATH)
    assert fragment == PasswordConfig(min_password_length=10, lookup_timeout=timedelta(seconds=2))
    assert config.selfservice.methods["password"].config["min_password_length"] == 10


def test_absent_fragment_is_built_from_defaults(tmp_path):
    config = load(tmp_path, fragments={PASSWORD_PATH: PasswordConfig})

    assert config.fragment(PASSWORD_PATH) == PasswordConfig()


def test_unknown_key_inside_fragment_names_the_full_path(tmp_path):
    error = load_error(
        tmp_path,
        fragments={PASSWORD_PATH: PasswordConfig},
        overrides={f"{PASSWORD_PATH}.min_pasword_length": 6},
    )

    assert error.path == f"{PASSWORD_PATH}.min_pasword_length"
    assert 'did you mean "min_password_length"' in error.message


def test_wrong_type_inside_fragment_names_the_full_path(tmp_path):
    error = load_error(
        tmp_path,
        fragments={PASSWORD_PATH: PasswordConfig},
        overrides={f"{PASSWORD_PATH}.lookup_timeout": "soon"},
    )

    assert error.path == f"{PASSWORD_PATH}.lookup_timeout"
    assert "expected a duration" in error.message


def test_plugin_owned_section_outside_the_core_schema(tmp_path):
    text = MINIMAL + "courier:\n  sms:\n    provider: twilio\n"

    config = load(tmp_path, text, fragments={"courier.sms": SmsSection})

    assert config.fragment("courier.sms") == SmsSection(provider="twilio")
    assert load_error(tmp_path, text).path == "courier.sms"  # without the plugin it is unknown


def test_required_fragment_key_is_reported(tmp_path):
    error = load_error(tmp_path, fragments={"courier.sms": SmsSection})

    assert error.path == "courier.sms.provider"


def test_undeclared_fragment_lookup_raises_key_error(tmp_path):
    with pytest.raises(KeyError):
        load(tmp_path).fragment("courier.sms")


def test_explicitly_enabled_methods_are_recorded(tmp_path):
    text = MINIMAL.replace(
        "selfservice:\n", "selfservice:\n  methods:\n    totp:\n      enabled: true\n"
    )

    config = load(tmp_path, text, env={"SELFSERVICE_METHODS_CODE_ENABLED": "true"})

    assert set(config.explicit_methods) == {"totp", "code"}
    assert config.selfservice.methods["password"].enabled is True  # default, not explicit
    assert "password" not in config.explicit_methods
