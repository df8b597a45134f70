"""Query parameters flow inits share (kratos-behaviour.md section 1.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BadRequest

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["parse_bool", "select_schema", "AAL_RANK"]

# Go's strconv.ParseBool, which Kratos uses for boolean query parameters.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})

#: Assurance levels in order, for "is the session's AAL high enough" comparisons.
AAL_RANK = {"aal0": 0, "aal1": 1, "aal2": 2, "aal3": 3}


def parse_bool(raw: str | None) -> bool:
    """A boolean query parameter; anything Go would not read as true is false."""
    return raw in _TRUE


def select_schema(app: KratosApp, raw: str | None) -> str | None:
    """The ``identity_schema`` parameter: a configured schema marked ``selfservice_selectable``.

    Returns:
        The schema id, or None when the parameter is absent (the default schema applies).

    Raises:
        BadRequest: Unknown or not selectable.
    """
    if not raw:
        return None
    schema = next((s for s in app.schemas if s.id == raw), None)
    if schema is None or not schema.selfservice_selectable:
        raise BadRequest(f'The identity schema "{raw}" does not exist or may not be selected in self-service flows.')
    return schema.id
