"""The ``{{ cookiecutter.underscored }}`` flow action: only let some email domains sign in.

Name it in ``selfservice.flows.login.after.hooks`` (or ``after.<method>.hooks``)::

    - hook: {{ cookiecutter.underscored }}
      config:
        allowed_domains: [example.org]

It runs after the session is issued; refusing fails the login closed (the core revokes the new
session) and shows the configured message on the flow.
"""

from __future__ import annotations

from kratos_core.actions.runner import LOGIN_AFTER, ActionContext
from kratos_core.flows.errors import FlowValidationError
from kratos_core.ui import messages

from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

__all__ = ["{{ cookiecutter.class_name }}Action"]


class {{ cookiecutter.class_name }}Action:
    """The action object: id, config model, the stages it applies to, and ``execute``."""

    id = "{{ cookiecutter.underscored }}"
    config_model = {{ cookiecutter.class_name }}Config
    stages = frozenset({LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: {{ cookiecutter.class_name }}Config | None) -> None:
        """Refuse the login when the identity's address is outside ``allowed_domains``.

        Raises:
            FlowValidationError: The domain is not allowed (the message is shown on the flow).
        """
        config = config or {{ cookiecutter.class_name }}Config()
        if not config.allowed_domains:
            return
        address = str(ctx.identity.traits.get(config.trait) or "")
        domain = address.rpartition("@")[2].lower()
        if domain not in {d.lower() for d in config.allowed_domains}:
            raise FlowValidationError.on_flow(messages.validation_generic(config.message))
