"""The fixtures and helpers of ``kratos_core.testing`` (what plugin authors test with), tested."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import kratos_password.plugin as password_plugin
from kratos_core.testing import (
    STUB_FIRST_FACTOR,
    AppFactory,
    FlowDriver,
    HookRecorder,
    StubCourier,
    UnexpectedStatus,
    default_config,
    merge,
)

PASSWORD = "correct horse battery staple"


# -- apps and clients ----------------------------------------------------------------------------------


async def test_kratos_app_is_started_with_only_the_builtin_plugins(kratos_app: Any) -> None:
    assert kratos_app.started and kratos_app.config.dsn == "memory"
    # kratos-password is installed here, but entry points are never loaded by the fixtures.
    assert set(kratos_app.plugins.methods.items) == {"profile"}


async def test_clients_talk_to_both_apis(kratos_public: Any, kratos_admin: Any) -> None:
    assert (await kratos_public.get("/health/alive")).status_code == 200
    assert (await kratos_admin.get("/admin/identities")).json() == []
    # The public app sends admin paths to the admin URL, as Kratos does.
    moved = await kratos_public.get("/admin/identities")
    assert moved.status_code == 307 and moved.headers["location"].startswith(str(kratos_admin.base_url))


async def test_the_factory_builds_from_a_config_dict_with_explicit_plugins(kratos_app_factory: Any, tmp_path: Path) -> None:
    config = default_config(tmp_path, selfservice={"methods": {"password": {"enabled": True}}})
    del config["dsn"]  # the factory's default is the in-memory database
    app = await kratos_app_factory(config, plugins=[password_plugin], dev=False)
    assert app.started and app.config.dsn == "memory" and app.config.dev is False
    assert "password" in app.plugins.enabled_methods(app.config)


async def test_the_factory_stops_every_app_it_built(tmp_path: Path) -> None:
    recorder = HookRecorder()
    factory = AppFactory(tmp_path)
    first = await factory(plugins=[recorder])
    second = await factory(plugins=[recorder])
    await factory.close()
    assert not first.started and not second.started
    assert recorder.lifecycle() == ["kratos_startup", "kratos_startup", "kratos_shutdown", "kratos_shutdown"]


async def test_a_bad_config_fails_like_kratos_serve(kratos_app_factory: Any, tmp_path: Path) -> None:
    from kratos_core.config import ConfigError

    with pytest.raises(ConfigError, match="unknown_key"):
        await kratos_app_factory(merge(default_config(tmp_path), {"unknown_key": 1}))


def test_merge_is_deep_and_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = merge(base, {"a": {"c": [2]}, "e": {"f": 1}})
    assert merged == {"a": {"b": 1, "c": [2]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


# -- the stub courier --------------------------------------------------------------------------------------


class TestCourier:
    @pytest.fixture
    def kratos_plugins(self, kratos_courier: StubCourier) -> list[object]:
        return [kratos_courier]

    async def test_it_registers_recording_email_and_sms_channels(self, kratos_app: Any, kratos_courier: StubCourier) -> None:
        assert kratos_app.plugins.channels.get("email") is kratos_courier.email
        assert kratos_app.plugins.channels.get("sms") is kratos_courier.sms
        await kratos_courier.email.send({"recipient": "Jane@Example.org", "body": "Your code is 493817."})
        await kratos_courier.sms.send({"recipient": "+4917612345678", "body": "Code 111111"})
        assert len(kratos_courier.messages) == 2
        assert kratos_courier.email.last_code("jane@example.org") == "493817"
        with pytest.raises(AssertionError, match="no message was sent"):
            kratos_courier.email.last_code("nobody@example.org")


# -- the stub first factor and the flow drivers ---------------------------------------------------------------


class TestStubFirstFactor:
    @pytest.fixture
    def kratos_plugins(self, kratos_stub_first_factor: Any) -> list[object]:
        return [kratos_stub_first_factor]

    @pytest.fixture
    def kratos_config(self, kratos_config: dict[str, Any]) -> dict[str, Any]:
        return merge(kratos_config, {"selfservice": {"methods": {STUB_FIRST_FACTOR: {"enabled": True}}}})

    async def test_it_signs_an_identity_in_at_aal1_by_id_or_identifier(self, kratos_flows: FlowDriver) -> None:
        identity_id = (await kratos_flows.create_identity({"email": "stub@example.org"})).json()["id"]
        by_id = (await kratos_flows.login_stub(identity_id)).json()
        assert by_id["session"]["identity"]["id"] == identity_id
        assert by_id["session"]["authenticator_assurance_level"] == "aal1"
        assert by_id["session"]["authentication_methods"][0]["method"] == STUB_FIRST_FACTOR
        by_identifier = await kratos_flows.login("STUB@example.org", method=STUB_FIRST_FACTOR)
        assert by_identifier.json()["session"]["identity"]["id"] == identity_id
        whoami = await kratos_flows.whoami(by_id["session_token"])
        assert whoami.json()["id"] == by_id["session"]["id"]

    async def test_an_unknown_identity_gets_the_invalid_credentials_message(self, kratos_flows: FlowDriver) -> None:
        refused = await kratos_flows.login_stub("00000000-0000-0000-0000-000000000000", expect=400)
        assert [m["id"] for m in refused.json()["ui"]["messages"]] == [4000006]

    async def test_its_node_is_on_new_login_flows(self, kratos_flows: FlowDriver) -> None:
        flow = await kratos_flows.init("login")
        values = [n["attributes"].get("value") for n in flow["ui"]["nodes"]]
        assert STUB_FIRST_FACTOR in values


class TestPasswordFlows:
    @pytest.fixture
    def kratos_plugins(self, kratos_courier: StubCourier) -> list[object]:
        return [password_plugin, kratos_courier]

    @pytest.fixture
    def kratos_config(self, kratos_config: dict[str, Any]) -> dict[str, Any]:
        selfservice = {
            "methods": {"password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}}},
            "flows": {"registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}}},
        }
        return merge(kratos_config, {"selfservice": selfservice})

    async def test_register_login_whoami_logout(self, kratos_flows: FlowDriver) -> None:
        registered = await kratos_flows.register({"email": "drive@example.org"}, password=PASSWORD)
        assert registered.json()["identity"]["traits"] == {"email": "drive@example.org"}
        login = await kratos_flows.login("drive@example.org", password=PASSWORD)
        token = login.json()["session_token"]
        assert (await kratos_flows.whoami(token)).json()["identity"]["id"] == registered.json()["identity"]["id"]
        await kratos_flows.logout(token)
        await kratos_flows.whoami(token, expect=401)

    async def test_a_wrong_status_raises_with_the_body(self, kratos_flows: FlowDriver) -> None:
        await kratos_flows.register({"email": "drive@example.org"}, password=PASSWORD)
        with pytest.raises(UnexpectedStatus, match="answered 400, expected 200") as info:
            await kratos_flows.login("drive@example.org", password="wrong password!")
        assert "4000006" in str(info.value)


class TestVerification:
    @pytest.fixture
    def kratos_plugins(self, kratos_courier: StubCourier, kratos_hook_recorder: HookRecorder) -> list[object]:
        import kratos_code.plugin as code_plugin  # installed with the project (requirements.txt)

        return [code_plugin, kratos_courier, kratos_hook_recorder]

    @pytest.fixture
    def kratos_config(self, kratos_config: dict[str, Any]) -> dict[str, Any]:
        selfservice = {"methods": {"code": {"enabled": True}}, "flows": {"verification": {"enabled": True, "use": "code"}}}
        return merge(kratos_config, {"selfservice": selfservice})

    async def test_verify_reads_the_code_from_the_stub_courier(
        self, kratos_flows: FlowDriver, kratos_courier: StubCourier, kratos_hook_recorder: HookRecorder
    ) -> None:
        await kratos_flows.create_identity({"email": "verify@example.org"})
        kratos_hook_recorder.clear()
        verified = await kratos_flows.verify("verify@example.org")
        assert verified.json()["state"] == "passed_challenge"
        (sent,) = kratos_courier.email.to("verify@example.org")
        assert sent.template_type == "verification_code_valid"
        # The stub channel sits where a real one would: the courier hooks fire around it.
        (before,) = kratos_hook_recorder.of("kratos_courier_before_send")
        (after,) = kratos_hook_recorder.of("kratos_courier_after_send")
        assert before["message"].id == sent.id and after["dispatch"].status == "success"


# -- the hook recorder and the session recording ----------------------------------------------------------------


async def test_the_recorder_keeps_each_calls_arguments(kratos_app_factory: Any) -> None:
    recorder = HookRecorder()
    app = await kratos_app_factory(plugins=[recorder])
    await app.identities.create(_draft("rec@example.org"))
    (pre,) = recorder.of("kratos_identity_pre_persist")
    assert pre["operation"] == "create" and pre["source"] == "admin"
    assert "kratos_event:identity.created" in recorder.lifecycle()


def _draft(email: str) -> Any:
    from kratos_core.identity.manager import IdentityDraft

    return IdentityDraft(schema_id="default", traits={"email": email}, state="active")


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import pytest

            async def test_builds_an_app(kratos_app):
                assert kratos_app.started

            @pytest.mark.kratos_hook_coverage
            def test_reads_the_recording(kratos_hook_coverage):
                assert kratos_hook_coverage.fired["kratos_startup"] == 1
                assert "kratos_register_commands" in kratos_hook_coverage.unexercised()

            def test_plain():
                pass
            """
        )
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_marked_test_turns_recording_on_and_runs_last(tmp_path: Path) -> None:
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    order = [line.split("::")[1].split()[0] for line in result.stdout.splitlines() if "::test_" in line and "PASSED" in line]
    assert order == ["test_builds_an_app", "test_plain", "test_reads_the_recording"]


def test_the_recording_report_option(tmp_path: Path) -> None:
    report = tmp_path / "hooks.json"
    result = _pytest(tmp_path, "--kratos-record-hooks", f"--kratos-hook-report={report}", "-k", "builds")
    assert result.returncode == 0, result.stdout + result.stderr
    counts = json.loads(report.read_text())
    assert counts["fired"]["kratos_startup"] == 1 and counts["fired"]["kratos_shutdown"] == 1
    assert "kratos_startup" not in counts["implemented"]  # only the built-ins were plugged in
