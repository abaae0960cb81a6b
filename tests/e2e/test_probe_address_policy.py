"""Probe runs a handshake a pull request aims: it refuses private, link-local (metadata),
unspecified and mapped addresses before connecting, unless --allow-private, and connects to
the very address it checked. Nothing here connects to a non-loopback address: a guard turns
any such attempt into a failure."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookctl.cli.commands import main
from hookctl.domain.urls import address_refusal
from hookctl.engine import probe

REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one decimal number
    "http://0xa9fea9fe/latest/meta-data/",  # and in hex
    "http://10.0.0.1/v1.43/containers/prune",
    "http://[::ffff:169.254.169.254]/latest/",
    "http://[::ffff:a9fe:a9fe]/latest/",
    "http://0.0.0.0:2375/v1.43/containers/prune",
    "http://[fd00:ec2::254]/latest/",
]


@pytest.fixture
def no_outside_connection(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection attempt, recorded; one to a non-loopback address fails the test
    instead of leaving the machine."""
    attempts: list[Any] = []
    real = socket.create_connection

    def guarded(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        if address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"probe connected to {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts


@pytest.fixture
def echo() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("X-Hook-Secret", self.headers.get("X-Hook-Secret", ""))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_private_metadata_unspecified_or_mapped_address_is_refused_before_connecting(
    url: str, no_outside_connection: list[Any]
) -> None:
    found = probe.handshake(url, timeout=1)
    assert found.outcome == "refused", found
    assert "--allow-private" in found.detail
    assert no_outside_connection == []


def test_public_addresses_pass_and_private_ones_are_refused() -> None:
    for address in ("8.8.8.8", "2606:4700:4700::1111"):
        assert address_refusal(address) is None, address
    for address in ("192.168.1.1", "172.16.0.1", "100.64.0.1", "224.0.0.1", "fe80::1"):
        assert address_refusal(address) is not None, address


def test_probe_and_plan_probe_refuse_them_in_one_line_each_and_exit_1(
    tmp_path: Path, no_outside_connection: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hooks.yaml"
    hooks = "".join(
        f"  - name: h{i}\n    url: '{url}'\n    events: [contact.add]\n"
        for i, url in enumerate(REFUSED_URLS)
    )
    config.write_text(f"version: 1\nhooks:\n{hooks}")
    assert main(["probe", "-f", str(config), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["refused"] == len(REFUSED_URLS)
    assert main(["probe", "-f", str(config), "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert markdown.count("| ❌ | refused |") == len(REFUSED_URLS)
    assert no_outside_connection == []


def test_the_connection_goes_to_the_address_checked_whatever_the_name_says_next(
    echo: str, monkeypatch: pytest.MonkeyPatch, no_outside_connection: list[Any]
) -> None:
    """DNS rebinding: the name resolves to loopback when checked and to 10.0.0.1 after; the
    probe resolves once and connects to the loopback address it checked."""
    port = int(echo.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.invalid":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    found = probe.handshake(f"http://rebind.invalid:{port}/hook", timeout=2, allow_loopback=True)
    assert found.outcome == "ok", found
    assert [address[0] for address in no_outside_connection] == ["127.0.0.1"]


def test_allow_private_lets_the_owner_probe_their_own_network(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--allow-private skips the check (shown against a name that resolves, for this test,
    to a private address mapped onto the loopback receiver)."""
    port = int(echo.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    connect = socket.create_connection

    def private(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "intranet.invalid":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]
        return real(host, *args, **kwargs)

    def to_loopback(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        assert address[0] == "10.0.0.1"
        return connect(("127.0.0.1", address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", private)
    monkeypatch.setattr(socket, "create_connection", to_loopback)
    url = f"http://intranet.invalid:{port}/hook"
    assert probe.handshake(url, timeout=2).outcome == "refused"
    assert probe.handshake(url, timeout=2, allow_private=True).outcome == "ok"
