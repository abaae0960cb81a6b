"""A drift or plan of many accounts on one API host shares keep-alive connections between
the accounts' clients (keap.transport.Connections): one account after another reuses them
instead of opening (with Keap, a TLS handshake) and closing one each. Counted, not timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3.connection
from helpers.cli import TWO, Cli, write_config

from hookctl.sandbox import Sandbox

ACCOUNTS = 12
AT_ONCE = 3


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many connections the clients opened."""
    count = [0]
    lock = threading.Lock()
    connect = urllib3.connection.HTTPConnection.connect

    def counted(self: urllib3.connection.HTTPConnection) -> None:
        with lock:
            count[0] += 1
        connect(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counted)
    yield count


@pytest.fixture
def fleet(sandbox: Sandbox, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """clients/: ACCOUNTS one-account files on the sandbox, each with its own key variable."""
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    folder = tmp_path / "clients"
    folder.mkdir()
    text = write_config(tmp_path, sandbox, TWO).read_text()
    for index in range(ACCOUNTS):
        monkeypatch.setenv(f"KEY_{index}", api_key)
        account = f"account:\n  api_url: {sandbox.api_url}\n"
        (folder / f"c{index:02d}.yaml").write_text(
            text.replace("account:\n", account).replace("KEAP_API_KEY", f"KEY_{index}")
        )
    return folder


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_accounts_on_one_host_share_connections(
    command: str, fleet: Path, sandbox: Sandbox, opened: list[int], cli: Cli
) -> None:
    argv = [command, "-f", str(fleet), "--account-parallelism", str(AT_ONCE), "--format", "json"]
    assert cli.run(*argv, status=None).status in (0, 2)
    assert sum(sandbox.stats()["calls"].values()) == ACCOUNTS  # one list each
    # At most one connection per account at work at once, instead of one per account.
    assert 1 <= opened[0] <= AT_ONCE
