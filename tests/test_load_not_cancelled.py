"""A client cancelling a request that waits for the model must not cancel the model's load
(found by tests/test_fuzz.py: a stray $/cancelRequest left the server with no model)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from lsp.server import TactfulServer


def test_cancelling_a_waiting_request_leaves_the_load_running() -> None:
    async def scenario() -> tuple[bool, bool]:
        server = TactfulServer()
        load: Future[object] = Future()  # queued on the model thread, not started yet
        server._loading = load  # type: ignore[assignment]
        waiting = asyncio.ensure_future(server.wait_for_engine())
        await asyncio.sleep(0.01)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        return waiting.cancelled(), load.cancelled()

    request_cancelled, load_cancelled = asyncio.run(scenario())
    assert request_cancelled
    assert not load_cancelled
