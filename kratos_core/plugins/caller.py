"""The async-aware hook caller: pluggy's multicall, awaiting each implementation in turn.

pluggy runs hook implementations in its own order (wrappers first, then ``tryfirst``, plain,
``trylast``, later-registered before earlier) but never awaits a coroutine. :func:`acall`
mirrors :func:`pluggy._callers._multicall` over ``HookCaller.get_hookimpls()`` and awaits each
coroutine before calling the next implementation, so a veto in an async plugin stops the ones
after it (issue 9, item 3). Wrappers may be generator functions (as in pluggy) or async
generator functions:

* new style (``wrapper=True``): ``result = yield`` receives the list of results or has the
  exception thrown in; a generator may ``return`` a replacement, an async generator (which
  cannot return a value) may only observe, re-raise or raise another exception;
* old style (``hookwrapper=True``): ``outcome = yield`` receives a :class:`pluggy.Result`, which
  the wrapper may ``force_result``/``force_exception``.

With ``contain=True`` (observers) an exception of any implementation or wrapper is logged with
the plugin's name and the call goes on; otherwise the first exception propagates after the
wrappers' teardowns ran (fail closed).

:func:`check_implementation` refuses, at start-up, what the caller cannot honour.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pluggy

__all__ = ["acall", "call_sync", "check_implementation", "HookTrace", "UnhonourableHook"]

log = logging.getLogger("kratos.plugins")


class UnhonourableHook(Exception):
    """A hook implementation the host cannot run as declared (raised at start-up)."""


class HookTrace:
    """What happened in one hook call, per plugin, for debug logging (never argument values)."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[str] = []

    def add(self, impl: pluggy.HookImpl, outcome: str) -> None:
        self.steps.append(f"{impl.plugin_name}={outcome}")


def _invoke(hook_name: str, impl: pluggy.HookImpl, kwargs: Mapping[str, object]) -> Any:
    """Call an implementation with the arguments it names (as pluggy does: defaults by keyword)."""
    try:
        args = [kwargs[name] for name in impl.argnames]
    except KeyError as exc:  # pragma: no cover - the facade always passes every argument
        raise pluggy.HookCallError(f"{hook_name} must be called with argument {exc.args[0]!r}") from exc
    if impl.kwargnames:
        return impl.function(*args, **{name: kwargs[name] for name in impl.kwargnames if name in kwargs})
    return impl.function(*args)


async def _start_wrapper(hook_name: str, impl: pluggy.HookImpl, kwargs: Mapping[str, object]) -> Any:
    gen = _invoke(hook_name, impl, kwargs)
    try:
        if inspect.isasyncgen(gen):
            await gen.__anext__()
        else:
            next(gen)
    except (StopIteration, StopAsyncIteration):
        raise RuntimeError(f"the {hook_name} wrapper of plugin {impl.plugin_name!r} did not yield") from None
    return gen


_NOT_STOPPED = object()


async def _resume(gen: Any, value: object = None, exception: BaseException | None = None) -> object:
    """Send ``value`` into (or throw ``exception`` at) a sync or async generator.

    Returns the generator's return value when it finished (None for an async generator), or
    ``_NOT_STOPPED`` when it yielded again. StopIteration must not leave a coroutine (PEP 479),
    hence the return value instead of the exception.
    """
    try:
        if inspect.isasyncgen(gen):
            if exception is not None:
                await gen.athrow(exception)
            else:
                await cast(Any, gen).asend(value)
        elif exception is not None:
            gen.throw(exception)
        else:
            gen.send(value)
    except StopIteration as stop:
        return stop.value
    except StopAsyncIteration:
        return None
    if inspect.isasyncgen(gen):
        await gen.aclose()
    else:
        gen.close()
    return _NOT_STOPPED


async def _teardown(
    impl: pluggy.HookImpl, gen: Any, result: list[object], exception: BaseException | None
) -> tuple[list[object], BaseException | None]:
    """Resume one wrapper with the outcome; return the outcome it leaves (pluggy's rules)."""
    if impl.hookwrapper:
        # Old style: the wrapper gets a Result it may force; its own exception replaces all.
        outcome: pluggy.Result[list[object]] = pluggy.Result(None if exception else result, exception)
        try:
            stopped = await _resume(gen, outcome)
        except BaseException as exc:  # noqa: BLE001 - the wrapper's own outcome
            return result, exc
        if stopped is _NOT_STOPPED:
            return result, RuntimeError(f"the wrapper of plugin {impl.plugin_name!r} yielded twice")
        if outcome.exception is not None:
            return result, outcome.exception
        return outcome.get_result(), None
    try:
        returned = await _resume(gen, result, exception)
    except BaseException as exc:  # noqa: BLE001 - the wrapper's own outcome
        return result, exc
    if returned is _NOT_STOPPED:
        return result, RuntimeError(f"the wrapper of plugin {impl.plugin_name!r} yielded twice")
    if inspect.isasyncgen(gen):
        return result, None  # an async generator cannot return a replacement: it only observed
    return returned, None  # type: ignore[return-value]


