"""A real HTTP(S) port in front of a simulator ``Handler``.

Built on :class:`http.server.ThreadingHTTPServer`: HTTP/1.1 with keep-alive, one daemon thread per
connection. Each request becomes a :class:`SimRequest`; the handler's :class:`SimResponse` is
written as asked: after its ``delay``, trickled, or not at all (``drop``). ``stop()`` is prompt:
it ends the accept loop, cuts every open connection and wakes requests that are waiting out a
delay or trickling.

With an ``ssl_context`` (server side, see :mod:`simulator.certs`) the port speaks HTTPS only,
like CWork, which serves one protocol or the other, never both.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import selectors
import socket
import ssl
import threading
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from simulator.http import Handler, SimRequest, SimResponse

__all__ = ["SimulatorServer"]

logger = logging.getLogger("simulator.server")

#: CWork's answer to something that went wrong inside (code 4000 of the doc).
UNEXPECTED_ERROR_BODY = json.dumps({"ErrorCode": 4000, "Message": "Unexpected Error"}).encode()
#: Requests larger than this are refused (413): the simulator is not a file store.
MAX_BODY = 64 * 1024 * 1024
#: Seconds a client gets to complete the TLS handshake.
HANDSHAKE_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT = 120.0
_NO_BODY_STATUSES = frozenset({204, 304})


class _ClientGoneError(Exception):
    """The connection ended (or stop() cut it) while reading or writing."""


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CWorkSimulator/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True
    #: Headers and a small body leave in one send; large bodies bypass the buffer.
    wbufsize = 64 * 1024
    server: _HTTPServer

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.settimeout(HANDSHAKE_TIMEOUT)
                self.connection.do_handshake()
                self.connection.settimeout(self.timeout)
            except (OSError, ValueError) as exc:
                # Wrong protocol (plain HTTP on the HTTPS port), a client refusing our
                # certificate (or its pin), a port scanner: not worth more than a debug line.
                logger.debug("TLS handshake with %s failed: %s", self.client_address, exc)
                self.close_connection = True
                return
        try:
            super().handle()
        except _ClientGoneError:
            self.close_connection = True

    # One entry point for every method; unknown methods get http.server's 501.
    def _dispatch(self) -> None:
        try:
            request = self._sim_request()
        except _BadRequestError as exc:
            self.send_error(exc.status, exc.message)
            self.close_connection = True
            return
        try:
            response = self.server.sim_handler(request)
            if not isinstance(response, SimResponse):
                raise TypeError(f"the handler returned {type(response).__name__}, not SimResponse")
        except Exception:
            logger.exception("simulator handler failed on %s %s", request.method, request.path)
            response = SimResponse(500, UNEXPECTED_ERROR_BODY)
        self._write(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch  # noqa: N815

    # --- request ----------------------------------------------------------------------------

    def _sim_request(self) -> SimRequest:
        target = self.path
        if target.startswith("/"):
            raw_path, _, raw_query = target.partition("?")
        else:  # absolute form (http://host/path?query), as proxies send it
            parts = urlsplit(target)
            raw_path, raw_query = parts.path or "/", parts.query
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(name, value)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return SimRequest(
            method=self.command,
            path=unquote(raw_path),
            query=query,
            headers=headers,
            body=self._read_body(headers),
        )

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length_text = headers.get("content-length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequestError(400, f"bad Content-Length {length_text!r}") from None
        if length < 0:
            raise _BadRequestError(400, f"bad Content-Length {length_text!r}")
        if length > MAX_BODY:
            raise _BadRequestError(413, f"request body over {MAX_BODY} bytes")
        return self._read_exactly(length)

    def _read_exactly(self, length: int) -> bytes:
        if not length:
            return b""
        try:
            data = self.rfile.read(length)
        except OSError as exc:
            raise _ClientGoneError from exc
        if len(data) < length:
            raise _ClientGoneError
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._read_line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestError(400, "bad chunk size in a chunked request body") from None
            if size == 0:
                while self._read_line().strip():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _BadRequestError(413, f"request body over {MAX_BODY} bytes")
            parts.append(self._read_exactly(size))
            self._read_line()  # the CRLF closing the chunk

    def _read_line(self) -> bytes:
        try:
            line = self.rfile.readline(65537)
        except OSError as exc:
            raise _ClientGoneError from exc
        if not line:
            raise _ClientGoneError
        return line

    # --- response ---------------------------------------------------------------------------

    def _write(self, response: SimResponse) -> None:
        stopping = self.server.stopping
        if response.delay > 0 and stopping.wait(response.delay):
            self._drop()  # stop() while waiting: the answer never comes
            return
        if response.drop or stopping.is_set():
            self._drop()
            return
        status = response.status if 100 <= response.status <= 599 else 500
        custom = {name.lower() for name in response.headers}
        no_body = status in _NO_BODY_STATUSES or status < 200
        body = b"" if no_body else response.body
        try:
            self.send_response(status)
            if not no_body:
                if "content-type" not in custom:
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                if name.lower() not in {"content-length", "transfer-encoding"}:
                    self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD" or not body:
                self.wfile.flush()
            elif response.trickle_interval > 0:
                self._trickle(response)
            else:
                self.wfile.write(body)
                self.wfile.flush()
        except OSError as exc:  # the client went away (broken pipe, reset, TLS error)
            logger.debug("writing to %s failed: %s", self.client_address, exc)
            raise _ClientGoneError from exc

    def _trickle(self, response: SimResponse) -> None:
        self.wfile.flush()  # status line and headers go at once
        for index, chunk in enumerate(response.chunks()):
            if index and self.server.stopping.wait(response.trickle_interval):
                self._drop()
                return
            self.wfile.write(chunk)
            self.wfile.flush()

    def _drop(self) -> None:
        """Close without (or without finishing) an answer: the client sees the connection end."""
        self.close_connection = True
        with contextlib.suppress(OSError, ValueError):
            self.wfile.flush()  # only what was legitimately sent already (trickle)
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, also for TLS: no close_notify, just the TCP FIN.
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    # --- logging ----------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s - %s", self.address_string(), format % args)


class _BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Connection threads are joined (briefly) by SimulatorServer.stop(), not by server_close().
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        sim_handler: Handler,
        ssl_context: ssl.SSLContext | None,
        verbose: bool,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim_handler = sim_handler
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        # stop() writes a byte here to wake the accept loop at once (no polling).
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        super().__init__(address, _RequestHandler)

    def serve_until_stopped(self) -> None:
        """The accept loop: ends as soon as ``stopping`` is set and ``wake()`` called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ, "accept")
            selector.register(self._wake_read, selectors.EVENT_READ, "wake")
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.data == "accept" and not self.stopping.is_set():
                        self._accept_one()

    def _accept_one(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:  # the client gave up already, or a failed TLS wrap
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_read.close()
        self._wake_write.close()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens in the connection's thread, never in the accept loop.
            try:
                sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError):
                sock.close()
                raise
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"cwork-sim-conn-{client_address[1]}",
            daemon=True,
        )
        with self._lock:
            self._connections.add(request)
            self._conn_threads.add(thread)
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._conn_threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Never a traceback on stderr for a connection problem; a real bug is logged.
        if self.stopping.is_set():
            logger.debug("connection from %s ended by stop()", client_address, exc_info=True)
        else:
            logger.exception("error while serving %s", client_address)

    def cut_connections(self) -> list[threading.Thread]:
        with self._lock:
            connections = list(self._connections)
            threads = list(self._conn_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        return threads


class SimulatorServer:
    """Serve a simulator handler on a real port (HTTPS when given a server ``ssl_context``).

    ``port=0`` picks a free port; ``.port`` and ``.url`` tell which. ``start()`` serves from a
    daemon thread, ``serve_forever()`` from the calling one; ``stop()`` (or leaving the ``with``
    block) ends both promptly. Per-request lines are logged at DEBUG on
    ``simulator.server``, or written to stderr when ``verbose``.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        *,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._httpd = _HTTPServer((host, port), handler, ssl_context, verbose)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop_thread: int | None = None
        self._loop_done = threading.Event()
        self._started = False
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self._httpd.ssl_context is not None else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Serve from a background daemon thread; returns at once."""
        self._claim()
        self._thread = threading.Thread(
            target=self._loop, name=f"cwork-simulator-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until ``stop()`` (from another thread, or a signal handler)
        or Ctrl-C; the server is stopped when this returns."""
        self._claim()
        try:
            self._loop()
        finally:
            self.stop()

    def _loop(self) -> None:
        self._loop_thread = threading.get_ident()
        try:
            self._httpd.serve_until_stopped()
        finally:
            self._loop_done.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, cut open connections, wake delayed answers. Idempotent; prompt."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        self._httpd.stopping.set()
        self._httpd.wake()
        if started and self._loop_thread != threading.get_ident():
            self._loop_done.wait(timeout)
        self._httpd.server_close()
        threads = self._httpd.cut_connections()
        for thread in threads:
            thread.join(timeout / len(threads))

    def _claim(self) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError("this SimulatorServer was stopped; create a new one")
            if self._started:
                raise RuntimeError("this SimulatorServer is already serving")
            self._started = True

    def __enter__(self) -> SimulatorServer:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving" if self._started else "ready"
        return f"<SimulatorServer {self.url} {state}>"
