"""A pull request's hooks file must not make the runner POST to a service on its own loopback
(Docker's API on 127.0.0.1:2375): probe reaches loopback only when the account's API url is
itself loopback (the sandbox, whose receivers live there too) or with --allow-private. And the
name lookup is bounded by the probe's own timeout, shown here with an injected resolver."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli

from hookctl.engine import probe

# Never contacted: `hookctl probe` reads only the hooks files and calls nothing at Keap.
PUBLIC_API = "https://api.infusionsoft.com/crm/rest/v1"
LOOPBACK_API = "http://127.0.0.1:9/crm/rest/v1"


@dataclass
class Docker:
    """A stand-in for a daemon on the runner's loopback: records every request it gets."""

    base: str = ""
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def docker() -> Iterator[Docker]:
    found = Docker()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            found.paths.append(self.path)
            self.send_response(200)
            self.send_header("X-Hook-Secret", self.headers.get("X-Hook-Secret", ""))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    found.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the probe attempts."""
    attempts: list[Any] = []
    real = socket.create_connection

    def recorded(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recorded)
    return attempts


def hooks_file(tmp_path: Path, url: str, api_url: str | None = None) -> Path:
    account = f"account:\n  api_url: '{api_url}'\n" if api_url else ""
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"version: 1\n{account}hooks:\n  - name: prune\n    url: '{url}'\n"
        "    events: [contact.add]\n"
    )
    return path


def probed(cli: Cli, config: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    result = cli.run("probe", "-f", str(config), "--format", "json", *flags, status=None)
    return result.status, json.loads(result.out)


def test_a_loopback_receiver_beside_a_public_api_is_refused_without_connecting(
    docker: Docker,
    connections: list[Any],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_URL", PUBLIC_API)
    for host in ("127.0.0.1", "localhost", "[::1]", "127.1.2.3"):
        port = docker.base.rsplit(":", 1)[1]
        config = hooks_file(tmp_path, f"http://{host}:{port}/v1.43/containers/prune")
        status, document = probed(cli, config)
        assert status == 1, host
        [row] = document["probes"]
        assert row["outcome"] == "refused", (host, row)
        assert "loopback" in row["detail"] and "--allow-private" in row["detail"]
    assert connections == [] and docker.paths == []


def test_the_hooks_file_cannot_unlock_loopback_when_the_api_url_is_pinned_outside_it(
    docker: Docker,
    connections: list[Any],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recipes pin KEAP_API_URL: a pull request's `account.api_url: http://127.0.0.1:…`
    is not the url credentials go to, so it does not make loopback the sandbox's case."""
    monkeypatch.setenv("KEAP_API_URL", PUBLIC_API)
    config = hooks_file(tmp_path, f"{docker.base}/v1.43/containers/prune", LOOPBACK_API)
    status, document = probed(cli, config)
    assert (status, document["probes"][0]["outcome"]) == (1, "refused")
    assert connections == [] and docker.paths == []


def test_with_no_api_url_anywhere_the_default_public_api_keeps_loopback_refused(
    docker: Docker,
    connections: list[Any],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KEAP_API_URL")
    status, document = probed(cli, hooks_file(tmp_path, f"{docker.base}/hook"))
    assert (status, document["probes"][0]["outcome"]) == (1, "refused")
    assert connections == [] and docker.paths == []


def test_allow_private_or_a_loopback_api_lets_the_probe_reach_a_loopback_receiver(
    docker: Docker, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = hooks_file(tmp_path, f"{docker.base}/hook")
    monkeypatch.setenv("KEAP_API_URL", PUBLIC_API)
    status, document = probed(cli, config, "--allow-private")
    assert (status, document["probes"][0]["outcome"]) == (0, "ok")
    # The sandbox's case: the API the account talks to is on loopback, like its receivers.
    monkeypatch.setenv("KEAP_API_URL", LOOPBACK_API)
    status, document = probed(cli, config)
    assert (status, document["probes"][0]["outcome"]) == (0, "ok")
    # No pin outside the file: the file's own api_url is the one credentials would go to.
    monkeypatch.delenv("KEAP_API_URL")
    status, document = probed(cli, hooks_file(tmp_path, f"{docker.base}/hook", LOOPBACK_API))
    assert (status, document["probes"][0]["outcome"]) == (0, "ok")
    assert docker.paths == ["/hook"] * 3


def test_a_name_lookup_that_never_answers_is_a_timeout_under_the_probes_own_bound(
    connections: list[Any],
) -> None:
    """The resolver blocks until the test releases it, after the probe has returned: the only
    way the probe returns is its own deadline (no stopwatch needed)."""
    release = threading.Event()
    asked: list[str] = []

    def hung(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        release.wait(30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 9))]

    try:
        found = probe.handshake("http://slow-dns.invalid/hook", timeout=0.05, resolve=hung)
    finally:
        release.set()
    assert found.outcome == "timeout", found
    assert "did not resolve within" in found.detail
    assert asked == ["slow-dns.invalid"] and connections == []


def test_lookups_a_timeout_left_behind_are_capped_so_a_hung_resolver_piles_up_no_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With room for 3 lookups, 3 hung ones time out and keep their threads; the 4th is a
    timeout without a new thread, and once they end the next lookup runs again."""
    monkeypatch.setattr(probe, "_lookups", threading.BoundedSemaphore(3))
    release = threading.Event()
    asked: list[str] = []

    def hung(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        release.wait(30)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    try:
        outcomes = [
            probe.handshake(f"http://h{i}.invalid/", timeout=0.05, resolve=hung).outcome
            for i in range(4)
        ]
    finally:
        release.set()
    assert outcomes == ["timeout"] * 4
    assert asked == ["h0.invalid", "h1.invalid", "h2.invalid"]
    after = probe.handshake("http://h4.invalid/", timeout=5, resolve=hung)
    assert (after.outcome, asked[-1]) == ("unreachable", "h4.invalid")


def test_a_failed_or_empty_lookup_is_unreachable_and_connects_nowhere(
    connections: list[Any],
) -> None:
    def failing(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def empty(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return []

    for resolver in (failing, empty):
        found = probe.handshake("http://nowhere.invalid/hook", timeout=1, resolve=resolver)
        assert (found.outcome, found.detail) == ("unreachable", "the host name does not resolve")
    assert connections == []


def test_a_name_that_resolves_to_loopback_is_refused_like_the_address_itself(
    connections: list[Any],
) -> None:
    def loopback(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 2375))]

    found = probe.handshake("http://docker.invalid:2375/v1.43/containers/prune", resolve=loopback)
    assert found.outcome == "refused", found
    assert connections == []
