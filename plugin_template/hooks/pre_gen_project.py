"""Refuse a plugin name that would make a broken or confusing package, before anything is written.

Cookiecutter renders this file with the answers and runs it first; a non-zero exit stops the
generation and removes the half-made directory.
"""

import re
import sys

NAME = "{{ cookiecutter.plugin_name }}"
HYPHENATED = "{{ cookiecutter.hyphenated }}"
UNDERSCORED = "{{ cookiecutter.underscored }}"

# Words and hyphens or spaces between them: "rot13 courier", "pin-pad". It must start with a
# letter because the import name (kratos_<name>) and the component id must be identifiers.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[ -][A-Za-z0-9]+)*$")

# First-party packages and Kratos's own method ids (kratos_core.methods.KNOWN_METHOD_PACKAGES):
# a third-party plugin under one of these names would clash with ours on PyPI or in config.
RESERVED = {
    "core", "password", "code", "link", "totp", "lookup-secret", "webauthn", "passkey",
    "oidc", "saml", "profile", "smtp", "sms", "testing",
}


def problem() -> str | None:
    if not NAME_PATTERN.match(NAME):
        return (
            f"the plugin name {NAME!r} is not usable: use letters, digits, and single spaces or "
            "hyphens between words, starting with a letter (e.g. \"rot13 courier\")"
        )
    if HYPHENATED.startswith("kratos"):
        return f"leave \"kratos\" out of the plugin name {NAME!r}: the package is named kratos-<name> for you"
    if HYPHENATED in RESERVED:
        return f"the plugin name {NAME!r} is reserved for a first-party kratos-core package; choose another"
    if not re.fullmatch(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*", HYPHENATED):
        return f"hyphenated={HYPHENATED!r} must be lower-case words joined by single hyphens"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", UNDERSCORED) or not UNDERSCORED.isidentifier():
        return f"underscored={UNDERSCORED!r} must be a lower-case Python identifier"
    return None


if __name__ == "__main__":
    message = problem()
    if message is not None:
        print(f"ERROR: {message}", file=sys.stderr)
        sys.exit(1)
