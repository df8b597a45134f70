"""The built-in ``profile`` method: the first step of two-step registration, and traits in settings.

With ``selfservice.flows.registration.style: profile_first`` (Kratos's default) a registration
shows the traits first. Submitting them with ``method=profile`` validates them and moves the flow
to the credential selection: traits hidden, message 1040009, the credential methods' nodes and a
``screen=previous`` back button (kratos-behaviour.md sections 1.10 and 6.9). It owns no
credential and takes no config.

In settings it shows the identity's traits (group ``profile``) with a ``method=profile`` Save
button; a submit replaces the traits wholesale (section 6.9). The engine decides whether the
change needs a privileged session (identifiers, addresses) and stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import hookimpl
from ..errors import BadRequest
from ..methods.protocols import SHOW_FLOW, RegistrationContext, SettingsContext, SettingsResult, ShowFlow
from ..ui import messages
from ..ui.nodes import submit_node
from ..ui.traits import trait_nodes

__all__ = ["ProfileMethod", "kratos_register_methods"]


def _going_back(body: Mapping[str, Any]) -> bool:
    return body.get("method") == "profile:back" or body.get("screen") == "previous"


class ProfileMethod:
    """The ``profile`` method object."""

    id = "profile"
    credential_type = None
    config_model = None

    def configure(self, config: Any, app_config: Any) -> None:
        del config, app_config

    def populate_registration(self, ctx: RegistrationContext) -> None:
        """``method=profile`` on the traits screen; message and back button on the second."""
        ui = ctx.flow.ui
        if ctx.step == "profile":
            ui.append(submit_node("method", "profile", "profile", messages.sign_up()))
        elif ctx.step == "credentials":
            ui.add_message(messages.registration_choose_credentials())
            ui.append(submit_node("screen", "previous", "profile", messages.registration_back()))

    async def register(self, ctx: RegistrationContext, body: Mapping[str, Any]) -> ShowFlow:
        """Go to the credential selection with valid traits, or back to the traits screen."""
        traits = body.get("traits")
        if _going_back(body):
            await ctx.show_step("profile", traits if isinstance(traits, Mapping) else {})
            return SHOW_FLOW
        identity = await ctx.new_identity(traits)  # invalid traits: messages on the trait nodes
        await ctx.show_step("credentials", identity.traits)
        return SHOW_FLOW

    def populate_settings(self, ctx: SettingsContext) -> None:
        """The traits with their current values and the Save button (section 2.4)."""
        ui = ctx.flow.ui
        for node in trait_nodes(ctx.schema.raw, group="profile", values=ctx.identity.traits):
            ui.upsert(node)
        ui.append(submit_node("method", "profile", "profile", messages.label_save()))

    async def update_settings(self, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult:
        """Replace the traits wholesale; invalid traits come back as messages on their nodes.

        Raises:
            BadRequest: No traits at all (shown on the flow as 4000001, as Kratos does).
        """
        traits = body.get("traits")
        if not traits:
            raise BadRequest("Did not receive any value changes.")
        identity = await ctx.replace_traits(traits)
        return SettingsResult(identity=identity, method=self.id)


@hookimpl
def kratos_register_methods(register: Any) -> None:
    register(ProfileMethod())
