"""The plugin contract: every hook kratos_core calls, in lifecycle order.

A plugin is a module (or object) with functions marked ``@kratos_core.hookimpl`` whose names are
the hooks below. Installed plugins are found through the ``kratos`` entry-point group; the
built-in ones are registered through the same plugin manager.

There are two kinds of hooks:

* **Registration hooks** (``kratos_register_*``, plain functions) run once at start-up and say
  *what exists*: a plugin hands typed objects to the ``register`` callback it receives.
  Duplicate ids fail at start-up.
* **Lifecycle hooks** (everything else) observe and steer running work. They may be
  ``async def``; the core awaits each implementation before calling the next, so a veto in one
  stops the ones after it. They are always called with keyword arguments, so a plugin may
  accept only the arguments it needs.

Every hook is called through one typed method of ``PluginHost.hooks`` (``kratos_login_before``
through ``hooks.login_before(...)``), which keeps pluggy's order (``tryfirst``/``trylast``, later
registered first) and runs wrappers: ``@hookimpl(wrapper=True)`` and
``@hookimpl(hookwrapper=True)`` generator functions as in pluggy, and the same as ``async def``
generators (an async new-style wrapper observes the result but cannot replace it). An
implementation the host cannot honour (a wrapper that does not yield, an ``async def`` or a
wrapper on a registration hook, a generator not marked as a wrapper, an ``async def`` on a
``firstresult`` hook a plugin added) stops the start with the plugin's name.

Error policy (written per stage): hooks that run *before* something is stored fail closed (an
exception aborts the operation and nothing is stored); hooks that run *after* something is
stored are contained (the stored data stays; the error is logged with the plugin's name and
reported through the operation's error handler); observers (``kratos_event``) are contained and
logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hookspec

if TYPE_CHECKING:  # pragma: no cover
    import click
    import pluggy
    from litestar import Request

    from .config import Config
    from .courier.model import Dispatch, Message
    from .events import Event
    from .flows.model import Flow
    from .identity.model import Identity, VerifiableAddress
    from .plugins.registry import (
        ChannelRegistrar,
        ConfigRegistrar,
        FlowActionRegistrar,
        MethodRegistrar,
        RouteRegistrar,
    )
    from .session.model import Session

__all__ = [
    "kratos_add_hookspecs",
    "kratos_register_methods",
    "kratos_register_flow_actions",
    "kratos_register_courier_channels",
    "kratos_register_config",
    "kratos_register_routes",
    "kratos_register_commands",
    "kratos_startup",
    "kratos_login_before",
    "kratos_login_after",
    "kratos_registration_before",
    "kratos_registration_pre_persist",
    "kratos_registration_post_persist",
    "kratos_settings_before",
    "kratos_settings_pre_persist",
    "kratos_settings_post_persist",
    "kratos_recovery_before",
    "kratos_recovery_after",
    "kratos_verification_before",
    "kratos_verification_after",
    "kratos_identity_pre_persist",
    "kratos_identity_post_persist",
    "kratos_courier_before_send",
    "kratos_courier_after_send",
    "kratos_event",
    "kratos_shutdown",
]

# ---------------------------------------------------------------------------------------------
# Start-up: what exists


@hookspec
def kratos_add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add hook specifications of a plugin's own (for plugins that are extended by others).

    Called once, right after the plugin manager has loaded every plugin and before any other
    hook. Call ``pm.add_hookspecs(module)``; hook names must start with ``kratos_``.

    Args:
        pm: The application's plugin manager.

    Added in: 0.1.0
    """


@hookspec
def kratos_register_methods(register: MethodRegistrar) -> None:
    """Register self-service and credential methods (password, code, totp, oidc, ...).

    Called once at start-up. Call ``register(method)`` for each method object the plugin
    provides; see :class:`kratos_core.methods.Method` for what a method object carries (its id,
    credential type, typed config model and the per-flow protocols it implements). A method is
    live only when ``selfservice.methods.<id>.enabled`` is true.

    Args:
        register: Call with a method object. Raises ``DuplicateRegistration`` when another
            plugin registered the same id.

    Added in: 0.1.0
    """


