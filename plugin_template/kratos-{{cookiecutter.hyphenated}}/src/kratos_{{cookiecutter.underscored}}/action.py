"""The ``{{ cookiecutter.underscored }}`` flow action: only some email domains may sign up and sign in.

An action declares the stages it can run in (``stages``); naming it anywhere else stops the
server at start with the key path. This one runs in:

* ``login.before`` and ``registration.before`` (``selfservice.flows.<kind>.before.hooks``): a new
  flow shows which domains are allowed;
* ``registration.pre_persist`` (named in ``selfservice.flows.registration.after.hooks`` or
  ``after.<method>.hooks``; it runs there *before* the identity is stored because it declares the
  pre-persist stage and not ``registration.after``): a sign-up with another domain is refused,
  with the message on the ``traits.<trait>`` field, and nothing is stored;
* ``login.after``: a sign-in with another domain is refused (the new session is never handed
  out) with the message on the flow.

Example config::

    selfservice:
      flows:
        registration:
          before:
            hooks:
              - hook: {{ cookiecutter.underscored }}
                config: {allowed_domains: [example.org]}
          after:
            hooks:
              - hook: {{ cookiecutter.underscored }}
                config: {allowed_domains: [example.org]}
              - hook: session
        login:
          after:
            hooks:
              - hook: {{ cookiecutter.underscored }}
                config: {allowed_domains: [example.org]}
"""

from __future__ import annotations

from kratos_core.api import LOGIN_AFTER, LOGIN_BEFORE, REGISTRATION_BEFORE, REGISTRATION_PRE_PERSIST, ActionContext
from kratos_core.api import FlowValidationError
from kratos_core.api import messages
from kratos_core.api import TextMessage

from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

__all__ = ["{{ cookiecutter.class_name }}Action", "ALLOWED_DOMAINS_MESSAGE_ID"]

#: The id of the informational message new flows get. Plugin messages take ids outside
#: Kratos's ranges, so UIs that key on ids do not mistake them for Kratos's own.
ALLOWED_DOMAINS_MESSAGE_ID = 1_990_001


class {{ cookiecutter.class_name }}Action:
    """The action object: id, config model, the stages it runs in, and ``execute``."""

    id = "{{ cookiecutter.underscored }}"
    config_model = {{ cookiecutter.class_name }}Config
    stages = frozenset({LOGIN_BEFORE, REGISTRATION_BEFORE, REGISTRATION_PRE_PERSIST, LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: {{ cookiecutter.class_name }}Config) -> None:
        """Tell new flows the allowed domains; refuse sign-ups and sign-ins from other domains.

        Raises:
            FlowValidationError: The domain is not allowed: on the trait's field for a sign-up
                (nothing is stored), on the flow for a sign-in.
        """
        if not config.allowed_domains:
            return
        if ctx.stage in (LOGIN_BEFORE, REGISTRATION_BEFORE):
            text = f"Use an address at {', '.join(config.allowed_domains)}."
            context = {"allowed_domains": list(config.allowed_domains)}
            ctx.flow.ui.add_message(TextMessage(id=ALLOWED_DOMAINS_MESSAGE_ID, text=text, type="info", context=context))
            return
        assert ctx.identity is not None  # pre-persist and after always have one
        if self.allowed(config, ctx.identity.traits.get(config.trait)):
            return
        refusal = messages.validation_generic(config.message)
        if ctx.stage == REGISTRATION_PRE_PERSIST:
            # A JSON instance pointer: "#/traits/email" is the "traits.email" node.
            raise FlowValidationError.on_pointer(f"#/traits/{config.trait}", refusal)
        raise FlowValidationError.on_flow(refusal)

    @staticmethod
    def allowed(config: {{ cookiecutter.class_name }}Config, address: object) -> bool:
        """Whether ``address``'s domain is one of ``allowed_domains`` (case-insensitively)."""
        domain = str(address or "").rpartition("@")[2].lower()
        return domain in {d.lower() for d in config.allowed_domains}
