"""A CWork installation in a box: the simulated factory behind CWork's HTTP API.

>>> sim = Simulator(stations=12, seed=7)
>>> with sim.client() as cw:            # in-process, no port
...     cw.station_statuses()
>>> with sim.serve(port=8081):           # or on a real port
...     ...

``python -m simulator --help`` runs it on a port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from cwork.client import CWorkClient
from cwork.versions import ApiVersion, License

from .api import CWorkApi, users_from_keys
from .faults import FaultInjector
from .http import SimRequest, SimResponse
from .server import SimulatorServer
from .world import ManualClock, World

__all__ = ["DEMO_API_KEY", "ManualClock", "Simulator"]

DEMO_API_KEY = "demo-key"


class Simulator:
    """The world, the API over it and the fault injector in front, as one object."""

    def __init__(
        self,
        *,
        stations: int = 24,
        seed: int = 1,
        speed: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        tz: str = "Europe/Paris",
        history_days: int = 14,
        api_keys: Sequence[str] = (DEMO_API_KEY,),
        api_version: str = "1.16",
        licenses: Iterable[str] = ("monitor", "dnc", "prod"),
    ) -> None:
        self.world = World(
            stations=stations,
            seed=seed,
            clock=clock,
            tz=tz,
            history_days=history_days,
            speed=speed,
        )
        self.users = users_from_keys(api_keys)
        self.api_keys = [spec.partition("=")[0] for spec in api_keys]
        self.api = CWorkApi(
            self.world,
            self.users,
            licenses=frozenset(License(name) for name in licenses),
            max_version=ApiVersion.parse(api_version),
            seed=seed,
        )
        self.faults = FaultInjector(self.api, control_token=self.api_keys[0])

    def __call__(self, request: SimRequest) -> SimResponse:
        return self.faults(request)

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that answers from this simulator without any socket."""
        return _InProcessTransport(self)

    def client(self, api_key: str | None = None, **options: Any) -> CWorkClient:
        """A client wired to this simulator in-process (no port)."""
        return CWorkClient(
            "http://cwork-simulator",
            api_key or self.api_keys[0],
            transport=self.transport(),
            **options,
        )

    def serve(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> SimulatorServer:
        """Start serving on a port (in a background thread); stop() or use as a context."""
        return SimulatorServer(self, host, port, **options).start()


class _InProcessTransport(httpx.BaseTransport):
    """Converts httpx requests to the simulator's, honouring delays, trickles and drops."""

    def __init__(self, handler: Callable[[SimRequest], SimResponse]) -> None:
        self._handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sim_request = SimRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.read(),
        )
        answer = self._handler(sim_request)
        timeout = request.extensions.get("timeout", {})
        read_timeout = timeout.get("read")
        if answer.delay:
            if read_timeout is not None and answer.delay > read_timeout:
                time.sleep(read_timeout)
                raise httpx.ReadTimeout("no answer within the read timeout", request=request)
            time.sleep(answer.delay)
        if answer.drop:
            raise httpx.RemoteProtocolError("server closed the connection", request=request)
        headers = {"Content-Type": answer.content_type, **answer.headers}
        if answer.trickle_interval:
            return httpx.Response(
                answer.status, headers=headers, stream=_Trickle(answer), request=request
            )
        return httpx.Response(answer.status, headers=headers, content=answer.body, request=request)


class _Trickle(httpx.SyncByteStream):
    def __init__(self, answer: SimResponse) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._answer.chunks():
            time.sleep(self._answer.trickle_interval)
            yield piece
