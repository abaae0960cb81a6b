"""The sandbox's HTTP plumbing: a threaded HTTP/1.1 server that reads bounded requests, hands
each to the app (hookctl.sandbox.server.Sandbox) and writes its Response, and can end kept-alive
connections when the sandbox stops. It knows nothing of Keap."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from hookctl.domain.secrets import scrub

logger = logging.getLogger("hookctl.sandbox.server")

_JSON = "application/json;charset=UTF-8"
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# Returned instead of a Response when the connection must close without any answer.
DROP = None


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": _JSON, **(headers or {})})


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # Keap's declared error body is a serialized java.lang.Throwable; message is what clients read.
    return json_response(status, {"message": message, "localizedMessage": message}, headers)


class App(Protocol):
    def handle(self, method: str, target: str, headers: Message, body: bytes) -> Response | None:
        """The answer to one request, or DROP to close the connection without one."""


_QUERY = re.compile(r"\?[^\s]*")


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open between calls, as Keap's does; every answer has a length.
    protocol_version = "HTTP/1.1"
    server_version = "hookctl-sandbox"
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's
    # delayed ACK (40 ms a call on Linux).
    disable_nagle_algorithm = True
    # A connection idle (or sending its request) this long is closed, so its thread ends.
    timeout = 10
    server: Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "Send a Content-Length, not a chunked body")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._refuse(413 if length > 0 else 400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        # Only now, with the whole request read, is the connection safe from being closed to
        # make room (Server.process_request): a client cannot hold it by sending slowly.
        self.server.busy(self.connection, True)
        try:
            response = self.server.app.handle(self.command, self.path, self.headers, body)
            if response is DROP:
                self.close_connection = True
                return
            self._send(response)
        finally:
            self.server.busy(self.connection, False)

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._send(error_response(status, message))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # Headers are never logged; a request line's query (?access_token=, a hook url's token)
        # is blanked out, and a value interpolated into a path is hidden.
        line = scrub(_QUERY.sub("?***", format % args))
        logger.debug("%s %s", self.address_string(), line)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # The client and the handshakes it triggers arrive in bursts; a backlog of 5 would make
    # the kernel drop SYNs and cost a second each.
    request_queue_size = 1024
    # At most this many connections (and threads) at once: past it, the connection that has
    # waited longest without a whole request is closed to make room, so a flood of half-sent
    # requests cannot stop the sandbox from answering.
    max_connections = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        # Each open connection, oldest first, and whether a request on it is being served.
        self._connections: dict[socket.socket, bool] = {}
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can take seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            evicted = self._make_room()
            self._connections[request] = False
        if evicted is not None:
            logger.debug("too many connections: closing one that sent no whole request")
            with contextlib.suppress(OSError):
                evicted.shutdown(socket.SHUT_RDWR)
        super().process_request(request, client_address)

    def _make_room(self) -> socket.socket | None:
        if len(self._connections) < self.max_connections:
            return None
        for connection, serving in self._connections.items():
            if not serving:
                del self._connections[connection]
                return connection
        return None

    def busy(self, connection: socket.socket, serving: bool) -> None:
        with self._connections_lock:
            if connection in self._connections:
                self._connections[connection] = serving

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections, so that nothing is served after stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is routine: a debug line, never a traceback on stderr.
        logger.debug("error while serving %s", client_address, exc_info=True)
