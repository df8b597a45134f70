"""A TCP proxy in front of PostgreSQL that can hold back what the server sends to the session
listener, as a stalled network path or a stuck proxy would (issue 15, finding 4).

Connections whose startup message names the application ``kratos session listener`` (our LISTEN
connection) are marked; :meth:`PgProxy.stall` stops forwarding the server's bytes to them, while
every other connection (the pool's) keeps working; :meth:`PgProxy.release` lets the held bytes
through. The proxy runs its own event loop in a thread, so the test can drive servers meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

LISTENER = b"kratos session listener"


class PgProxy:
    def __init__(self, upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.listeners = 0
        self._stalled = threading.Event()
        self._released: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def start(self) -> PgProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._released = asyncio.Event()
        self._released.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        """Hold back everything the server sends to listener connections from now on."""
        self._loop.call_soon_threadsafe(self._released.clear)  # type: ignore[union-attr]
        self._stalled.set()

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._released.set)  # type: ignore[union-attr]
        self._stalled.clear()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        state = {"listener": False}

        async def upstream() -> None:  # client -> server
            while data := await client_r.read(65536):
                if not state["listener"] and LISTENER in data:
                    state["listener"] = True
                    self.listeners += 1
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:  # server -> client
            while data := await server_r.read(65536):
                if state["listener"]:
                    await self._released.wait()  # type: ignore[union-attr]
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        with contextlib.suppress(Exception):
            await asyncio.gather(upstream(), downstream())
        for writer in (client_w, server_w):
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.contextmanager
def pg_proxy() -> Iterator[PgProxy]:
    proxy = PgProxy().start()
    try:
        yield proxy
    finally:
        proxy.release()
        proxy.close()
