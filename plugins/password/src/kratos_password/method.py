"""The ``password`` method: sign up with a password, sign in with identifier and password, change
it in settings (:mod:`kratos_password.settings`), and passwords in admin identity imports
(kratos-behaviour.md sections 5.3, 5.4 and 6.1).

Hashing and verification run in a :class:`~kratos_password.pool.HashPool`, off the event loop.
A sign-in with an unknown identifier verifies the password against a dummy hash of the configured
algorithm, so it takes as long as a wrong password and gets the same answer (4000006, pitfall 3).
Every sign-in attempt is counted by the server's throttle (``security.rate_limits.password``)
before the password is looked at.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from kratos_core.api import (
    BadRequest,
    Credential,
    FlowValidationError,
    Identity,
    LoginContext,
    LoginResult,
    MethodBase,
    RegistrationContext,
    RegistrationResult,
    SettingsContext,
    SettingsResult,
    identifier_label,
    input_node,
    messages,
    submit_node,
    utcnow,
)
from kratos_password import settings as settings_flow
from kratos_password.errors import PasswordTooLongError, PolicyViolation
from kratos_password.hashing import HasherSettings, needs_rehash, validate_hash
from kratos_password.policy import BreachCache, PasswordPolicyConfig, check_password
from kratos_password.pool import HashPool

__all__ = ["PasswordMethod", "hasher_settings"]

log = logging.getLogger("kratos.password")

_CREDENTIAL = "password"


def hasher_settings(app_config: Any) -> HasherSettings:
    """:class:`HasherSettings` from the server's ``hashers`` section (and ``--dev``)."""
    hashers = app_config.hashers
    argon2: dict[str, Any] = {
        "memory": hashers.argon2.memory,
        "iterations": hashers.argon2.iterations,
        "salt_length": hashers.argon2.salt_length,
        "key_length": hashers.argon2.key_length,
    }
    if hashers.argon2.parallelism:
        argon2["parallelism"] = hashers.argon2.parallelism
    section = {"algorithm": hashers.algorithm, "bcrypt": {"cost": hashers.bcrypt.cost}, "argon2": argon2}
    return HasherSettings.from_config(section, dev=bool(app_config.dev))


def _invalid_credentials() -> FlowValidationError:
    return FlowValidationError.on_flow(messages.invalid_credentials())


def _required(name: str) -> FlowValidationError:
    return FlowValidationError.on_field(name, messages.missing_property(name))


