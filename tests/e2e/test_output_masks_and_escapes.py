"""What hookctl shows, against a hostile world (issue 13, items 2 and 7).

Hook urls carry credentials: receivers commonly authenticate Keap by a token in the query. No
output channel shows one (plans in every format, the saved plan, the step summary, apply and
drift reports, the notify body, `hooks` commands, errors, log lines); `hooks list/get --reveal`
does, for the person who asks. Text from Keap or from a url reaches a terminal with its control
characters escaped, markdown with its mentions, references and links inert, Slack's `text` with
`& < >` escaped; cells are capped and a step summary stays under GitHub's 1 MiB; a lone
surrogate crashes nothing.

Every test runs hookctl as a user would (`hookctl.cli.main`), against the sandbox or against a
hostile Keap on loopback that answers whatever the test tells it to.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from helpers.cli import Cli, Tty
from helpers.witness import API_KEY, TOKEN, Witness

from hookctl.domain.models import KNOWN_EVENT_KEYS
from hookctl.sandbox import Sandbox, SandboxSettings

PREFIX = "/crm/rest/v1"
OURS = "https://hooks.example.com"
ESCAPES = ("\x1b", "\x07", "\x9b", "\r")  # ESC, BEL, CSI, carriage return


def new_token(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(10)}"


# -- a Keap that answers what the test says ----------------------------------------------------


@dataclass
class Hostile:
    """The account a hostile Keap lists, and how it answers writes: `refusal` (a message) makes
    every write a 400 carrying it; otherwise writes succeed and a create gets `create_key`."""

    hooks: list[dict[str, str]] = field(default_factory=list)
    refusal: str | None = None
    create_key: str = "900"
    api_url: str = ""
    writes: list[tuple[str, str, Any]] = field(default_factory=list)

    def add(self, key: str, event_key: str, hook_url: str, status: str = "Verified") -> None:
        self.hooks.append(
            {"key": key, "eventKey": event_key, "hookUrl": hook_url, "status": status}
        )

    def answer(self, method: str, path: str, body: Any, api_key: str = "") -> tuple[int, Any]:
        if api_key == "refused" and self.refusal is not None:
            return 403, {"message": self.refusal}
        if method == "GET" and path == "/hooks/event_keys":
            return 200, list(KNOWN_EVENT_KEYS)
        if method == "GET" and path == "/hooks":
            return 200, self.hooks
        self.writes.append((method, path, body))
        if self.refusal is not None and method != "GET":
            return 400, {"message": self.refusal}
        key = unquote(path.split("/")[2]) if path.count("/") >= 2 else None
        found = next((h for h in self.hooks if h["key"] == key), None)
        if method == "POST" and path == "/hooks":
            hook = {**body, "key": self.create_key, "status": "Verified"}
            self.hooks.append(hook)
            return 200, hook
        if found is None:
            return 404, {"message": "not found"}
        if method == "DELETE":
            self.hooks.remove(found)
            return 204, None
        if method == "PUT":
            found.update(body)
        found["status"] = "Verified"
        return 200, found


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """A hostile Keap on loopback, with the environment hookctl reads pointed at it."""
    state = Hostile()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, body = state.answer(
                self.command,
                self.path.removeprefix(PREFIX),
                json.loads(raw) if raw else None,
                self.headers.get("X-Keap-API-Key", ""),
            )
            # json.dumps escapes a lone surrogate as \ud800, which the client decodes back.
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.api_url = f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    monkeypatch.setenv("KEAP_API_URL", state.api_url)
    monkeypatch.setenv("KEAP_API_KEY", "sk-hostile")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    yield state
    server.shutdown()
    server.server_close()


def hooks_yaml(tmp_path: Path, entries: dict[str, tuple[str, list[str]]], owns: str) -> str:
    """A hooks.yaml: `entries` maps a name to (url, events); `owns` is the ownership section's
    body, e.g. "all: true"."""
    lines = [
        "version: 1",
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY",
        f"ownership:\n  {owns}",
        "hooks:" if entries else "hooks: []",
    ]
    for name, (url, events) in entries.items():
        lines.append(f"  - name: {name}\n    url: '{url}'\n    events: [{', '.join(events)}]")
    path = tmp_path / "hooks.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(cli: Cli, status: int, *argv: str) -> tuple[str, str]:
    result = cli.run(*argv, status=status)
    return result.out, result.err


def without_code_spans(markdown: str) -> str:
    # GitHub neither links nor mentions inside a code span.
    return re.sub(r"(`+).*?\1", "", markdown)


# -- url tokens, against the sandbox ------------------------------------------------------------


@dataclass(frozen=True)
class Tokened:
    """A sandbox account with url tokens: one in hooks.yaml (through ${HOOK_TOKEN}), others in
    live subscriptions (a managed one that moved, one to delete, an unmanaged one)."""

    sandbox: Sandbox
    config: str
    declared: str  # the token hooks.yaml's url carries
    live: str  # the token of the live urls

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.declared, self.live)


@pytest.fixture
def quiet_sandbox() -> Iterator[None]:
    """The sandbox stands in for Keap and the receivers: its own debug log (the request lines
    of the handshakes it receives, query included) is not hookctl's output."""
    sandbox_logger = logging.getLogger("hookctl.sandbox")
    sandbox_logger.setLevel(logging.WARNING)
    yield
    sandbox_logger.setLevel(logging.NOTSET)


