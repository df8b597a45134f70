"""Every event of the catalogue fires in a real scenario, seen by an observer baked from the template.

The observer is the ``plugin_template`` bake of kind ``observer`` (as a plugin author makes it),
imported by path and handed to the testing kit's app factory; it writes one audit record per
event, which the test reads from the log. Then: the docs table lists exactly the catalogue, and
no payload carries a secret (no field named like one, and none of the passwords or codes this
scenario used appears in any record).
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from cookiecutter.main import cookiecutter

from kratos_core.events import CATALOGUE
from kratos_core.testing import StubCourier
from tests.meta.scenario import NEW_PASSWORD, PASSWORD, run_scenario

ROOT = Path(__file__).resolve().parents[2]
LOGGER = "kratos.catalogue_watch"


@pytest.fixture(scope="module")
def observer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The template's observer, baked as ``kratos-catalogue-watch`` and imported from its ``src``."""
    out = tmp_path_factory.mktemp("bake")
    context = {"plugin_name": "catalogue watch", "plugin_kind": "observer", "author_name": "Meta Test"}
    project = Path(cookiecutter(str(ROOT / "plugin_template"), no_input=True, extra_context=context, output_dir=str(out)))
    sys.path.insert(0, str(project / "src"))
    try:
        yield importlib.import_module("kratos_catalogue_watch.plugin")
    finally:
        sys.path.remove(str(project / "src"))
        for name in [m for m in sys.modules if m.startswith("kratos_catalogue_watch")]:
            del sys.modules[name]


async def test_every_catalogue_event_reaches_a_template_baked_observer(
    observer: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    courier = StubCourier()
    await run_scenario(tmp_path, courier, observer)

    records = [(r.audit_event, r.audit_data) for r in caplog.records if r.name == LOGGER and "." in r.audit_event]
    seen = {name for name, _ in records}
    assert sorted(set(CATALOGUE) - seen) == [], "catalogue events that never reached the observer"
    # Typed payloads as the observer recorded them: the fields of each event's Struct.
    for name, data in records:
        if name in CATALOGUE:
            msgspec.convert({"event": name, **data}, CATALOGUE[name])
    # No secret: none of the passwords or codes used here appears in any record.
    text = repr(records)
    codes = [m.template_data.get(k) for m in courier.email.messages for k in ("verification_code", "recovery_code", "login_code")]
    for secret in [PASSWORD, NEW_PASSWORD, *[c for c in codes if c]]:
        assert secret not in text
    assert any(r.levelno == logging.WARNING and r.audit_event == "login.failed" for r in caplog.records if r.name == LOGGER)


SECRET_NAMES = re.compile(r"password|secret|token|code|link|traits|hash", re.I)


def test_no_payload_field_is_named_like_a_secret() -> None:
    for name, cls in CATALOGUE.items():
        fields = [f for f in cls.__struct_fields__ if f != "template_type"]
        assert not [f for f in fields if SECRET_NAMES.search(f)], name


def test_the_docs_table_lists_exactly_the_catalogue() -> None:
    page = (ROOT / "docs" / "plugins" / "events.md").read_text()
    rows = re.findall(r"^\| `([a-z.]+)` \|", page, re.M)
    assert rows == list(CATALOGUE)
    for name, cls in CATALOGUE.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{name}` |"))
        for field in cls.__struct_fields__:
            assert f"`{field}`" in row, f"{name}: field {field} is not in the docs table"
