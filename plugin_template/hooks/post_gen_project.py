"""Remove the modules and tests that belong to the other plugin kinds."""

from pathlib import Path

KIND = "{{ cookiecutter.plugin_kind }}"
PACKAGE = Path("src") / "kratos_{{ cookiecutter.underscored }}"

# Kind -> (implementation module, test module); the observer's hooks live in plugin.py itself.
FILES = {
    "credential_method": ("method.py", "test_method.py"),
    "courier_channel": ("channel.py", "test_channel.py"),
    "flow_action": ("action.py", "test_action.py"),
    "observer": (None, "test_observer.py"),
}

for kind, (module, test) in FILES.items():
    if kind == KIND:
        continue
    if module is not None:
        (PACKAGE / module).unlink()
    (Path("tests") / test).unlink()
