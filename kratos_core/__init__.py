"""kratos_core: an identity server that speaks the Ory Kratos HTTP API.

A plugin needs only ``from kratos_core import hookimpl`` to start.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations in plugins (``@hookimpl def kratos_...``).
hookimpl = pluggy.HookimplMarker("kratos")
#: Marker for hook specifications (used by ``kratos_core.hookspecs`` and plugins adding hooks).
hookspec = pluggy.HookspecMarker("kratos")

__all__ = ["__version__", "hookimpl", "hookspec"]