@hookspec
def kratos_register_flow_actions(register: FlowActionRegistrar) -> None:
    """Register named flow actions (the ``hook:`` entries of a flow's ``before``/``after`` lists).

    Called once at start-up. Call ``register(action)`` with an object carrying ``id`` (the name
    used in config, e.g. ``web_hook``), ``config_model`` (a msgspec Struct type for the entry's
    ``config``, or None), ``stages`` (the stages it can run in: ``LOGIN_BEFORE``,
    ``REGISTRATION_PRE_PERSIST``, ``SETTINGS_AFTER`` ... from ``kratos_core.actions.runner``)
    and ``async execute(ctx, config)`` (see :class:`kratos_core.actions.runner.FlowAction`).
    The order in which actions run is the order of the config list, never plugin order; naming
    an action in a stage it does not declare stops the start with the key path.

    Args:
        register: Call with an action object; duplicate ids fail at start-up.

    Added in: 0.1.0

    Changed in: 0.2.0: ``stages`` is checked at start-up (it was a request-time warning), and
    the ``before`` and ``pre_persist`` stages run.
    """


@hookspec
def kratos_register_courier_channels(register: ChannelRegistrar) -> None:
    """Register courier channels (email over SMTP, SMS over HTTP, ...).

    Called once at start-up. Call ``register(channel)`` with an object carrying ``id`` (the
    channel id messages name, e.g. ``email`` or ``sms``) and an async ``send(message)``.

    Args:
        register: Call with a channel object; duplicate ids fail at start-up.

    Added in: 0.1.0
    """


@hookspec
def kratos_register_config(register: ConfigRegistrar) -> None:
    """Declare a plugin-wide config section, ``plugins.<name>.config`` (observers and the like).

    Called once at start-up, before the config is loaded. Call
    ``register(name, Model, configure=callback)`` with the plugin's entry-point name, a msgspec
    Struct type (use ``forbid_unknown_fields=True``) and a callable that receives the validated
    section. The section is validated with the rest of the config (a bad value stops the start
    with its key path; ``PLUGINS_<NAME>_CONFIG_<KEY>`` environment variables override it by
    Kratos's rule) and ``callback`` is called once before the server serves, also when the
    section is absent (with the model's defaults).

    Methods (``selfservice.methods.<id>.config``), flow actions (each hook entry's ``config``)
    and courier channels (``courier.channels[].config``) declare a ``config_model`` on their
    object instead.

    Args:
        register: Call with the section name, the model and ``configure=``; a name declared
            twice fails at start-up.

    Added in: 0.2.0
    """


@hookspec
def kratos_register_routes(register: RouteRegistrar) -> None:
    """Add HTTP route handlers (Litestar handlers) to the public or admin API.

    Called once while the HTTP apps are built. Call ``register(handler, api="public")`` or
    ``register(handler, api="admin")``. Paths must not shadow a core route.

    Args:
        register: Call with a Litestar route handler (or router) and the API it belongs to.

    Added in: 0.1.0
    """


@hookspec
def kratos_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``kratos`` command line.

    Called once when the CLI starts. Use ``@cli.command()`` or ``cli.add_command(...)``.

    Args:
        cli: The root ``kratos`` click group.

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle


