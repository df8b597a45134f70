"""Environment variables override kratos.yml by Kratos's naming rule."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from kratos_core.config import Config, ConfigError, load_config

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


def load(tmp_path: Path, env: dict[str, str], **kwargs) -> Config:
    path = tmp_path / "kratos.yml"
    path.write_text(textwrap.dedent(kwargs.pop("text", MINIMAL)))
    return load_config([path], env=env, **kwargs)


def env_error(tmp_path: Path, env: dict[str, str], **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env, **kwargs)
    return info.value


def test_string_keys_with_underscores_in_their_names(tmp_path):
    config = load(
        tmp_path,
        {
            "DSN": "postgres://kratos:secret@db:5432/kratos",
            "SERVE_PUBLIC_BASE_URL": "https://auth.example.org/",
            "SELFSERVICE_FLOWS_LOGIN_UI_URL": "https://app.example.org/login",
            "SELFSERVICE_DEFAULT_BROWSER_RETURN_URL": "https://app.example.org/",
            "COURIER_SMTP_CONNECTION_URI": "smtps://user:pass@mail.example.org:465/",
            "LOG_LEVEL": "debug",
        },
    )

    assert config.dsn == "postgres://kratos:secret@db:5432/kratos"
    assert config.serve.public.base_url == "https://auth.example.org/"
    assert config.selfservice.flows.login.ui_url == "https://app.example.org/login"
    assert config.selfservice.default_browser_return_url == "https://app.example.org/"
    assert config.courier.smtp.connection_uri == "smtps://user:pass@mail.example.org:465/"
    assert config.log.level == "debug"


def test_unrelated_environment_variables_are_ignored(tmp_path):
    config = load(
        tmp_path,
        {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "SERVE_PUBLIC_COLOR": "x"},
    )

    assert config.serve.public.port == 4433


def test_env_none_reads_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVE_ADMIN_PORT", "9434")

    assert load(tmp_path, None).serve.admin.port == 9434


def test_int_bool_and_duration_values_are_cast(tmp_path):
    config = load(
        tmp_path,
        {
            "SERVE_PUBLIC_PORT": "8433",
            "SESSION_LIFESPAN": "720h",
            "SELFSERVICE_FLOWS_RECOVERY_ENABLED": "true",
            "SELFSERVICE_FLOWS_VERIFICATION_ENABLED": "1",
            "SELFSERVICE_FLOWS_REGISTRATION_ENABLED": "FALSE",
            "SELFSERVICE_METHODS_PASSWORD_ENABLED": "0",
            "WATCH_COURIER": "true",
            "HASHERS_ARGON2_MEMORY": "64MB",
        },
    )

    assert config.serve.public.port == 8433
    assert config.session.lifespan == timedelta(hours=720)
    assert config.session.earliest_possible_extend == timedelta(hours=720)
    assert config.selfservice.flows.recovery.enabled is True
    assert config.selfservice.flows.verification.enabled is True
    assert config.selfservice.flows.registration.enabled is False
    assert config.selfservice.methods["password"].enabled is False
    assert config.watch_courier is True
    assert config.hashers.argon2.memory == 64 * 1024 * 1024


def test_enum_values_are_case_insensitive(tmp_path):
    assert load(tmp_path, {"LOG_LEVEL": "INFO"}).log.level == "info"


@pytest.mark.parametrize(
    ("name", "value", "path", "expected"),
    [
        ("SERVE_PUBLIC_PORT", "http", "serve.public.port", "expected an integer"),
        (
            "SELFSERVICE_FLOWS_RECOVERY_ENABLED",
            "maybe",
            "selfservice.flows.recovery.enabled",
            "expected a boolean",
        ),
        ("SESSION_LIFESPAN", "a day", "session.lifespan", "expected a duration"),
        ("LOG_LEVEL", "chatty", "log.level", "expected one of"),
        ("SERVE_PUBLIC_CORS", "{not json", "serve.public.cors", "invalid JSON"),
    ],
)
def test_uncastable_value_names_variable_and_key(tmp_path, name, value, path, expected):
    error = env_error(tmp_path, {name: value})

    assert error.path == path
    assert error.source == f"environment variable {name}"
    assert expected in error.message
    assert name in str(error)
    assert f'"{path}"' in str(error)


def test_string_lists_from_commas_or_json(tmp_path):
    commas = load(tmp_path, {"SECRETS_COOKIE": "first-secret-value-1,second-secret-value"})
    json_list = load(
        tmp_path, {"SECRETS_COOKIE": '["first-secret-value-1", "second,with,commas!"]'}
    )
    origins = load(
        tmp_path, {"SELFSERVICE_ALLOWED_RETURN_URLS": "https://a.example/, https://b.example/"}
    )

    assert commas.secrets.cookie == ("first-secret-value-1", "second-secret-value")
    assert json_list.secrets.cookie == ("first-secret-value-1", "second,with,commas!")
    assert origins.selfservice.allowed_return_urls == ("https://a.example/", "https://b.example/")


def test_env_secrets_are_validated_with_the_variable_named(tmp_path):
    error = env_error(tmp_path, {"SECRETS_COOKIE": "short"})

    assert error.path == "secrets.cookie.0"
    assert "SECRETS_COOKIE" in str(error)
    assert "short" not in str(error).replace("SECRETS_COOKIE", "")


def test_objects_from_json(tmp_path):
    config = load(
        tmp_path,
        {"SERVE_PUBLIC_CORS": '{"enabled": true, "allowed_origins": ["https://app.example.org"]}'},
    )

    assert config.serve.public.cors.enabled is True
    assert config.serve.public.cors.allowed_origins == ("https://app.example.org",)


def test_specific_variable_wins_over_json_object(tmp_path):
    config = load(
        tmp_path,
        {"SERVE_PUBLIC": '{"port": 1111, "host": "127.0.0.1"}', "SERVE_PUBLIC_PORT": "2222"},
    )

    assert config.serve.public.port == 2222
    assert config.serve.public.host == "127.0.0.1"


def test_lists_of_objects_from_json(tmp_path):
    config = load(
        tmp_path,
        {
            "SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS": '[{"hook": "session"}]',
            "IDENTITY_SCHEMAS": '[{"id": "default", "url": "base64://e30="}, {"id": "b2b", "url": "file:///b.json"}]',
        },
    )

    assert config.selfservice.flows.registration.after.password.hooks[0].hook == "session"
    assert [s.id for s in config.identity.schemas] == ["default", "b2b"]


def test_lists_of_objects_per_index(tmp_path):
    config = load(
        tmp_path,
        {
            "IDENTITY_SCHEMAS_0_URL": "https://schemas.example.org/default.json",
            "IDENTITY_SCHEMAS_1_ID": "employee",
            "IDENTITY_SCHEMAS_1_URL": "file:///employee.json",
            "IDENTITY_SCHEMAS_1_SELFSERVICE_SELECTABLE": "true",
        },
    )

    first, second = config.identity.schemas
    assert (first.id, first.url) == ("default", "https://schemas.example.org/default.json")
    assert (second.id, second.url, second.selfservice_selectable) == (
        "employee",
        "file:///employee.json",
        True,
    )


def test_json_hook_list_must_be_json(tmp_path):
    error = env_error(tmp_path, {"SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS": "session"})

    assert error.path == "selfservice.flows.login.after.hooks"
    assert "JSON array" in error.message


def test_empty_variables_count_as_unset(tmp_path):
    assert load(tmp_path, {"SERVE_PUBLIC_PORT": ""}).serve.public.port == 4433


def test_precedence_defaults_files_env_overrides(tmp_path):
    text = MINIMAL + "serve:\n  public:\n    port: 4000\n  admin:\n    port: 4001\n"
    env = {"SERVE_PUBLIC_PORT": "5000", "SERVE_ADMIN_PORT": "5001", "LOG_FORMAT": "json"}

    config = load(tmp_path, env, text=text, overrides={"serve.admin.port": 6001})

    assert config.serve.public.port == 5000  # env beats file
    assert config.serve.admin.port == 6001  # override beats env
    assert config.log.format == "json"  # env beats default
    assert config.serve.public.host == "0.0.0.0"  # default kept


def test_env_can_supply_a_required_key(tmp_path):
    text = MINIMAL.replace("dsn: memory\n", "")

    assert (
        load(tmp_path, {"DSN": "sqlite:///tmp/db.sqlite?_fk=true"}, text=text).dsn
        == "sqlite:///tmp/db.sqlite?_fk=true"
    )


# ------------------------------------------------------------------------------- fragments


class Provider(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: str
    provider: str
    client_id: str
    client_secret: str = ""


class OidcConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_redirect_uri: str | None = None
    providers: tuple[Provider, ...] = ()


class PasswordConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    min_password_length: int = 8
    haveibeenpwned_enabled: bool = True


def test_env_overrides_a_fragment_key(tmp_path):
    config = load(
        tmp_path,
        {
            "SELFSERVICE_METHODS_PASSWORD_CONFIG_MIN_PASSWORD_LENGTH": "12",
            "SELFSERVICE_METHODS_PASSWORD_CONFIG_HAVEIBEENPWNED_ENABLED": "false",
        },
        fragments={"selfservice.methods.password.config": PasswordConfig},
    )

    assert config.fragment("selfservice.methods.password.config") == PasswordConfig(
        min_password_length=12, haveibeenpwned_enabled=False
    )


def test_fragment_key_is_ignored_without_the_fragment(tmp_path):
    config = load(tmp_path, {"SELFSERVICE_METHODS_PASSWORD_CONFIG_MIN_PASSWORD_LENGTH": "12"})

    assert "min_password_length" not in config.selfservice.methods["password"].config


def test_uncastable_fragment_value_names_variable(tmp_path):
    error = env_error(
        tmp_path,
        {"SELFSERVICE_METHODS_PASSWORD_CONFIG_MIN_PASSWORD_LENGTH": "long"},
        fragments={"selfservice.methods.password.config": PasswordConfig},
    )

    assert error.path == "selfservice.methods.password.config.min_password_length"
    assert "SELFSERVICE_METHODS_PASSWORD_CONFIG_MIN_PASSWORD_LENGTH" in str(error)


def test_fragment_list_of_objects_per_index(tmp_path):
    config = load(
        tmp_path,
        {
            "SELFSERVICE_METHODS_OIDC_ENABLED": "true",
            "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS_0_ID": "google",
            "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS_0_PROVIDER": "google",
            "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS_0_CLIENT_ID": "client-123",
            "SELFSERVICE_METHODS_OIDC_CONFIG_BASE_REDIRECT_URI": "https://auth.example.org",
        },
        fragments={"selfservice.methods.oidc.config": OidcConfig},
    )

    oidc = config.fragment("selfservice.methods.oidc.config")
    assert config.selfservice.methods["oidc"].enabled is True
    assert oidc.base_redirect_uri == "https://auth.example.org"
    assert oidc.providers == (Provider(id="google", provider="google", client_id="client-123"),)


def test_fragment_for_plugin_method_makes_its_switch_settable(tmp_path):
    config = load(
        tmp_path,
        {"SELFSERVICE_METHODS_MAGIC_ENABLED": "true"},
        fragments={"selfservice.methods.magic.config": PasswordConfig},
    )

    assert config.selfservice.methods["magic"].enabled is True
