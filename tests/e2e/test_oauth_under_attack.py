"""OAuth under attack, through the CLI: a token file or lock that is not safely the user's, a
token with a header injection in it, a token endpoint that answers huge, echoes the refresh
token or answers 200 without JSON, a full disk after the refresh, and the redirect catcher
held by an idle connection or asked to listen on every interface. All traffic on loopback."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hookctl.cli.commands import main
from hookctl.errors import HookctlError
from hookctl.keap import oauth
from hookctl.sandbox import Sandbox
from hookctl.system.files import PendingWrite

REFRESH = "refresh-FROM-FILE-6b21c9d0"


def _write_tokens(path: Path, access: str, refresh: str = REFRESH, expires_at: float = 0) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {"access_token": access, "refresh_token": refresh, "expires_at": expires_at}
    path.write_text(json.dumps(data))
    path.chmod(0o600)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_a_token_with_a_header_injection_is_one_line_without_the_token(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_tokens(app, "AT-line1\nX-Injected: 1", expires_at=time.time() + 86400)
    code, shown = _run(capsys, "hooks", "list")
    assert code == 1
    assert "control character" in shown and str(app) in shown
    assert "AT-line1" not in shown and "Traceback" not in shown


@pytest.mark.parametrize("how", ["writable by others", "symlink", "owned by another user"])
def test_a_token_file_not_safely_the_users_is_refused_and_left_alone(
    how: str, app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if how == "owned by another user":
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("giving a file to another user takes root")
        _write_tokens(app, "AT-fine", expires_at=time.time() + 86400)
        # Root reads any file: the refusal must come from the owner check, not from the mode.
        os.chown(app, 65534, 65534)
    elif how == "symlink":
        real = tmp_path / "elsewhere.json"
        _write_tokens(real, "AT-fine", expires_at=time.time() + 86400)
        app.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        app.symlink_to(real)
    else:
        _write_tokens(app, "AT-fine", expires_at=time.time() + 86400)
        app.chmod(0o666)
    code, shown = _run(capsys, "hooks", "list")
    assert code == 1 and how in shown and "Traceback" not in shown
    assert app.is_symlink() == (how == "symlink")


def test_a_planted_lock_symlink_creates_nothing_where_it_points(
    app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = tmp_path / "victim"
    app.with_name(app.name + ".lock").symlink_to(target)
    code, shown = _run(capsys, "hooks", "list")
    assert code == 1 and "lock" in shown and "Traceback" not in shown
    assert not target.exists()


class _Endpoint(http.server.BaseHTTPRequestHandler):
    """A hostile token endpoint: what it answers is the server's `answer`, at once or (with
    `drip`) one byte at a time."""

    server: Any

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.drip:
            self._drip(body)
            return
        sent = 0
        try:
            for start in range(0, len(body), 65536):
                self.wfile.write(body[start : start + 65536])
                sent += min(65536, len(body) - start)
        except OSError:
            pass
        self.server.sent = sent

    def _drip(self, body: bytes) -> None:
        for index in range(len(body)):
            try:
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
            except OSError:
                return
            self.server.sent = index + 1
            time.sleep(self.server.drip)

    def log_message(self, *args: object) -> None:
        pass


class _EndpointServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    answer: tuple[int, bytes] = (200, b"")
    sent = 0
    drip = 0.0


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = _EndpointServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("KEAP_TOKEN_URL", f"http://127.0.0.1:{server.server_address[1]}/token")
    yield server
    server.shutdown()
    server.server_close()


def test_a_non_json_200_is_not_called_a_refusal(
    app: Path, endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.answer = (200, b"<html>welcome</html>")
    code, shown = _run(capsys, "hooks", "list")
    assert code == 1
    assert "without an access token" in shown and "refused: OK" not in shown


def test_an_echo_of_the_files_refresh_token_is_redacted(
    app: Path, endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_tokens(app, "AT-expired")
    endpoint.answer = (400, json.dumps({"error": f"unknown token {REFRESH}"}).encode())
    code, shown = _run(capsys, "-vvv", "hooks", "list")
    assert code == 1 and "refused" in shown
    assert REFRESH[:8] not in shown


def test_a_huge_answer_is_not_read_whole(
    app: Path, endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    size = 64 * 1024 * 1024
    endpoint.answer = (200, b'{"access_token": "' + b"a" * size + b'"}')
    code, _ = _run(capsys, "hooks", "list")
    assert code == 1
    # The client stopped reading at the bound: the server could not send it all.
    assert endpoint.sent < size // 2


def test_a_drip_fed_answer_is_given_up_at_the_deadline(
    app: Path, endpoint: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "TOKEN_DEADLINE", 0.5)
    endpoint.drip = 0.05  # a byte every 50 ms: 200 bytes would take 10 s
    endpoint.answer = (200, b'{"access_token": "' + b"a" * 180 + b'"}')
    code, shown = _run(capsys, "hooks", "list")
    assert code == 1 and "did not answer" in shown
    # Given up long before the whole answer: counted in bytes, not timed.
    assert endpoint.sent < 150


def test_a_failed_write_after_the_refresh_keeps_the_pair_for_the_run_and_says_so(
    sandbox: Sandbox, app: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(self: PendingWrite, text: str, *, overwrite: bool = True) -> None:
        self.discard()
        raise HookctlError(f"{self.target}: cannot write the OAuth tokens: No space left")

    monkeypatch.setattr(PendingWrite, "commit", full_disk)
    code, shown = _run(capsys, "hooks", "list")
    assert code == 0, shown  # the run goes on with the new pair
    assert "grant is at risk" in shown and "hookctl auth login" in shown
    assert sandbox.tokens.refreshes == 1 and not app.exists()


def test_the_redirect_catcher_listens_on_loopback_only() -> None:
    with pytest.raises(HookctlError, match="not loopback"):
        oauth.catch_redirect("http://0.0.0.0:1/callback", "s", timeout=1)


def test_an_idle_connection_does_not_block_the_redirect_catcher() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/callback"
    result: list[str] = []
    catcher = threading.Thread(
        target=lambda: result.append(oauth.catch_redirect(redirect, "st", timeout=20))
    )
    catcher.start()
    idle = None
    for _ in range(100):
        try:
            idle = socket.create_connection(("127.0.0.1", port), timeout=5)  # a preconnect
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    assert idle is not None
    try:
        answer = requests.get(redirect, params={"code": "C0DE", "state": "st"}, timeout=3)
        assert answer.status_code == 200
        catcher.join(timeout=10)
        assert result == ["C0DE"]
    finally:
        idle.close()
