"""Small helpers shared by the ingest tests: pick stations and states the simulator accepts."""

from __future__ import annotations

import json

import httpx

from simulator import Simulator


def writable_station(sim: Simulator) -> int:
    """A station that takes state changes (enabled, in MDC mode)."""
    for handle in range(1, 1000):
        info = sim.world.station(handle)
        if not info.disabled and info.mdc_mode:
            return handle
    raise AssertionError("the simulated factory has no writable station")


def other_state(sim: Simulator, handle: int) -> int:
    """A live, top-level state different from the station's current one."""
    current = sim.world.status(handle).state
    for state in range(12):
        try:
            definition = sim.world.state(state)
        except Exception:  # noqa: S112 - not every id is a state
            continue
        if state != current and not definition.archived and definition.parent is None:
            return state
    raise AssertionError("no other state to switch to")


class RewritingTransport(httpx.BaseTransport):
    """Replays the simulator's answers with one path's JSON body rewritten."""

    def __init__(self, inner: httpx.BaseTransport, path: str, rewrite) -> None:
        self.inner, self.path, self.rewrite = inner, path, rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != self.path or response.status_code != 200:
            return response
        body = json.loads(response.read())
        return httpx.Response(
            200,
            headers={"Content-Type": "application/json"},
            content=json.dumps(self.rewrite(body)).encode(),
        )


class CountingTransport(httpx.BaseTransport):
    """Counts the requests that reach CWork."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.requests = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)
