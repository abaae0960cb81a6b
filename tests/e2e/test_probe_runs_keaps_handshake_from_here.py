"""`hookctl probe` and `plan --probe`: Keap's handshake with every declared url, from here,
against receivers on loopback that echo, do not echo, fail, are slow, redirect or are down."""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.cli import Cli, validator

from hookctl.cli.arguments import build_parser
from hookctl.engine import probe
from hookctl.sandbox import Sandbox

# A query value every url carries: it must never be shown.
TOKEN = "tok-9f8e7d6c5b4a"


@dataclass
class Receivers:
    """Receivers on one loopback server, one behaviour per path; records what they got."""

    base: str
    paths: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def url(self, mode: str) -> str:
        return f"{self.base}/{mode}?token={TOKEN}"


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    found = Receivers("")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            mode = self.path.split("?", 1)[0].strip("/")
            secret = self.headers.get("X-Hook-Secret")
            found.paths.append(mode)
            found.secrets.append(secret or "")
            found.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if mode == "drip":
                # A status line, then one header byte every 0.2 s: every read gets something
                # in time, only a bound on the whole exchange stops it.
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(25):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            if mode == "slow":
                time.sleep(2.5)
            status = {"fail": 500, "redirect": 302, "hostile": 307}.get(mode, 200)
            self.send_response(status)
            if mode in ("echo", "slow"):
                self.send_header("X-Hook-Secret", secret or "")
            elif mode == "wrong":
                self.send_header("X-Hook-Secret", "not-the-secret")
            elif mode == "redirect":
                self.send_header("Location", f"{found.base}/echo?token=moved-{TOKEN}")
            elif mode == "hostile":
                # Relative, with a token, a terminal escape and a lot of it.
                self.send_header("Location", f"/e\x1b[2Jcho?token={TOKEN}&pad={'y' * 5000}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 64

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    found.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield found
    server.shutdown()
    server.server_close()


DOWN = f"http://127.0.0.1:9/down?token={TOKEN}"


def hooks_yaml(tmp_path: Path, urls: dict[str, str], extra: str = "") -> Path:
    """A hooks file declaring entry name -> url, each for contact.add, owning only them."""
    lines = ["version: 1", "account:\n  credentials:\n    api_key_env: KEAP_API_KEY", extra]
    lines.append("hooks:")
    for name, url in urls.items():
        lines.append(f"  - name: {name}\n    url: '{url}'\n    events: [contact.add]")
    path = tmp_path / "hooks.yaml"
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return path


def run(cli: Cli, *argv: str) -> tuple[int, str, str]:
    result = cli.run(*argv, status=None)
    return result.status, result.out, result.err


@pytest.mark.parametrize(
    ("mode", "outcome", "rc"),
    [
        ("echo", "ok", 0),
        ("delayed", "delayed", 1),
        ("wrong", "no echo", 1),
        ("fail", "wrong status", 1),
        ("slow", "timeout", 1),
        ("redirect", "redirect", 1),
        ("down", "unreachable", 1),
        # https to a server that speaks plain HTTP: the TLS handshake fails.
        ("tls", "TLS error", 1),
    ],
)
def test_each_receiver_is_reported_as_what_it_does_with_the_right_exit_code(
    receivers: Receivers,
    tmp_path: Path,
    cli: Cli,
    mode: str,
    outcome: str,
    rc: int,
) -> None:
    url = {"down": DOWN, "tls": receivers.url("echo").replace("http:", "https:")}.get(
        mode, receivers.url(mode)
    )
    config = hooks_yaml(tmp_path, {f"{mode}-hook": url})
    code, out, err = run(cli, "probe", "-f", str(config), "--timeout", "1")
    assert code == rc, out + err
    line = out.splitlines()[0]
    assert line.startswith(f"{outcome:<12} "), out
    assert f"{mode}-hook" in line and " ms " in line
    assert f"Probed 1 urls: 1 {outcome}" in out
    # The slow receiver would answer well after --timeout 1: its outcome is "timeout" (the
    # parameters above), which is the proof that the probe did not wait; no stopwatch needed.
    if mode not in ("down", "tls"):
        # Exactly Keap's handshake: one POST, an empty body, a random secret.
        assert receivers.paths == [mode] and receivers.bodies == [b""]
        assert len(receivers.secrets[0]) >= 32
        assert receivers.secrets[0] not in out + err
    assert TOKEN not in out + err
    assert "token=***(" in out


def test_a_delayed_confirmation_receiver_is_recognised_and_told_how_to_finish(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, {"later": receivers.url("delayed")})
    code, out, _ = run(cli, "probe", "-f", str(config))
    assert code == 1
    assert out.startswith("delayed ")
    assert "200 without X-Hook-Secret: delayed confirmation" in out
    assert "Apply leaves the hook Unverified" in out
    assert "`hookctl hooks verify KEY --secret-env VAR`" in out


def test_a_hostile_redirect_location_is_masked_escaped_and_cut_in_every_format(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, {"moved": receivers.url("hostile")})
    shown = ""
    for fmt in ("text", "markdown", "json"):
        code, out, err = run(cli, "probe", "-f", str(config), "--format", fmt)
        assert code == 1 and "redirect" in out
        shown += out + err
    assert TOKEN not in shown and "\x1b" not in shown
    assert "answered 307 to /e\\x1b[2Jcho?token=***(" in shown
    assert len(shown) < 5000


def test_a_receiver_that_drips_its_answer_is_stopped_at_the_timeout(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, {"drip": receivers.url("drip")})
    code, out, _ = run(cli, "probe", "-f", str(config), "--timeout", "1")
    # Each drop comes within the timeout; only a deadline on the whole answer says "timeout".
    assert code == 1 and out.startswith("timeout "), out


def test_every_receiver_at_once_in_json_markdown_and_text_never_shows_a_secret(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    modes = ("echo", "delayed", "wrong", "fail", "slow", "redirect")
    urls = {f"{mode}-hook": receivers.url(mode) for mode in modes} | {"down-hook": DOWN}
    config = hooks_yaml(tmp_path, urls)
    argv = ("probe", "-f", str(config), "--timeout", "1")

    code, out, err = run(cli, *argv, "--format", "json")
    assert code == 1, err
    document = json.loads(out)
    assert document["ok"] is False
    outcomes = {row["names"][0]: row["outcome"] for row in document["probes"]}
    assert outcomes == {
        "echo-hook": "ok",
        "delayed-hook": "delayed",
        "wrong-hook": "no echo",
        "fail-hook": "wrong status",
        "slow-hook": "timeout",
        "redirect-hook": "redirect",
        "down-hook": "unreachable",
    }
    rows = {row["names"][0]: row for row in document["probes"]}
    assert rows["fail-hook"]["status"] == 500 and rows["down-hook"]["status"] is None
    assert rows["redirect-hook"]["detail"].startswith("answered 302 to http://127.0.0.1:")
    assert all(row["ms"] >= 0 and row["accounts"] == ["default"] for row in document["probes"])
    assert document["summary"]["ok"] == 1 and sum(document["summary"].values()) == 7

    code, markdown, _ = run(cli, *argv, "--format", "markdown")
    assert code == 1
    # The pull request's comment: the outcome only, no timing or redirect target.
    assert "| | result | name | hook url |" in markdown
    assert "| ✅ | ok |" in markdown and "| ⏳ | delayed |" in markdown
    assert "| ❌ | wrong status |" in markdown
    assert " ms " not in markdown and "answered 302" not in markdown
    assert "evidence, not proof" in markdown

    code, text, _ = run(cli, *argv)
    assert code == 1
    assert "Keap would leave the subscriptions of 6 of them Unverified" in text
    shown = out + markdown + text
    assert TOKEN not in shown
    assert not any(secret and secret in shown for secret in receivers.secrets)


def test_probe_calls_nothing_at_keap_and_needs_no_credentials(
    env: Sandbox,
    receivers: Receivers,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A live subscription at another url of the receiver: live hooks are never probed.
    env.seed([("contact.add", receivers.url("fail"), "Verified")])
    monkeypatch.delenv("KEAP_API_KEY")
    config = hooks_yaml(tmp_path, {"a": receivers.url("echo")}, "ownership:\n  all: true")
    before = env.stats()
    code, out, err = run(cli, "probe", "-f", str(config))
    assert code == 0, out + err
    assert env.stats() == before
    assert receivers.paths == ["echo"]


def test_only_owned_declared_urls_are_probed_and_each_once(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "ownership:\n"
        f"  ignore: ['{receivers.base}/fail*']\n"
        "hooks:\n"
        f"  - name: one\n    url: '{receivers.url('echo')}'\n    events: [contact.add]\n"
        f"  - name: two\n    url: '{receivers.url('echo')}'\n    events: [order.add]\n"
    )
    code, out, err = run(cli, "probe", "-f", str(config))
    assert code == 0, out + err
    assert receivers.paths == ["echo"]
    assert out.splitlines()[0].split("ms", 1)[1].split()[:2] == ["one,", "two"]


def test_target_picks_entries_by_name_glob_and_refuses_one_that_names_nothing(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(
        tmp_path,
        {
            "billing-eu": receivers.url("echo"),
            "billing-us": receivers.url("delayed"),
            "contacts": receivers.url("fail"),
        },
    )
    code, out, err = run(cli, "probe", "-f", str(config), "--target", "billing-*")
    assert code == 1, err
    assert sorted(receivers.paths) == ["delayed", "echo"]

    receivers.paths.clear()
    code, out, err = run(cli, "probe", "-f", str(config), "--target", "billing-eu")
    assert code == 0 and receivers.paths == ["echo"]

    code, out, err = run(
        cli, "probe", "-f", str(config), "--target", "contacts", "--target", "nope*"
    )
    assert code == 1 and out == ""
    assert err == f"hookctl: error: --target nope*: no hooks entry of {config} has that name\n"
    assert receivers.paths == ["echo"]


def test_a_bad_hooks_file_is_one_located_line_and_probes_nothing(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, {"a": receivers.url("echo")})
    config.write_text(config.read_text().replace("contact.add", "contact.nope"))
    code, out, err = run(cli, "probe", "-f", str(config))
    assert code == 1 and out == ""
    assert err.startswith(f"hookctl: error: {config}:") and "contact.nope" in err
    assert "Traceback" not in err and receivers.paths == []


def test_the_help_states_the_defaults_the_probe_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["probe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {probe.DEFAULT_TIMEOUT:g})" in text
    assert f"(default {probe.DEFAULT_CONCURRENCY})" in text


# -- plan --probe ------------------------------------------------------------------------------


def test_plan_probe_shows_how_each_create_update_and_verify_url_answers(
    env: Sandbox,
    receivers: Receivers,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    env.seed(
        [
            ("contact.add", receivers.url("fail"), "Unverified"),  # verify
            ("note.add", receivers.url("gone"), "Verified"),  # delete: never probed
        ]
    )
    config = hooks_yaml(
        tmp_path,
        {
            "new-ok": receivers.url("echo"),
            "new-later": receivers.url("delayed"),
            "broken": receivers.url("fail"),
        },
        f"ownership:\n  url_prefixes: ['{receivers.base}/']",
    )
    before = env.stats()["calls"]

    code, markdown, err = run(cli, "plan", "-f", str(config), "--probe", "--format", "markdown")
    assert code == 0, err
    header = next(line for line in markdown.splitlines() if line.startswith("|  | action"))
    assert header.endswith("| reason | probe |")
    rows = {line.split(" | ")[2]: line for line in markdown.splitlines() if "contact.add" in line}
    assert rows["new-ok"].endswith("| ✅ ok |")
    assert rows["new-later"].endswith("| ⏳ delayed |")
    assert rows["broken"].endswith("| ❌ wrong status |")
    delete = next(line for line in markdown.splitlines() if "| delete |" in line)
    assert delete.endswith(" |  |")
    assert "| probe |" in (tmp_path / "summary.md").read_text()

    code, text, _ = run(cli, "plan", "-f", str(config), "--probe")
    assert code == 0
    assert "[probe: ok, " in text and "[probe: delayed, " in text
    assert "[probe: wrong status, " in text

    code, out, _ = run(cli, "plan", "-f", str(config), "--probe", "--format", "json")
    document = json.loads(out)
    validator("plan.schema.json").validate(document)
    probes = {c["action"] + ":" + str(c["name"]): c.get("probe") for c in document["changes"]}
    assert probes["create:new-ok"]["outcome"] == "ok"
    assert probes["create:new-later"]["outcome"] == "delayed"
    assert probes["verify:broken"]["outcome"] == "wrong status"
    assert probes["verify:broken"]["status"] == 500
    assert next(v for k, v in probes.items() if k.startswith("delete:")) is None

    # Only the urls of creates, updates and verifies; three plans, three list calls.
    assert "gone" not in receivers.paths
    assert sorted(set(receivers.paths)) == ["delayed", "echo", "fail"]
    assert env.stats()["calls"].get("GET /hooks", 0) - before.get("GET /hooks", 0) == 3
    assert TOKEN not in markdown + text + out


def test_what_a_pull_request_gets_of_plan_probe_is_the_outcome_name_only(
    env: Sandbox,
    receivers: Receivers,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comment (markdown), the job summary and the saved plan (the action's plan.json)
    say ok / not ok and the outcome's name: no timing, status or redirect target, which would
    tell a pull request's author about the runner's network."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    urls = {f"{mode}-hook": receivers.url(mode) for mode in ("echo", "redirect", "hostile")}
    config = hooks_yaml(tmp_path, urls)
    saved = tmp_path / "plan.json"
    argv = ("plan", "-f", str(config), "--probe", "--format", "markdown", "--out", str(saved))

    code, markdown, err = run(cli, *argv)
    assert code == 0, err
    assert sorted(receivers.paths) == ["echo", "hostile", "redirect"]
    rows = {line.split(" | ")[2]: line for line in markdown.splitlines() if "-hook |" in line}
    assert rows["echo-hook"].endswith("| ✅ ok |")
    assert rows["redirect-hook"].endswith("| ❌ redirect |")
    assert rows["hostile-hook"].endswith("| ❌ redirect |")
    for shown in (markdown, summary.read_text(), saved.read_text()):
        assert re.search(r"\d ?ms\b", shown) is None
        assert "moved-" not in shown and "answered" not in shown and "Location" not in shown
        assert " 302" not in shown and " 307" not in shown and TOKEN not in shown
    assert '"probe"' not in saved.read_text()


def test_plan_without_probe_is_as_it_was_and_sends_no_handshake(
    env: Sandbox, receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, {"new-ok": receivers.url("echo")})
    for fmt in ("text", "markdown", "json"):
        code, out, _ = run(cli, "plan", "-f", str(config), "--format", fmt)
        assert code == 0 and "probe" not in out
    assert receivers.paths == []


def test_several_accounts_probe_each_url_once_and_say_which_accounts_declare_it(
    receivers: Receivers, tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "accounts.yaml"
    config.write_text(
        "version: 1\n"
        "accounts:\n"
        "  production:\n    credentials: {api_key_env: KEAP_PRODUCTION_KEY}\n"
        "  staging:\n    credentials: {api_key_env: KEAP_STAGING_KEY}\n"
        "hooks:\n"
        f"  - name: contacts\n    url: '{receivers.url('echo')}'\n    events: [contact.add]\n"
        f"  - name: billing\n    url: '{receivers.url('delayed')}'\n    events: [invoice.add]\n"
        "    accounts: [production]\n"
    )
    code, out, _ = run(cli, "probe", "-f", str(config))
    assert code == 1
    assert "contacts (in production, staging)" in out and "billing (in production)" in out
    assert sorted(receivers.paths) == ["delayed", "echo"]

    code, out, _ = run(cli, "probe", "-f", str(config), "--account", "staging")
    assert code == 0 and "contacts  " in out and "(in " not in out and "billing" not in out