@hookspec
def kratos_startup(config: Config) -> None:
    """The server has loaded its config and opened its database; it is about to serve.

    May be async. An exception stops the server from starting (fail at boot, not at request
    time): use it to check a plugin's own preconditions.

    Args:
        config: The validated, frozen configuration.

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Self-service flows: login, then registration


@hookspec
def kratos_login_before(flow: Flow, request: Request) -> None:
    """A login flow was built (nodes added by every method) and is about to be stored.

    May be async. Fails closed: raising ``FlowValidationError`` stores and shows the flow with
    those messages (HTTP 400, or a redirect to the login UI for browsers); raising any other
    ``KratosError`` aborts the init with that error and nothing is stored. Runs for every new
    login flow, including the replacement of an expired one.

    Args:
        flow: The new flow (``kratos_core.flows.model.Flow``): kind ``login``, its ``type``,
            ``request_url``, ``return_to`` and ``ui``. Read it; change it only through errors.
        request: The HTTP request that creates the flow (Litestar ``Request``).

    Added in: 0.1.0
    """


@hookspec
def kratos_login_after(flow: Flow, identity: Identity, session: Session) -> None:
    """A login succeeded, before the configured ``after`` actions run and before the client
    receives the session. A new session is not stored yet: it is written, with the completed
    flow, once hooks and actions accepted the login (a refreshed or stepped-up session is).

    May be async. Fails closed: raising aborts the login and a new session is never stored (a
    refreshed or stepped-up session keeps its previous validity), and the error is answered
    like any submit error (``FlowValidationError`` and other 400s as messages on the flow).

    Args:
        flow: The login flow that completed.
        identity: The identity that signed in (with credentials).
        session: The issued (or stepped-up) session (``kratos_core.session.model.Session``).

    Added in: 0.1.0
    """


@hookspec
def kratos_registration_before(flow: Flow, request: Request) -> None:
    """A registration flow was built and is about to be stored.

    May be async. Fails closed, exactly like :func:`kratos_login_before`.

    Args:
        flow: The new flow (kind ``registration``).
        request: The HTTP request that creates the flow.

    Added in: 0.1.0
    """


@hookspec
def kratos_registration_pre_persist(flow: Flow, identity: Identity) -> None:
    """A registration submit produced a valid identity that is about to be stored.

    May be async. Runs before :func:`kratos_identity_pre_persist` and before the transaction that
    writes the identity, its credentials and addresses and its session. Fails closed: raising
    ``FlowValidationError`` shows its messages on the flow, any other ``KratosError`` aborts the
    submit; either way nothing is stored. Changing ``identity.metadata_public`` or
    ``metadata_admin`` here is stored; changed traits are not re-validated.

    Args:
        flow: The registration flow.
        identity: The identity to be created (traits validated, credentials filled in).

    Added in: 0.1.0
    """


@hookspec
def kratos_registration_post_persist(flow: Flow, identity: Identity, session: Session) -> None:
    """A registration stored its identity and session, before the ``after`` actions run.

    May be async. Contained: an exception is logged with the plugin's name; the identity stays
    and the registration answers as usual. Whether the client receives ``session`` depends on
    the ``session`` action.

    Args:
        flow: The completed registration flow.
        identity: The stored identity.
        session: The session stored for it.

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Self-service flows: settings


@hookspec
def kratos_settings_before(flow: Flow, request: Request, identity: Identity, session: Session) -> None:
    """A settings flow was built (every method added its section) and is about to be stored.

    May be async. Fails closed: raising ``FlowValidationError`` stores and shows the flow with
    those messages (HTTP 400, or a redirect to the settings UI for browsers); raising any other
    ``KratosError`` aborts the init with that error and nothing is stored. Runs for every new
    settings flow: the init endpoints, the replacement of an expired flow and the flow recovery
    hands over to (``kratos_core.flows.settings.create_settings_flow``).

    Args:
        flow: The new flow (kind ``settings``, state ``show_form``). Read it; change it only
            through errors.
        request: The HTTP request that creates the flow.
        identity: The identity whose settings these are (with credentials; never expose them).
        session: The session the flow is created for.

    Added in: 0.1.0
    """


