"""A read-only ``dict`` for the opaque parts of the frozen config tree."""

from __future__ import annotations

from typing import Any, NoReturn

import msgspec

__all__ = ["FrozenDict", "freeze", "thaw"]


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that refuses mutation.

    It stays a real ``dict`` subclass so ``json.dumps``, ``msgspec`` and ``isinstance(x, dict)``
    keep working on opaque config sections (hook configs, method configs); ``dict(x)`` or
    ``x.copy()`` give a mutable shallow copy.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("configuration is read-only; copy it with dict(...) to change it")

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default protocol rebuilds via __setitem__, which is refused; pass the items instead.
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def freeze(value: Any) -> Any:
    """Return ``value`` made deeply immutable: dicts become :class:`FrozenDict`, lists tuples.

    Structs are rebuilt with frozen field values (they are frozen themselves).

    Args:
        value: A decoded config value.

    Returns:
        The immutable equivalent.
    """
    if isinstance(value, msgspec.Struct):
        changes = {}
        for name in value.__struct_fields__:
            current = getattr(value, name)
            frozen = freeze(current)
            if frozen is not current:
                changes[name] = frozen
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        items = tuple(freeze(v) for v in value)
        if isinstance(value, tuple) and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    return value


def thaw(value: Any) -> Any:
    """Return a deep, mutable, plain-builtins copy of a frozen opaque value.

    Args:
        value: A value from the config tree (not a Struct).

    Returns:
        ``dict``/``list`` copies all the way down.
    """
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