@pytest.fixture
def tokened(
    env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet_sandbox: None
) -> Tokened:
    declared, live = new_token("urltok"), new_token("livetok")
    monkeypatch.setenv("HOOK_TOKEN", declared)
    base = f"{env.receiver_url}/ours"
    env.seed(
        [
            ("contact.add", f"{base}/old?token={live}", "Verified"),  # receiver moved: update
            ("note.add", f"{base}/stale?token={live}", "Verified"),  # not declared: delete
            ("order.add", f"{env.receiver_url}/theirs?token={live}", "Verified"),  # unmanaged
        ]
    )
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY\n"
        f"ownership:\n  url_prefixes: ['{base}/']\n"
        f"hooks:\n  - name: contacts\n    url: {base}/contacts?token=${{HOOK_TOKEN}}\n"
        "    events: [contact.add, contact.edit]\n"
    )
    return Tokened(env, str(config), declared, live)


def assert_masked(text: str, *tokens: str) -> None:
    for token in tokens:
        assert token not in text
    assert "token=***(" in text, "no masked url was shown at all"


def test_plans_in_every_format_the_plan_file_and_the_step_summary_mask_url_tokens(
    tokened: Tokened,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    summary, plan_file = tmp_path / "summary.md", tmp_path / "plan.json"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for fmt in ("text", "markdown", "json"):
        out, err = run(cli, 0, "-vv", "plan", "-f", tokened.config, "--format", fmt)
        assert_masked(out + err, *tokened.tokens)
    out, err = run(cli, 0, "-vv", "plan", "-f", tokened.config, "--out", str(plan_file))
    assert_masked(out + err + plan_file.read_text() + summary.read_text(), *tokened.tokens)
    # A reviewer still sees which subscription is which, and that a token changed.
    document = json.loads(run(cli, 0, "plan", "-f", tokened.config, "--format", "json")[0])
    update = next(c for c in document["changes"] if c["action"] == "update")
    assert update["old_hook_url"].startswith(f"{tokened.sandbox.receiver_url}/ours/old?token=***(")
    assert update["reason"].startswith(f"receiver moved: {update['old_hook_url']} is no longer")


def test_apply_reports_in_every_format_mask_url_tokens_and_keap_gets_the_real_urls(
    tokened: Tokened, tty: Tty, cli: Cli
) -> None:
    out, err = run(cli, 0, "-vv", "apply", "-f", tokened.config, "--dry-run")
    assert_masked(out + err, *tokened.tokens)
    for fmt in ("json", "markdown", "text"):
        tokened.sandbox.seed(
            [("note.add", f"{tokened.sandbox.receiver_url}/ours/x?token=1", "Verified")]
        )
        terminal = tty("sys.stderr")  # progress lines are shown on a terminal
        out, _ = run(
            cli, 0, "-vv", "apply", "-f", tokened.config, "--auto-approve", "--format", fmt
        )
        assert_masked(out + terminal.getvalue(), *tokened.tokens)
    urls = {hook.hook_url for hook in tokened.sandbox.hooks()}
    assert f"{tokened.sandbox.receiver_url}/ours/contacts?token={tokened.declared}" in urls
    assert not any("***" in url for url in urls)


def test_drift_reports_and_the_notify_body_mask_url_tokens(
    tokened: Tokened,
    receiver: tuple[str, list[dict[str, Any]]],
    cli: Cli,
) -> None:
    url, bodies = receiver
    for fmt in ("text", "markdown", "json"):
        out, err = run(
            cli, 2, "-vv", "drift", "-f", tokened.config, "--format", fmt, "--notify", url
        )
        assert_masked(out + err, *tokened.tokens)
    assert len(bodies) == 3
    assert_masked(json.dumps(bodies), *tokened.tokens)
    assert "token=***(" in bodies[0]["text"]


def test_hooks_commands_mask_url_tokens_unless_revealed(tokened: Tokened, cli: Cli) -> None:
    sb, declared = tokened.sandbox, tokened.declared
    key = next(h.key for h in sb.hooks() if "/stale?" in h.hook_url)
    for argv in (
        ["hooks", "list"],
        ["hooks", "list", "--format", "json"],
        ["hooks", "get", key],
        ["hooks", "get", key, "--format", "json"],
    ):
        out, err = run(cli, 0, "-vv", *argv)
        assert_masked(out + err, *tokened.tokens)
        revealed, _ = run(cli, 0, *argv, "--reveal")
        assert f"token={tokened.live}" in revealed
    created = f"{sb.receiver_url}/ours/new?token={declared}"
    out, err = run(cli, 0, "-vv", "hooks", "create", "contact.delete", created)
    assert_masked(out + err, declared)
    new = next(h.key for h in sb.hooks() if h.hook_url == created)  # Keap got the real url
    for argv in (
        ["hooks", "update", new, "contact.edit", created],
        ["hooks", "verify", new],
        ["hooks", "verify", new, "--format", "json"],
    ):
        out, err = run(cli, 0, "-vv", *argv)
        assert_masked(out + err, declared)


# -- a hostile Keap -----------------------------------------------------------------------------


def test_a_stale_plan_error_masks_urls_and_escapes_control_characters(
    hostile: Hostile, tmp_path: Path, cli: Cli
) -> None:
    hostile.add("1", "contact.add", f"{OURS}/keap")
    config = hooks_yaml(
        tmp_path, {"keap": (f"{OURS}/keap", ["contact.add", "contact.edit"])}, "all: true"
    )
    plan_file = str(tmp_path / "plan.json")
    run(cli, 0, "plan", "-f", config, "--out", plan_file)
    token = new_token("stale")
    hostile.hooks[0]["hookUrl"] = f"{OURS}/keap/\x1b]0;owned\x07\x1b[2K\rforged?token={token}"
    out, err = run(cli, 1, "-vv", "apply", plan_file, "--auto-approve")
    assert "stale plan" in err and "forged" in err
    assert token not in out + err
    assert not any(char in out + err for char in ESCAPES)
    assert all(line.startswith("hookctl: ") for line in err.splitlines()), err


def test_keap_error_messages_and_keys_reach_the_terminal_escaped(
    hostile: Hostile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
    tty: Tty,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # hookctl's own colours are escape sequences too
    token = new_token("echoed")
    hostile.refusal = (
        f"\x1b]0;owned\x07\x1b[2K\rhookctl: all good\nforged line https://x.example/?token={token}"
    )
    out, err = run(cli, 1, "-vv", "hooks", "create", "contact.add", f"{OURS}/a")
    printed = out + err
    assert "forged line" in printed and token not in printed
    assert not any(char in printed for char in ESCAPES)
    assert all(line.startswith("hookctl: ") for line in err.splitlines()), err

    # An apply whose writes are refused, then one whose create answers a hostile key, with a
    # managed hook of a hostile key to delete: report, progress lines and log lines.
    evil = "\x1b[2K\x1b]0;key\x07"
    hostile.add(evil, "note.add", f"{OURS}/stale")
    config = hooks_yaml(tmp_path, {"keap": (f"{OURS}/keap", ["contact.add"])}, "all: true")
    for fmt in ("text", "markdown", "json"):
        terminal = tty("sys.stderr")
        out, _ = run(cli, 1, "-vv", "apply", "-f", config, "--auto-approve", "--format", fmt)
        # The one carriage return allowed is hookctl's own, rewriting its progress line.
        printed = out + terminal.getvalue().replace("\r[", "[")
        assert "forged line" in printed and token not in printed
        assert not any(char in printed for char in ESCAPES), printed
    hostile.refusal = None
    hostile.create_key = evil + "9"
    terminal = tty("sys.stderr")
    # The delete of the hostile key is refused before anything is sent (not a plausible key).
    out, _ = run(cli, 1, "-vv", "apply", "-f", config, "--auto-approve")
    assert "done" in out and "\\x1b" in out and "is not a hook key" in out
    progress = terminal.getvalue().replace("\r[", "[")
    assert not any(char in out + progress for char in ESCAPES)
    out, err = run(cli, 0, "hooks", "create", "contact.edit", f"{OURS}/keap")
    assert not any(char in out + err for char in ESCAPES)


def test_an_accounts_error_lines_and_closing_list_are_escaped_and_masked(
    hostile: Hostile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    token = new_token("echoed")
    hostile.refusal = f"\x1b[2K\x1b]0;owned\x07denied\n#1 @octocat https://x.example/?token={token}"
    monkeypatch.setenv("KEY_A", "refused")
    monkeypatch.setenv("KEY_B", "fine")
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "accounts:\n"
        "  a:\n    credentials: {api_key_env: KEY_A}\n"
        "  b:\n    credentials: {api_key_env: KEY_B}\n"
        f"hooks:\n  - name: keap\n    url: {OURS}/keap\n    events: [contact.add]\n"
    )
    for fmt in ("text", "markdown", "json"):
        out, err = run(cli, 1, "-vv", "plan", "-f", str(config), "--format", fmt)
        printed = out + err
        assert "denied" in printed and token not in printed
        assert not any(char in printed for char in ESCAPES)
        assert all(line.startswith("hookctl: ") for line in err.splitlines()), err
        if fmt == "markdown":
            assert not re.search(r"@\w|#\d", without_code_spans(out.split("## Accounts")[1]))
        if fmt == "json":
            [error] = [a["error"] for a in json.loads(out)["accounts"] if a["error"]]
            assert "denied" in error and token not in error


def test_slack_and_markdown_injection_from_keap_is_inert(
    hostile: Hostile,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    declared = f"{OURS}/keap"
    hostile.add("1", "contact.add", f"{OURS}/old/[Click](https://phish.example/a)")  # moved
    hostile.add("2", "contact.edit @octocat #1", declared)  # event changed
    hostile.add("#3", "note.add", f"{OURS}/<!channel>/<https://phish.example|Click>")  # delete
    hostile.add("@4", "note.add", "https://www.phish.example/x")
    config = hooks_yaml(
        tmp_path, {"keap": (declared, ["contact.add", "contact.delete"])}, "all: true"
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    markdown, _ = run(cli, 0, "plan", "-f", config, "--format", "markdown")
    url, bodies = receiver
    run(cli, 2, "drift", "-f", config, "--format", "markdown", "--notify", url)
    assert "@octocat #1" in json.dumps(bodies[0]["changes"])  # the data itself is intact
    for text in (markdown, summary.read_text()):
        visible = without_code_spans(text)
        assert "octocat" in visible
        assert not re.search(r"@\w|#\d|https?://\w|www\.\w|(?<!\\)\]\(", visible), visible
        assert "<!channel>" not in visible and "<https://" not in visible
    slack = bodies[0]["text"]
    assert "&lt;!channel&gt;" in slack and "&lt;https://phish.example|Click&gt;" in slack
    assert not re.search(r"<[!@#]|<https?:", slack), slack


def test_a_20_mb_hook_url_gives_a_step_summary_under_1_mib(
    hostile: Hostile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    hostile.add("1", "note.add", f"{OURS}/{'a' * 20_000_000}?token={'t' * 100}")
    config = hooks_yaml(tmp_path, {"keap": (f"{OURS}/keap", ["contact.add"])}, "all: true")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out, _ = run(cli, 0, "plan", "-f", config)
    run(cli, 2, "drift", "-f", config)
    assert summary.stat().st_size < 10_000
    assert len(out) < 10_000
    # Whatever came before it, the summary stays under GitHub's limit, and says where the rest is.
    summary.write_bytes(b"earlier steps\n" * 71_400)  # 999,600 bytes
    run(cli, 0, "plan", "-f", config)
    run(cli, 2, "drift", "-f", config)
    text = summary.read_bytes()
    assert len(text) < 1024 * 1024
    assert b"--format json` shows all of it" in text[-200:]


def test_a_lone_surrogate_from_keap_crashes_no_output(
    hostile: Hostile,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    hostile.add("5\ud800", "note.add\ud800", "https://theirs.example/\ud800?token=\udfff")
    hostile.add("6", "contact.edit", f"{OURS}/keap\ud800")
    hostile.create_key = "9\ud800"
    config = hooks_yaml(
        tmp_path, {"keap": (f"{OURS}/keap", ["contact.add"])}, f"url_prefixes: ['{OURS}/']"
    )
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    url, bodies = receiver
    for fmt in ("text", "markdown", "json"):
        out, err = run(cli, 0, "-vv", "plan", "-f", config, "--format", fmt)
        assert "\\ud800" in out
    run(cli, 2, "-vv", "drift", "-f", config, "--notify", url)
    assert bodies
    assert "\\ud800" in run(cli, 0, "-vv", "hooks", "list")[0]
    assert "\\ud800" in run(cli, 0, "-vv", "hooks", "list", "--format", "json")[0]
    # The report after the writes: the created hook's key holds a lone surrogate.
    out, err = run(cli, 0, "-vv", "apply", "-f", config, "--auto-approve")
    assert "#9\\ud800" in out
    assert "Traceback" not in err and "Logging error" not in err


# -- every command, every channel, every secret ---------------------------------------------------


def _tokened_config(path: Path, receiver: str, field: str, variable: str) -> str:
    # The wildcard makes `validate` and `plan` ask the account for its event types too.
    path.write_text(
        "version: 1\n"
        f"account:\n  credentials:\n    {field}: {variable}\n"
        f"ownership:\n  url_prefixes: ['{receiver}/ours/']\n"
        f"hooks:\n  - name: contacts\n    url: {receiver}/ours/contacts?token=${{HOOK_TOKEN}}\n"
        "    events: [contact.add, 'invoice.*']\n"
    )
    return str(path)


def _seed_tokens(sb: Sandbox, token: str) -> None:
    sb.seed(
        [
            ("contact.add", f"{sb.receiver_url}/ours/old?token={token}", "Verified"),
            ("note.add", f"{sb.receiver_url}/ours/stale?token={token}", "Verified"),
            ("order.add", f"{sb.receiver_url}/theirs?token={token}", "Verified"),
        ]
    )


@pytest.mark.parametrize("credential", ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN"])
def test_no_command_shows_a_url_token_the_key_the_access_token_or_a_hook_secret(
    credential: str,
    witness: Witness,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    quiet_sandbox: None,
) -> None:
    """Every command at debug level, with a url token in hooks.yaml (${HOOK_TOKEN}) and in live
    subscriptions, a key or an access token, and hook secrets: stdout, stderr, every log record,
    the plan file, the step summary, the notify body and what import says show none of them.
    (What import writes is checked on its own below.)"""
    declared, live = new_token("urltok"), new_token("livetok")
    value = API_KEY if credential == "KEAP_API_KEY" else TOKEN
    field = "api_key_env" if credential == "KEAP_API_KEY" else "access_token_env"
    plan_file, summary = tmp_path / "plan.json", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("HOOK_TOKEN", declared)
    run = witness.run
    with Sandbox(SandboxSettings(api_key=API_KEY, access_token=TOKEN)) as sb:
        witness.sandbox = sb
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv(credential, value)
        _seed_tokens(sb, live)
        config = _tokened_config(tmp_path / "hooks.yaml", sb.receiver_url, field, credential)
        stale = next(h.key for h in sb.hooks() if "/stale?" in h.hook_url)

        run(0, "validate", "-f", config)
        run(0, "validate", "--offline", "-f", config)
        for fmt in ("text", "markdown", "json"):
            run(2, "plan", "-f", config, "--format", fmt, "--detailed-exitcode")
        run(0, "plan", "-f", config, "--out", str(plan_file))
        run(0, "apply", "-f", config, "--dry-run")
        run(0, "hooks", "get", stale)
        run(0, "hooks", "get", stale, "--format", "json")
        run(0, "apply", "-f", config, "--auto-approve", "--format", "json")
        sb.set_status(sb.hooks()[0].key, "Inactive")
        notify = f"{sb.receiver_url}/notify"
        for fmt in ("text", "markdown", "json"):
            run(2, "drift", "-f", config, "--format", fmt, "--notify", notify)
        run(0, "apply", "-f", config, "--auto-approve", "--format", "markdown")
        _seed_tokens(sb, live)
        run(0, "apply", "-f", config, "--auto-approve")
        run(0, "hooks", "list")
        run(0, "hooks", "list", "--format", "json")
        delayed = f"{sb.receiver_url}/delayed/x?token={declared}"
        run(0, "hooks", "create", "contact.delete", delayed)
        key = next(h.key for h in sb.hooks() if h.hook_url == delayed)
        run(1, "hooks", "verify", key)  # the delayed receiver leaves it Unverified
        monkeypatch.setenv("HOOK_SECRET", sb.last_secret(delayed) or "")
        run(0, "hooks", "verify", key, "--secret-env", "HOOK_SECRET")
        _seed_tokens(sb, live)
        run(0, "import", keep_stdout=False)
        run(0, "import", "-o", str(tmp_path / "imported.yaml"), keep_stdout=False)
        received = [json.dumps(r.body) for r in sb.received() if r.path.endswith("/notify")]
        assert len(received) == 3, "the drift notifications were not delivered"
    witness.seen += received
    witness.assert_nothing_shows(plan_file, summary, also=(declared, live))
    assert "token=***(" in "".join(witness.seen), "no masked url was shown at all"


def test_import_writes_no_url_token(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    live = new_token("livetok")
    _seed_tokens(env, live)
    out, err = run(cli, 0, "import")
    imported = tmp_path / "imported.yaml"
    run(cli, 0, "import", "-o", str(imported))
    assert live not in out + err + imported.read_text()


@pytest.mark.parametrize("live_tokens", [True, False])
def test_a_saved_plan_with_url_tokens_applies_the_real_urls(
    live_tokens: bool,
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    """The saved plan holds masked urls; apply must send Keap the real ones (from hooks.yaml and
    the environment), or nothing: never a masked url (the applier refuses to send one)."""
    declared = new_token("urltok")
    monkeypatch.setenv("HOOK_TOKEN", declared)
    if live_tokens:
        _seed_tokens(env, new_token("livetok"))
    config = _tokened_config(
        tmp_path / "hooks.yaml", env.receiver_url, "api_key_env", "KEAP_API_KEY"
    )
    plan_file = str(tmp_path / "plan.json")
    run(cli, 0, "plan", "-f", config, "--out", plan_file)
    assert declared not in Path(plan_file).read_text()
    try:
        run(cli, 0, "apply", plan_file, "--auto-approve")
    finally:
        assert not any("***" in hook.hook_url for hook in env.hooks())
    urls = {hook.hook_url for hook in env.hooks()}
    assert f"{env.receiver_url}/ours/contacts?token={declared}" in urls


def test_apply_of_a_saved_plan_never_sends_keap_a_masked_url(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    """Whatever apply does with a saved plan's masked urls, it never subscribes one."""
    declared = new_token("urltok")
    monkeypatch.setenv("HOOK_TOKEN", declared)
    config = _tokened_config(
        tmp_path / "hooks.yaml", env.receiver_url, "api_key_env", "KEAP_API_KEY"
    )
    plan_file = tmp_path / "plan.json"
    run(cli, 0, "plan", "-f", config, "--out", str(plan_file))
    assert declared not in plan_file.read_text()
    assert cli.run("apply", str(plan_file), "--auto-approve", status=None).status in (0, 1)
    assert not any("***" in hook.hook_url for hook in env.hooks())