@hookspec
def kratos_settings_pre_persist(flow: Flow, identity: Identity, session: Session, method: str) -> None:
    """A settings submit changed the identity, which is about to be stored.

    May be async. Runs after the method accepted the input and after the privileged-session
    check, before :func:`kratos_identity_pre_persist` and the write. Fails closed: raising
    ``FlowValidationError`` shows its messages on the flow, any other ``KratosError`` aborts the
    submit (a 400 becomes a message on the flow); either way nothing is stored. Changing
    ``identity.metadata_public`` or ``metadata_admin`` here is stored; changed traits are not
    re-validated.

    Args:
        flow: The settings flow being submitted.
        identity: The identity as it will be stored (traits validated, credentials updated).
        session: The session making the change.
        method: The method that made the change (``profile``, ``password`` ...).

    Added in: 0.1.0
    """


@hookspec
def kratos_settings_post_persist(flow: Flow, identity: Identity, session: Session, method: str) -> None:
    """A settings change was stored and the flow moved to ``success``, before the ``after``
    actions run and before the client is answered.

    May be async. Contained: an exception is logged with the plugin's name; the change stays
    and the flow answers as usual. Use the configured ``after`` actions to steer the answer.

    Args:
        flow: The flow, state ``success``, its form rebuilt with message 1050001.
        identity: The stored identity.
        session: The session that made the change.
        method: The method that made the change.

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Self-service flows: recovery, then verification


@hookspec
def kratos_recovery_before(flow: Flow, request: Request) -> None:
    """A recovery flow was built (the recovery method added its form) and is about to be stored.

    May be async. Fails closed, exactly like :func:`kratos_login_before`: ``FlowValidationError``
    stores and shows the flow with its messages (400), any other ``KratosError`` aborts the init
    and nothing is stored. Not called for the replacement flows recovery creates on its own
    (expired, finished or used-up flows) nor for flows an administrator creates.

    Args:
        flow: The new flow (kind ``recovery``, state ``choose_method``).
        request: The HTTP request that creates the flow.

    Added in: 0.1.0
    """


@hookspec
def kratos_recovery_after(flow: Flow, identity: Identity, session: Session) -> None:
    """A recovery succeeded: the code or link was used, the address verified and a new session
    stored, before the configured ``after`` actions run and before the settings flow is created.

    May be async. Fails closed for the session: raising revokes the session recovery just issued
    (the client never receives it) and the error is answered like any submit error
    (``FlowValidationError`` and other 400s as messages on the flow). The used code and the
    verified address stay.

    Args:
        flow: The recovery flow, state ``passed_challenge``.
        identity: The recovered identity (with credentials; never expose them).
        session: The new session (method ``code_recovery`` or ``link_recovery``, aal1).

    Added in: 0.1.0
    """


@hookspec
def kratos_verification_before(flow: Flow, request: Request) -> None:
    """A verification flow was built and is about to be stored (``GET /self-service/verification/*``).

    May be async. Fails closed, exactly like :func:`kratos_login_before`. Not called for the
    flows the ``verification`` and ``require_verified_address`` actions start, nor for
    replacement flows.

    Args:
        flow: The new flow (kind ``verification``, state ``choose_method``).
        request: The HTTP request that creates the flow.

    Added in: 0.1.0
    """


@hookspec
def kratos_verification_after(flow: Flow, identity: Identity, address: VerifiableAddress) -> None:
    """An address was verified and stored, before the configured ``after`` actions run.

    May be async. Post-persist: the address stays verified whatever happens; an exception goes
    through the flow's error handler (``FlowValidationError`` and other 400s are shown on the
    finished flow, other errors answered as errors).

    Args:
        flow: The verification flow, state ``passed_challenge`` with its success form.
        identity: The identity owning the address.
        address: The address, now ``verified: true`` and ``status: completed``.

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Courier: each delivery attempt


@hookspec
def kratos_courier_before_send(message: Message) -> None:
    """A courier worker is about to hand a message to its channel (one delivery attempt).

    May be async. Fails closed: raising vetoes this attempt, which is recorded as a failed
    dispatch with the exception's text and retried with back-off like any failed attempt;
    raise ``kratos_core.courier.model.DeliveryError(..., permanent=True)`` to abandon the
    message instead. Runs in the worker process (``kratos courier watch`` or a
    ``--watch-courier`` server), not in the request that queued the message.

    Args:
        message: The claimed message (``kratos_core.courier.model.Message``): ``recipient``,
            ``channel``, ``template_type``, ``template_data``, the rendered ``subject``,
            ``body`` and ``html_body``, and ``send_count`` (attempts before this one). Read it;
            changes are not stored or sent.

    Added in: 0.1.0
    """


@hookspec
def kratos_courier_after_send(message: Message, dispatch: Dispatch) -> None:
    """A delivery attempt ended and its outcome is stored (sent, queued again or abandoned).

    May be async. Contained: an exception is logged with the plugin's name and changes
    nothing. Use it for audit logs and delivery metrics.

    Args:
        message: The message as it was claimed for the attempt.
        dispatch: The stored attempt (``kratos_core.courier.model.Dispatch``): ``status``
            (``success`` or ``failed``) and ``error`` (JSON, None on success).

    Added in: 0.1.0
    """


# ---------------------------------------------------------------------------------------------
# Identities, events, shutdown


@hookspec
def kratos_identity_pre_persist(identity: Identity, operation: str, source: str) -> None:
    """An identity is about to be written (created, updated or deleted); it may still be changed.

    Fires exactly once for every identity write, wherever it comes from: the admin API and
    imports, the self-service flows (a registration, a settings change, a password re-hashed at
    login, an address proven by a verification, recovery or login code) and plugins, which all
    write through ``IdentityManager.writing``. May be async. Runs after schema validation and
    before the transaction: fail closed, so raising a ``kratos_core.errors.KratosError`` aborts
    the write with that error and nothing is stored (for a delete: the identity stays).
    Changing ``identity.traits`` here is not re-validated; change metadata instead. When the
    write verifies an address, only that address is stored.

    Args:
        identity: The identity about to be stored (credentials included).
        operation: ``"create"``, ``"update"`` or ``"delete"``.
        source: Where the write comes from: ``"admin"`` (admin API and imports), or
            ``"registration"``, ``"settings"``, ``"login"``, ``"recovery"``,
            ``"verification"`` (self-service flows).

    Added in: 0.1.0

    Changed in: 0.2.0: also before deletes, address verifications and login re-hashes.
    """


@hookspec
def kratos_identity_post_persist(identity: Identity, operation: str, source: str) -> None:
    """An identity was written and committed (once per write, after the commit).

    May be async. Contained: an exception is logged with the plugin's name; the stored
    identity stays and the caller gets its normal answer.

    Args:
        identity: The identity as stored.
        operation: ``"create"``, ``"update"`` or ``"delete"``.
        source: As for :func:`kratos_identity_pre_persist`.

    Added in: 0.1.0
    """


@hookspec
def kratos_event(event: str, data: dict[str, Any], payload: Event) -> None:
    """Observe an event of the catalogue (``identity.created``, ``session.issued``, ...).

    Called after what the event reports is committed; the catalogue (names, when each fires,
    payload fields) is :mod:`kratos_core.events` and the "Events" page of the docs. May be
    async. Contained: exceptions are logged with the plugin's name and never change what the
    user sees. Use it for audit logs and analytics.

    Args:
        event: The event name, dotted (``<subject>.<verb>``), as ``payload.name``.
        data: The payload's fields as JSON-ready values (ids as strings).
        payload: The typed payload, a frozen msgspec Struct of :mod:`kratos_core.events`
            (``IdentityCreated``, ``SessionIssued`` ...); never a secret.

    Added in: 0.1.0

    Changed in: 0.2.0: ``payload`` added; every catalogue event is emitted.
    """


@hookspec
def kratos_shutdown(config: Config) -> None:
    """The server is stopping (SIGTERM or the end of a test); release what startup took.

    May be async. Contained: exceptions are logged and shutdown goes on.

    Args:
        config: The configuration the server ran with.

    Added in: 0.1.0
    """
