"""The sandbox holds under attack: a flood of half-sent requests does not stop it answering,
a deeply nested body is a 400 (not a RecursionError), and a client that hangs up is a debug
line, not a traceback. Everything stays on loopback."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from typing import Any

import pytest
import requests

from hookctl.cli import command_output
from hookctl.sandbox import Sandbox, SandboxSettings

HALF_OPEN = 2_000
# The whole flood must be opened within this long, or the test fails rather than hangs.
FLOOD_BUDGET_S = 60.0


def test_health_answers_within_a_second_while_2000_half_open_connections_are_held(
    sandbox: Sandbox,
) -> None:
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    held: list[socket.socket] = []
    deadline = time.monotonic() + FLOOD_BUDGET_S
    try:
        for _ in range(HALF_OPEN):
            assert time.monotonic() < deadline, f"only {len(held)} connections opened in time"
            client = socket.create_connection((host, int(port)), timeout=5)
            # A request line and a header, never the blank line that ends the headers.
            client.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\n")
            held.append(client)
        # The first answer waits for the server to accept what the flood left in its listen
        # backlog (about half a second here); once it has, each answer comes within a second
        # while all 2,000 are still held.
        requests.get(sandbox.url + "/_sandbox/health", timeout=5).raise_for_status()
        for _ in range(3):
            answer = requests.get(sandbox.url + "/_sandbox/health", timeout=1)
            assert answer.status_code == 200
        # Past its cap the sandbox closed the oldest half-sent requests: no thread per
        # connection held.
        assert threading.active_count() < 2 * 128 + 50
    finally:
        for client in held:
            client.close()


def test_a_deeply_nested_body_is_a_400(sandbox: Sandbox, api_key: str) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    answer = requests.post(
        sandbox.api_url + "/hooks",
        data=body,
        headers={"X-Keap-API-Key": api_key, "Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert "nested deeper" in answer.json()["message"]


def test_a_client_that_hangs_up_prints_no_traceback(
    sandbox: Sandbox, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite quiets every server's errors (conftest); the standard library's own hook
    # prints a traceback, which only the sandbox's own handle_error keeps off stderr.
    def traceback_on_stderr(self: socketserver.BaseServer, request: Any, address: Any) -> None:
        sys.stderr.write("Traceback: error while serving\n")

    monkeypatch.setattr(socketserver.BaseServer, "handle_error", traceback_on_stderr)
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    for _ in range(5):
        client = socket.create_connection((host, int(port)), timeout=5)
        client.sendall(b"POST /_sandbox/receiver/x HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()  # a reset, mid-body
    requests.get(sandbox.url + "/_sandbox/health", timeout=5).raise_for_status()
    assert "Traceback" not in capfd.readouterr().err


class _OffLoopback(Sandbox):
    """A sandbox on loopback that reports a bind to every interface: the banner's warning is
    checked without exposing anything to the network."""

    @property
    def bound_to(self) -> str:
        return "0.0.0.0:8787"

    @property
    def loopback_only(self) -> bool:
        return False


def test_the_banner_tells_the_real_bind_address_and_warns_off_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Sandbox(SandboxSettings(api_key="k")) as on_loopback:
        command_output.sandbox_banner(on_loopback, "k", None)
        assert on_loopback.loopback_only
        bound = on_loopback.bound_to
    out, err = capsys.readouterr()
    assert (
        bound.startswith("127.0.0.1:")
        and f"listening {bound}" in out
        and "WARNING" not in out + err
    )
    with _OffLoopback(SandboxSettings(api_key="k")) as exposed:
        command_output.sandbox_banner(exposed, "k", None)
    out, err = capsys.readouterr()
    assert "listening 0.0.0.0:8787" in out
    assert "WARNING: not on loopback" in err