async def acall(
    hook_name: str,
    impls: Sequence[pluggy.HookImpl],
    kwargs: Mapping[str, object],
    *,
    contain: bool = False,
    trace: HookTrace | None = None,
) -> list[object]:
    """Run ``impls`` (as ``get_hookimpls()`` returns them) with pluggy's semantics, awaiting each.

    Returns:
        The non-None results, in call order (or what the wrappers made of them).

    Raises:
        The first exception of an implementation or wrapper, unless ``contain``.
    """
    results: list[object] = []
    exception: BaseException | None = None
    teardowns: list[tuple[pluggy.HookImpl, Any]] = []
    try:
        for impl in reversed(impls):
            try:
                if impl.wrapper or impl.hookwrapper:
                    teardowns.append((impl, await _start_wrapper(hook_name, impl, kwargs)))
                    continue
                res = _invoke(hook_name, impl, kwargs)
                if inspect.isawaitable(res):
                    res = await res
            except Exception as exc:
                if trace is not None:
                    trace.add(impl, f"raised {type(exc).__name__}")
                if not contain:
                    raise
                log.exception("plugin %r failed in %s", impl.plugin_name, hook_name)
                continue
            if trace is not None:
                trace.add(impl, "ok")
            if res is not None:
                results.append(res)
    except BaseException as exc:  # noqa: BLE001 - handed to the wrappers, then re-raised
        exception = exc
    for impl, gen in reversed(teardowns):
        before = exception
        results, exception = await _teardown(impl, gen, results, exception)
        if exception is not None and exception is not before:
            if trace is not None:
                trace.add(impl, f"wrapper raised {type(exception).__name__}")
            if contain and isinstance(exception, Exception):
                log.error("plugin %r failed in %s", impl.plugin_name, hook_name, exc_info=exception)
                exception = None
        elif trace is not None:
            trace.add(impl, "wrapped")
    if exception is not None:
        raise exception
    return results


def call_sync(
    hook_name: str,
    impls: Sequence[pluggy.HookImpl],
    kwargs: Mapping[str, object],
    *,
    before_each: Callable[[pluggy.HookImpl], None] | None = None,
    trace: HookTrace | None = None,
) -> list[object]:
    """Run the plain (sync, unwrapped) implementations of a registration hook, in pluggy's order.

    ``before_each`` runs before each implementation (the registrars use it to know which
    plugin registers what). :func:`check_implementation` has refused wrappers and coroutines.
    """
    results = []
    for impl in reversed(impls):
        if before_each is not None:
            before_each(impl)
        res = _invoke(hook_name, impl, kwargs)
        if inspect.isawaitable(res):
            getattr(res, "close", lambda: None)()
            raise UnhonourableHook(f"plugin {impl.plugin_name!r}: {hook_name} runs once at start-up and must not be async")
        if trace is not None:
            trace.add(impl, "ok")
        if res is not None:
            results.append(res)
    return results


def check_implementation(hook_name: str, impl: pluggy.HookImpl, *, sync_only: bool, firstresult: bool) -> None:
    """Refuse at start-up an implementation the host cannot honour, naming its plugin.

    Args:
        hook_name: The hook it implements.
        impl: The implementation.
        sync_only: The hook runs once at start-up (registration hooks): no coroutine, no wrapper.
        firstresult: The hook's spec is ``firstresult`` (only hooks plugins add may be).

    Raises:
        UnhonourableHook: with the plugin's name, the hook and what to change.
    """
    fn = impl.function
    where = f"plugin {impl.plugin_name!r} implements {hook_name}"
    wrapper = impl.wrapper or impl.hookwrapper
    if sync_only and (wrapper or inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
        raise UnhonourableHook(
            f"{where} as a wrapper or coroutine; it runs once at start-up, so it must be a plain function"
        )
    if firstresult and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
        raise UnhonourableHook(f"{where} with async def, but the hook is firstresult (pluggy cannot await it)")
    if not wrapper and (inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)):
        raise UnhonourableHook(f"{where} with a generator: mark it @hookimpl(wrapper=True) or do not yield")
    if wrapper and not (inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)):
        raise UnhonourableHook(f"{where} as a wrapper, but it does not yield")
