"""The ``kratos`` command as a user runs it: migrate, serve (SQLite and PostgreSQL), identities."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import base_config, write_config
from tests.e2e.processes import REPO, start_server
from tests.e2e.processes import run_kratos as run


def test_dev_config_serves_on_sqlite_and_identities_cli(tmp_path: Path) -> None:
    """The README's command: the shipped config/kratos.yml on the embedded database."""
    db = tmp_path / "kratos.sqlite"
    env = {"DSN": f"sqlite://{db}?_fk=true"}
    migrated = run(["migrate", "sql", "-e", "--yes"], env=env)
    assert migrated.returncode == 0, migrated.stderr
    from kratos_core.persistence.migrate import MIGRATIONS

    assert f"Applied {len(MIGRATIONS)} migration(s)" in migrated.stdout
    assert "all migrations are applied" in run(["migrate", "sql", "-e", "--yes"], env=env).stdout

    served = start_server("sqlite", REPO / "config" / "kratos.yml", env, tmp_path, "--dev")
    try:
        adm = {"KRATOS_ADMIN_URL": served.admin}
        import_file = tmp_path / "people.json"
        import_file.write_text(json.dumps([{"schema_id": "default", "traits": {"email": f"cli{i}@example.org"}} for i in range(3)]))
        imported = run(["identities", "import", str(import_file)], env=adm)
        assert imported.returncode == 0, imported.stderr
        ids = imported.stdout.split()
        assert len(ids) == 3
        assert "Imported 3 of 3" in imported.stderr

        listed = run(["identities", "list", "--format", "json"], env=adm)
        assert sorted(i["id"] for i in json.loads(listed.stdout)) == sorted(ids)
        got = run(["identities", "get", ids[0], "--format", "json"], env=adm)
        assert json.loads(got.stdout)["id"] == ids[0]
        assert run(["identities", "delete", ids[0]], env=adm).returncode == 0
        missing = run(["identities", "get", ids[0]], env=adm)
        assert missing.returncode != 0 and "404" in missing.stderr

        r = httpx.get(f"{served.public}/admin/identities", follow_redirects=False)
        assert r.status_code == 307
    finally:
        served.stop()


def test_serve_refuses_the_public_dev_secrets_outside_dev(tmp_path: Path) -> None:
    result = run(["serve", "-c", str(REPO / "config" / "kratos.yml")], env={"DSN": "memory"})
    assert result.returncode != 0
    assert "secrets.cookie.0" in result.stderr and "publicly known example secret" in result.stderr
    assert "DEV-ONLY" not in result.stderr and "Traceback" not in result.stderr


def test_serves_on_postgres_from_the_environment(tmp_path: Path, postgres_dsn: str) -> None:
    # Outside --dev the public secrets of config/kratos.yml are refused: real ones come from the environment.
    env = {"DSN": postgres_dsn, "SECRETS_COOKIE": "e2e-cookie-secret-9a8b7c6d5e4f", "SECRETS_CIPHER": "e2e-cipher-secret-0123456789abcd"}
    assert run(["migrate", "sql", "-e", "--yes"], env=env).returncode == 0
    served = start_server("postgres", REPO / "config" / "kratos.yml", env, tmp_path)
    try:
        r = httpx.post(f"{served.admin}/admin/identities", json={"schema_id": "default", "traits": {"email": "pg@example.org"}})
        assert r.status_code == 201
        assert httpx.get(f"{served.admin}/admin/identities").json()[0]["id"] == r.json()["id"]
    finally:
        served.stop()


def test_serve_refuses_unmigrated_postgres(tmp_path: Path, postgres_dsn: str) -> None:
    cfg = write_config(tmp_path, base_config(tmp_path, dsn=postgres_dsn))
    result = run(["serve", "-c", str(cfg)])
    assert result.returncode == 1
    assert "migrate sql" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"selfservice": {"flows": {"logn": {}}}}, "selfservice.flows.logn"),
        ({"session": {"lifespan": "forever"}}, "session.lifespan"),
        ({"serve": {"public": {"port": "http"}}}, "serve.public.port"),
    ],
)
def test_bad_config_stops_the_server_naming_the_key(tmp_path: Path, patch: dict, path: str) -> None:
    cfg = base_config(tmp_path)
    for key, value in patch.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    result = run(["serve", "-c", str(write_config(tmp_path, cfg))])
    assert result.returncode == 1
    assert path in result.stderr
    assert "Traceback" not in result.stderr


def test_enabled_method_without_plugin_fails_with_install_hint(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    # webauthn: a method whose plugin is not installed (totp and lookup_secret are).
    cfg["selfservice"]["methods"]["webauthn"] = {"enabled": True}
    result = run(["serve", "-c", str(write_config(tmp_path, cfg))])
    assert result.returncode == 1
    assert "kratos-webauthn" in result.stderr


def test_plugins_and_version_commands() -> None:
    out = run(["plugins"])
    assert out.returncode == 0
    assert "kratos_core.builtin.profile" in out.stdout
    assert "kratos_register_methods" in out.stdout
    # The second factors are plugin packages like any other.
    assert "kratos-totp 0.1.0 (plugin)" in out.stdout
    assert "kratos-lookup-secret 0.1.0 (plugin)" in out.stdout
    assert run(["version"]).stdout.startswith("kratos-core v")


@pytest.mark.parametrize("flags", [(), ("--dev",)])
def test_serve_with_dsn_memory_migrates_its_own_database(tmp_path: Path, flags: tuple[str, ...]) -> None:
    """Every Kratos quickstart config says ``dsn: memory``: the server must serve from it, with
    or without --dev (issue 14, finding 1), and it cannot be shared by several workers."""
    cfg = base_config(
        tmp_path,
        dsn="memory",
        selfservice={
            "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
            "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
        },
    )
    config = write_config(tmp_path, cfg)
    served = start_server("memory", config, {}, tmp_path, *flags)
    try:
        with httpx.Client(base_url=served.public) as public:
            flow = public.get("/self-service/registration/api").json()
            password = "an-unusual-memory-passphrase-7"
            done = public.post(
                f"/self-service/registration?flow={flow['id']}",
                json={"method": "password", "password": password, "traits": {"email": "memory@example.org"}},
            )
            assert done.status_code == 200, done.text
            login_flow = public.get("/self-service/login/api").json()
            login = public.post(
                f"/self-service/login?flow={login_flow['id']}",
                json={"method": "password", "identifier": "memory@example.org", "password": password},
            )
            assert login.status_code == 200, login.text
            whoami = public.get("/sessions/whoami", headers={"X-Session-Token": login.json()["session_token"]})
            assert whoami.status_code == 200
            assert whoami.json()["identity"]["traits"]["email"] == "memory@example.org"
    finally:
        served.stop()
    refused = run(["serve", "-c", str(config), "--workers", "2", *flags])
    assert refused.returncode != 0
    assert "dsn: memory" in refused.stderr and "--workers" in refused.stderr