class PasswordMethod(MethodBase):
    """The password method object registered with the plugin host.

    Its declarations (:class:`~kratos_core.methods.MethodBase`): a first factor (aal1) once a
    hash or the migration hook is set and the schema gives it identifiers; identifiers from
    ``ory.sh/kratos.credentials.password.identifier``, reserved by an implicit credential; the
    admin API shows the hash, as Kratos does.

    Attributes:
        id: ``password`` (config key and the submit body's ``method``).
        credential_type: ``password``.
        config_model: :class:`PasswordPolicyConfig` (``selfservice.methods.password.config``).
        policy: The validated policy config (set by :meth:`configure`).
        hasher: How new hashes are made (from ``hashers.*``).
    """

    id = "password"
    credential_type = _CREDENTIAL
    config_model = PasswordPolicyConfig

    aal = "aal1"
    credential_schema_keys = frozenset({"identifier"})
    implicit_credential = True

    def __init__(self) -> None:
        self.policy = PasswordPolicyConfig()
        self.hasher = HasherSettings()
        self.breaches = BreachCache()
        self._memory_budget: int | None = None
        self._pool: HashPool | None = None

    def configure(self, config: PasswordPolicyConfig | None, app_config: Any) -> None:
        """Take the validated policy and the server's hasher settings (at start-up)."""
        self.policy = config if config is not None else PasswordPolicyConfig()
        self.hasher = hasher_settings(app_config)
        self._memory_budget = app_config.hashers.argon2.dedicated_memory

    @property
    def pool(self) -> HashPool:
        """The hashing threads, started on first use and stopped with this object."""
        if self._pool is None:
            self._pool = HashPool(memory_budget_bytes=self._memory_budget)
            weakref.finalize(self, self._pool.shutdown, False)
        return self._pool

    # -- login -----------------------------------------------------------------------------

    def populate_login(self, ctx: LoginContext) -> None:
        """Identifier, password and the "Sign in with password" button (section 2.4)."""
        if ctx.requested_aal != "aal1":
            return  # a first factor has nothing to offer a second-factor flow
        if ctx.identity is not None:
            # Refresh: only for an identity that has a password, its identifier pre-filled.
            cred = ctx.identity.credentials.get(_CREDENTIAL)
            if cred is None or not cred.config.get("hashed_password") or not cred.identifiers:
                return
            identifier = input_node("identifier", "hidden", "default", value=cred.identifiers[0], required=True)
        else:
            label = identifier_label(ctx.schema.raw)
            identifier = input_node("identifier", "text", "default", value="", required=True, label=label)
        ui = ctx.flow.ui
        ui.upsert(identifier)
        ui.append(
            input_node(
                "password", "password", "password", required=True, autocomplete="current-password", label=messages.label_password()
            )
        )
        ui.append(submit_node("method", "password", "password", messages.login_with_password()))

    async def login(self, ctx: LoginContext, body: Mapping[str, Any]) -> LoginResult:
        """Check identifier and password; the same 4000006 for unknown identifiers and wrong passwords."""
        if ctx.requested_aal != "aal1":
            raise FlowValidationError.on_flow(messages.no_strategy("login"))
        identifier = body.get("identifier") or body.get("password_identifier")
        password = body.get("password")
        if not isinstance(identifier, str) or not identifier:
            raise _required("identifier")
        if not isinstance(password, str) or not password:
            raise _required("password")
        # Issue 15: counted before the password is looked at, so a locked account answers 429
        # whether the password is right or not.
        throttle = ctx.services.throttle
        keys = throttle.keys(ctx.request, identifier)
        await throttle.check("password", keys)
        # Make the dummy hash before the lookup, so the very first unknown identifier is not
        # slower than a known one either.
        await self.pool.warm_up(self.hasher)
        identity = await ctx.find_identity(identifier, _CREDENTIAL)
        cred = identity.credentials.get(_CREDENTIAL) if identity is not None else None
        hashed = cred.config.get("hashed_password") if cred is not None else None
        if not isinstance(hashed, str) or not hashed:
            # Spend a real verification's time so "no such account" cannot be told apart.
            await self.pool.verify_dummy(password, self.hasher)
            raise _invalid_credentials()
        if not await self.pool.verify(password, hashed):
            raise _invalid_credentials()
        await throttle.succeed("password", keys)
        await self._rehash_if_needed(ctx, identity, password, hashed)  # type: ignore[arg-type]
        return LoginResult(identity=identity, method=_CREDENTIAL)  # type: ignore[arg-type]

    async def _rehash_if_needed(self, ctx: LoginContext, identity: Identity, password: str, hashed: str) -> None:
        # Kratos upgrades a hash the configured hasher did not make after a successful login
        # (section 5.4); a failure here must not fail the login that just succeeded.
        if not needs_rehash(hashed, self.hasher):
            return
        try:
            fresh = await self.pool.hash(password, self.hasher)
        except PasswordTooLongError:
            return  # e.g. an imported argon2 hash of a password bcrypt cannot take
        cred = identity.credentials[_CREDENTIAL]
        cred.config = {**cred.config, "hashed_password": fresh}
        cred.updated_at = utcnow()
        try:
            await ctx.save_identity(identity)
        except Exception:  # noqa: BLE001 - the old hash still works; try again next login
            log.warning("could not store the re-hashed password of identity %s", identity.id, exc_info=True)

    # -- registration ----------------------------------------------------------------------

    def populate_registration(self, ctx: RegistrationContext) -> None:
        """The new-password input and the "Sign up" button (not on the two-step traits screen)."""
        if ctx.step == "profile":
            return
        ui = ctx.flow.ui
        ui.append(
            input_node("password", "password", "password", required=True, autocomplete="new-password", label=messages.label_password())
        )
        ui.append(submit_node("method", "password", "password", messages.sign_up()))

    async def register(self, ctx: RegistrationContext, body: Mapping[str, Any]) -> RegistrationResult:
        """Validate traits and the password policy for every identifier, then hash."""
        password = body.get("password")
        if not isinstance(password, str) or not password:
            raise _required("password")
        identity = await ctx.new_identity(body.get("traits"))
        cred = identity.credentials.get(_CREDENTIAL)
        if cred is None or not cred.identifiers:
            raise FlowValidationError.on_flow(messages.no_identifiers())
        await self._check_policy(password, cred.identifiers)
        cred.config = {"hashed_password": await self.pool.hash(password, self.hasher)}
        return RegistrationResult(identity=identity, method=_CREDENTIAL)

    async def _check_policy(self, password: str, identifiers: list[str]) -> None:
        try:
            if self.policy.haveibeenpwned_enabled:
                async with httpx.AsyncClient() as http:
                    await self._run_policy(password, identifiers, http)
            else:
                await self._run_policy(password, identifiers, None)
        except PolicyViolation as exc:
            raise FlowValidationError.on_field("password", exc.message) from None

    async def _run_policy(self, password: str, identifiers: list[str], http: httpx.AsyncClient | None) -> None:
        await check_password(
            password, identifiers, self.policy, hasher_algorithm=self.hasher.algorithm, http=http, cache=self.breaches
        )

    # -- settings --------------------------------------------------------------------------

    def populate_settings(self, ctx: SettingsContext) -> None:
        """The new-password input and Save (see :mod:`kratos_password.settings`)."""
        settings_flow.populate_settings(ctx)

    async def update_settings(self, ctx: SettingsContext, body: Mapping[str, Any]) -> SettingsResult:
        """Change the password (see :mod:`kratos_password.settings`)."""
        return await settings_flow.update_settings(self, ctx, body)

    # -- declarations ----------------------------------------------------------------------

    def first_factor(self, credential: Credential) -> bool:
        """Usable with an identifier and a hash (or the migration hook that will check it)."""
        config = credential.config
        return bool(credential.identifiers) and bool(config.get("hashed_password") or config.get("use_password_migration_hook"))

    def present_credential(self, config: dict[str, Any]) -> dict[str, Any]:
        """Shown as stored: Kratos's admin API shows the (one-way) hash."""
        return config

    def remove_credential(self, credential: Credential, identifier: str | None) -> dict[str, Any] | None:
        """The secret goes; the credential stays, reserving its identifiers."""
        del credential, identifier
        return {}

    def import_is_costly(self, raw: Mapping[str, Any]) -> bool:
        """A plaintext password in an import must be hashed (batch creates limit those)."""
        config = raw.get("config")
        return isinstance(config, Mapping) and "password" in config

    # -- admin import ----------------------------------------------------------------------

    async def import_credentials(self, identity: Identity, raw: dict[str, Any]) -> dict[str, Any]:
        """``credentials.password`` of an admin create/update body -> the stored config.

        Accepts ``{"config": {"password": ...}}`` (hashed with the configured hasher, no policy,
        as in Kratos), ``{"config": {"hashed_password": ...}}`` (checked: known format, cost
        within bounds) and ``use_password_migration_hook``.

        Raises:
            BadRequest: Malformed, both variants at once, or an unusable hash.
        """
        del identity
        config = raw.get("config")
        if not isinstance(config, Mapping):
            raise BadRequest('credentials.password needs a "config" object.')
        password, hashed = config.get("password"), config.get("hashed_password")
        if password and hashed:
            raise BadRequest('credentials.password.config takes either "password" or "hashed_password", not both.')
        out: dict[str, Any] = {}
        if password:
            out["hashed_password"] = await self._hash_import(password)
        elif hashed:
            if not isinstance(hashed, str):
                raise BadRequest("credentials.password.config.hashed_password must be a string.")
            validate_hash(hashed)
            out["hashed_password"] = hashed
        if config.get("use_password_migration_hook") is True:
            out["use_password_migration_hook"] = True
        if not out:
            raise BadRequest(
                'credentials.password.config needs "password", "hashed_password" or "use_password_migration_hook".'
            )
        return out

    async def _hash_import(self, password: Any) -> str:
        if not isinstance(password, str):
            raise BadRequest("credentials.password.config.password must be a string.")
        try:
            return await self.pool.hash(password, self.hasher)
        except PasswordTooLongError as exc:
            raise BadRequest(
                f"The password must be at most {exc.max_length} bytes long for the configured hasher, got {exc.actual_length}."
            ) from exc
