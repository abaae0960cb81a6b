"""`drift`/`plan --format html -o FILE` end to end: the CLI in-process against a sandbox, one
account drifted with a token in a live url, one unreachable, in a directory whose name is
markup."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import CLOSED_PORT, TWO, Cli, write_config

from hookctl.keap.client import RetryPolicy
from hookctl.sandbox import Sandbox

SECRET = "tok-PAGE-SECRET-51ab"


@pytest.fixture
def fleet_dir(
    sandbox: Sandbox, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """clients/ (below a directory named as markup): acme on the sandbox with one Inactive
    hook whose url holds a token, and down, whose API refuses connections."""
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, retry: 0.01)  # down, quickly
    folder = tmp_path / '"><script>alert(1)</script>' / "clients"
    folder.mkdir(parents=True)
    text = write_config(tmp_path, sandbox, TWO).read_text()
    for name, url in (("acme", sandbox.api_url), ("down", CLOSED_PORT)):
        account = f"account:\n  api_url: {url}\n"
        (folder / f"{name}.yaml").write_text(text.replace("account:\n", account))
    sandbox.set_quota(30_000, used=100)
    sandbox.seed([("contact.add", f"{sandbox.receiver_url}/managed/x?token={SECRET}", "Inactive")])
    return folder


def test_drift_writes_one_page_with_a_row_per_account_and_masks_and_escapes_it(
    fleet_dir: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "fleet.html"
    result = cli.run("drift", "-f", str(fleet_dir), "--format", "html", "-o", str(out), status=1)
    captured = result
    assert captured.out == ""  # the page went to the file, the closing list nowhere
    assert f"wrote {out}: 2 accounts, 0 in sync, 1 drifted, 1 failed" in captured.err
    text = out.read_text()
    assert text.count('<tbody class="account"') == 2
    assert 'data-state="drifted"' in text and 'data-state="failed"' in text
    assert SECRET not in text and "token=***(" in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text
    # Keap's daily quota as the sandbox reported it (less the list); none for the other.
    assert "29,899 / 30,000" in text
    assert "1</span> hooks Inactive" in text


def test_plan_writes_the_page_too_and_saves_nothing_else(
    fleet_dir: Path, tmp_path: Path, cli: Cli
) -> None:
    out = tmp_path / "plan.html"
    acme = str(fleet_dir / "acme.yaml")
    result = cli.run("plan", "-f", acme, "--format", "html", "-o", str(out))
    assert result.out == ""
    text = out.read_text()
    assert "hookctl plan: 1 account" in text and "<td>create</td>" in text


def test_the_page_goes_to_stdout_without_o(fleet_dir: Path, cli: Cli) -> None:
    result = cli.run("drift", "-f", str(fleet_dir / "acme.yaml"), "--format", "html", status=2)
    out = result.out
    assert out.startswith("<!DOCTYPE html>") and out.count("<html") == 1


def test_o_without_the_html_format_is_one_line_and_no_call(
    fleet_dir: Path, sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    before = sandbox.stats()["calls"]
    result = cli.run("drift", "-f", str(fleet_dir), "-o", str(tmp_path / "x.html"), status=1)
    err = result.err
    assert "--format html" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert sandbox.stats()["calls"] == before
    assert not (tmp_path / "x.html").exists()


HOSTILE_KEAP = (
    f"</td></tr><script>alert('keap')</script>\" refused https://x.example/?token={SECRET}"
)


@pytest.fixture
def hostile_keap() -> Iterator[str]:
    """A Keap that refuses every call with markup and a token url in its error message."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"message": HOSTILE_KEAP}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/crm/rest/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hostile_keap_error_text_shows_as_text_with_its_token_masked(
    fleet_dir: Path, hostile_keap: str, tmp_path: Path, cli: Cli
) -> None:
    acme = fleet_dir / "acme.yaml"
    text = acme.read_text()  # pointed at the hostile Keap instead of the sandbox
    start = text.index("api_url: ") + len("api_url: ")
    acme.write_text(text[:start] + hostile_keap + text[text.index("\n", start) :])
    out = tmp_path / "hostile.html"
    result = cli.run("drift", "-f", str(acme), "--format", "html", "-o", str(out), status=1)
    page = out.read_text()
    assert 'data-state="failed"' in page
    assert "&lt;script&gt;alert(&#x27;keap&#x27;)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "</td></tr><script>" not in page
    assert SECRET not in page and SECRET not in result.err


def test_a_plan_apply_would_refuse_is_a_failed_row_saying_why(
    fleet_dir: Path, sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    acme = fleet_dir / "acme.yaml"
    text = acme.read_text()
    acme.write_text(text[: text.index("hooks:")] + "hooks: []\n")  # would delete every one
    sandbox.seed([("order.add", f"{sandbox.receiver_url}/managed/orders", "Verified")])
    out = tmp_path / "refused.html"
    result = cli.run("plan", "-f", str(acme), "--format", "html", "-o", str(out), status=1)
    page = out.read_text()
    assert 'data-state="failed"' in page and "refusing to delete" in page
    assert "<td>delete</td>" in page  # the refused plan is still shown
    assert "refusing to delete" in result.err
