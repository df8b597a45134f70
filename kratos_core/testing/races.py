"""Forcing the interleaving a race test needs (plugin authors use it for single-use secrets)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["read_together"]


def read_together(app: Any, count: int, *, timeout: float = 10.0) -> None:
    """Make the next ``count`` identity reads of method code (``services.identity``) wait for
    each other.

    A race on purpose: every request has read the credential before any of them writes, the
    interleaving in which only a conditional write keeps a secret single-use.

    Args:
        app: The started app whose services to patch (for this app only).
        count: How many reads wait for each other; later reads pass straight through.
        timeout: Seconds a read waits for the others before failing the test.
    """
    original = app.services.identity
    arrived = 0
    everyone = asyncio.Event()

    async def identity(identity_id: Any) -> Any:
        nonlocal arrived
        found = await original(identity_id)
        arrived += 1
        if arrived <= count:
            if arrived == count:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), timeout)
        return found

    app.services.identity = identity
