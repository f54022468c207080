"""The simulator's own request and response, independent of any HTTP server.

The API layer answers a ``SimRequest`` with a ``SimResponse``; the threaded server and the
in-process httpx transport both adapt to these, so tests run the same code as a real port.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimRequest:
    method: str
    path: str
    #: Query parameters, first value of each (CWork takes no repeated parameters).
    query: dict[str, str] = field(default_factory=dict)
    #: Header names in lower case.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class SimResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before the status line (added latency, a hanging request).
    delay: float = 0.0
    #: When set, the body is sent in ``trickle_chunk``-byte pieces this many seconds apart.
    trickle_interval: float = 0.0
    trickle_chunk: int = 1
    #: Close the connection without answering (a crashed or unreachable server).
    drop: bool = False

    @classmethod
    def json(cls, payload: object, status: int = 200) -> SimResponse:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    def chunks(self) -> list[bytes]:
        """The body cut as it should be written (one piece unless trickling)."""
        if not self.trickle_interval or not self.body:
            return [self.body]
        size = max(1, self.trickle_chunk)
        return [self.body[i : i + size] for i in range(0, len(self.body), size)]


Handler = Callable[[SimRequest], SimResponse]
