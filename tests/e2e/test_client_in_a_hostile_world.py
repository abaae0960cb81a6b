"""The client in a hostile or careless world, black box through the CLI (issue 13, items 3, 4,
8 and 9): credentials pasted with a line break, waits Keap asks for that would never end,
answers nested 100,000 deep, a CA bundle that is not there, a password in the API url, error
bodies echoing the key cut short or upper-cased, keys that would leave their path.

Each ends promptly (the waits it asked for are asserted, never the wall clock) with one
`hookctl: error:` line, exit 1, no traceback and no secret; input that only needs cleaning
(spaces around a credential) is used, with a warning that names where it came from. The hostile
answers come from a loopback server each test starts; hookctl runs in this process through the
`cli` fixture, except for Ctrl-C, which needs a process of its own to signal.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.cli import Cli, Result
from helpers.processes import ctrl_c_reaches_the_child

import hookctl.keap.transport
import hookctl.keap.waits
from hookctl.keap.client import Keap
from hookctl.sandbox import Sandbox, SandboxSettings

KEY = "sk-Hostile-Client-Key-9f8e7d6c5b4a3f2e1d0c"
TOKEN = "oauth-Hostile-Token-0a1b2c3d4e5f6a7b8c9d"
PASSWORD = "PASS-w0rd-7c6b5a49"
DEEP = b"[" * 100_000 + b"]" * 100_000
# Waits that add up to this have gone on for something hookctl should have refused to wait for.
PROMPT = 10.0


# -- a hostile Keap ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"[]"
    headers: Mapping[str, str] | None = None


Respond = Callable[[str, str], Answer]


class Hostile:
    """A loopback HTTP server whose every answer `respond(method, path)` writes; `seen` holds
    "METHOD path" of each request it received."""

    def __init__(self, respond: Respond) -> None:
        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(f"{self.command} {self.path}")
                answer = respond(self.command, self.path)
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **(answer.headers or {})}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/crm/rest/v1"
        # A short poll keeps close() (shutdown) quick.
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Callable[[Respond], Hostile]]:
    started: list[Hostile] = []

    def start(respond: Respond) -> Hostile:
        started.append(Hostile(respond))
        return started[-1]

    yield start
    for server in started:
        server.close()


def throttled(after: float | str | None = None, **throttle: str) -> Answer:
    """A 429 in Keap's shape, with Retry-After and x-keap-tenant-throttle-* headers."""
    headers = {
        f"x-keap-tenant-throttle-{name.replace('_', '-')}": v for name, v in throttle.items()
    }
    if after is not None:
        headers["Retry-After"] = str(after)
    return Answer(429, b'{"message": "API quota exceeded"}', headers)


# -- running hookctl -------------------------------------------------------------------------
# In this process through the `cli` fixture, whose Result lists every wait hookctl asked for:
# "ends promptly" is checked on those waits, never on this machine's wall clock, and a wait
# that should not have started is cut short instead of hanging the test.


def with_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def pieces(secret: str) -> set[str]:
    """Every run of 8 characters of `secret`, as it is, upper- and lower-cased."""
    return {
        variant[i : i + 8]
        for variant in (secret, secret.upper(), secret.lower())
        for i in range(len(variant) - 7)
    }


def assert_refused(result: Result, *secrets: str, within: float = PROMPT) -> str:
    """Exit 1, having waited less than `within` seconds in all, with exactly one
    `hookctl: error:` line (returned), no traceback, and nothing of `secrets` anywhere."""
    shown = result.out + result.err
    assert result.status == 1, shown
    assert result.waited < within, f"waited {result.waits} s:\n{shown}"
    assert "Traceback" not in shown, shown
    assert len(result.errors) == 1, shown
    for secret in secrets:
        leaked = [piece for piece in pieces(secret) if piece in shown]
        assert not leaked, f"{leaked} shown:\n{shown}"
    return result.errors[0]


def hooks_file(tmp_path: Path, credentials: str = "api_key_env: KEAP_API_KEY") -> Path:
    """A hooks file declaring one subscription, for the Keap at $KEAP_API_URL."""
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\n"
        f"account:\n  credentials:\n    {credentials}\n"
        "hooks:\n  - name: a\n    url: https://hooks.example.com/a\n    events: [contact.add]\n"
    )
    return path


# -- item 3: credentials with whitespace, control characters, non-Latin-1 ---------------------


@pytest.mark.parametrize("pasted", ["{}\n", " {} ", "{}\r\n", "\t{}"])
@pytest.mark.parametrize("variable", ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN", "CLIENT_A_KEY"])
def test_a_credential_pasted_with_whitespace_around_it_is_used_with_a_warning(
    variable: str,
    pasted: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Sandbox(SandboxSettings(api_key=KEY, access_token=TOKEN)) as sb:
        secret = TOKEN if variable == "KEAP_ACCESS_TOKEN" else KEY
        monkeypatch.setenv(variable, pasted.format(secret))
        kind = "access_token_env" if variable == "KEAP_ACCESS_TOKEN" else "api_key_env"
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        config = hooks_file(tmp_path, f"{kind}: {variable}")
        runs = [cli.run("plan", "-f", str(config), status=None)]
        if variable != "CLIENT_A_KEY":  # the defaults, without a hooks file
            runs.append(cli.run("hooks", "list", "--api-url", sb.api_url, status=None))
    for result in runs:
        shown = result.out + result.err
        assert result.status == 0, shown
        assert f"${variable} has spaces or a line break around it" in result.err
        assert "Traceback" not in shown and secret not in shown


@pytest.mark.parametrize(
    "value",
    [
        "sk-line\nbreak-9f8e7d6c5b4a",
        "sk-carriage\rreturn-9f8e7d6c5b4a",
        "sk-tab\tinside-9f8e7d6c5b4a",
        "sk-\x1b]0;owned\x07-9f8e7d6c5b4a",
        "sk-\x85next-line-9f8e7d6c5b4a",
        "sk-ключ-9f8e7d6c5b4a",
        "sk-\u2028-separator-9f8e7d6c5b4a",
        " \n ",
    ],
)
@pytest.mark.parametrize("variable", ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN", "CLIENT_A_KEY"])
def test_a_credential_that_cannot_be_a_header_is_refused_in_one_line_naming_the_variable(
    variable: str,
    value: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    with Sandbox(SandboxSettings(api_key=KEY, access_token=TOKEN)) as sb:
        kind = "access_token_env" if variable == "KEAP_ACCESS_TOKEN" else "api_key_env"
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        config = hooks_file(tmp_path, f"{kind}: {variable}")
        results = [cli.run("plan", "-f", str(config), status=None)]
        if variable != "CLIENT_A_KEY":
            results.append(cli.run("hooks", "list", "--api-url", sb.api_url, status=None))
        assert sb.stats()["calls"] == {}, "nothing may be sent"
    for result in results:
        line = assert_refused(result, value)
        assert f"${variable}" in line


@pytest.fixture
def unverified(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A subscription left Unverified by its receiver, and the X-Hook-Secret it was sent."""
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    url = sandbox.receiver_url + "/delayed/a"
    with Keap(sandbox.api_url, env={"KEAP_API_KEY": api_key}) as keap:
        hook = keap.create("contact.add", url)
    secret = sandbox.last_secret(url)
    assert secret and hook.status == "Unverified"
    return hook.key, secret


def _verify(
    how: str,
    value: str,
    key: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> Result:
    if how == "--secret":
        return cli.run("hooks", "verify", key, "--secret", value, status=None)
    if how == "--secret-env":
        monkeypatch.setenv("HOOK_SECRET", value)
        return cli.run("hooks", "verify", key, "--secret-env", "HOOK_SECRET", status=None)
    return cli.run("hooks", "verify", key, "--secret", "-", status=None, stdin=value + "\n")


SOURCES = {"--secret": "--secret", "--secret-env": "$HOOK_SECRET", "-": "stdin"}


@pytest.mark.parametrize("how", list(SOURCES))
@pytest.mark.parametrize("pasted", ["{}\n", "  {} ", "\t{}\r"])
def test_a_hook_secret_with_whitespace_around_it_is_used_with_a_warning(
    how: str,
    pasted: str,
    unverified: tuple[str, str],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, secret = unverified
    result = _verify(how, pasted.format(secret), key, cli, monkeypatch)
    shown = result.out + result.err
    assert result.status == 0, shown
    assert "Verified" in result.out
    warnings = [line for line in result.err.splitlines() if "line break around it" in line]
    if how == "-" and pasted == "{}\n":
        assert warnings == [], "the line's end is no part of the secret"
    else:
        assert len(warnings) == 1 and SOURCES[how] in warnings[0], shown
    assert "Traceback" not in shown and secret not in shown


@pytest.mark.parametrize("how", list(SOURCES))
@pytest.mark.parametrize("inside_it", ["\r", "\t", "\x1b[2K", "\x00", "ü\u20ac"])
def test_a_hook_secret_that_cannot_be_a_header_is_refused_in_one_line(
    how: str,
    inside_it: str,
    sandbox: Sandbox,
    unverified: tuple[str, str],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if how == "--secret-env" and inside_it == "\x00":
        pytest.skip("an environment variable cannot hold NUL")
    key, secret = unverified
    value = secret[:32] + inside_it + secret[32:]
    before = sandbox.stats()["calls"]
    line = assert_refused(_verify(how, value, key, cli, monkeypatch), secret)
    assert SOURCES[how] in line
    assert sandbox.stats()["calls"] == before, "nothing may be sent"


# -- item 4: waits Keap asks for are bounded by --max-wait -------------------------------------


RETRY_AFTERS = ["86400", "inf", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT", "1e400", "99999999999"]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("after", RETRY_AFTERS)
def test_a_retry_after_longer_than_max_wait_ends_the_command_saying_until_when(
    after: str,
    status: int,
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keap = hostile(lambda method, path: Answer(status, b"{}", {"Retry-After": after}))
    with_env(monkeypatch, {"KEAP_API_KEY": KEY})
    line = assert_refused(cli.run("hooks", "list", "--api-url", keap.url, status=None))
    assert f"GET /hooks -> HTTP {status}" in line and "Keap asks to wait" in line
    assert "--max-wait" in line
    if after in ("86400", "Fri, 31 Dec 9999 23:59:59 GMT"):
        assert " UTC" in line
    if after.startswith("Fri"):
        assert "9999-12-31 23:59:59 UTC" in line
    assert keap.seen == ["GET /crm/rest/v1/hooks"]


@pytest.mark.parametrize("after", ["86400", "inf", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_after_one_long_retry_after_no_later_call_waits_a_day(
    after: str,
    hostile: Callable[[Respond], Hostile],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's hang: the create is answered 429 with a day's Retry-After; every later call
    (the list after the apply) used to wait that day."""
    keap = hostile(lambda method, path: Answer() if method == "GET" else throttled(after))
    env = {"KEAP_API_KEY": KEY, "KEAP_API_URL": keap.url}
    with_env(monkeypatch, env)
    result = cli.run("apply", "-f", str(hooks_file(tmp_path)), "--auto-approve", status=None)
    shown = result.out + result.err
    assert result.status == 1 and result.waited < PROMPT, shown
    assert "Traceback" not in shown
    assert "failed" in result.out and "Keap asks to wait" in result.out
    # The list after the writes was refused at once, not sent after the wait.
    assert keap.seen == ["GET /crm/rest/v1/hooks", "POST /crm/rest/v1/hooks"]


THROTTLES = {
    "a day's quota spent": {"available": "0", "limit": "100", "time_unit": "day"},
    "a huge interval": {"available": "0", "limit": "10", "interval": "1e9"},
    "an infinite interval": {"available": "0", "limit": "10", "interval": "inf"},
    "a day's quota of one": {
        "available": "0",
        "limit": "1",
        "interval": "1e308",
        "time_unit": "day",
    },
}


@pytest.mark.parametrize("throttle", list(THROTTLES.values()), ids=list(THROTTLES))
def test_throttle_headers_asking_for_a_long_wait_end_the_command(
    throttle: dict[str, str],
    hostile: Callable[[Respond], Hostile],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a 429 without Retry-After, the retry is what must not wait.
    keap = hostile(lambda method, path: throttled(**throttle))
    with_env(monkeypatch, {"KEAP_API_KEY": KEY})
    line = assert_refused(cli.run("hooks", "list", "--api-url", keap.url, status=None))
    assert "Keap asks to wait" in line and "x-keap-tenant-throttle" in line
    assert len(keap.seen) == 1, "the retry must not be sent either"
    # On a 200, the next call: apply's create is not sent, and says why.
    ok = hostile(lambda method, path: Answer(headers=throttled(**throttle).headers))
    env = {"KEAP_API_KEY": KEY, "KEAP_API_URL": ok.url}
    with_env(monkeypatch, env)
    result = cli.run("apply", "-f", str(hooks_file(tmp_path)), "--auto-approve", status=None)
    shown = result.out + result.err
    assert result.status == 1 and result.waited < PROMPT and "Traceback" not in shown, shown
    assert "POST /hooks: not sent: Keap asks to wait" in result.out
    assert ok.seen == ["GET /crm/rest/v1/hooks"]


@pytest.mark.parametrize("after", ["nan", "-5", "soon", "Fri, 99 Foo 2024 99:99:99 GMT", ""])
def test_a_retry_after_that_means_nothing_is_ignored(
    after: str,
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    answers = iter([throttled(after), Answer()])
    keap = hostile(lambda method, path: next(answers))
    result = cli.run("hooks", "list", "--api-url", keap.url, "--max-wait", "0", status=None)
    assert result.status == 0, result.err
    assert len(keap.seen) == 2 and "Traceback" not in result.err


@pytest.mark.parametrize(
    "argv",
    [
        ["hooks", "list"],
        ["hooks", "types"],
        ["plan", "-f", "{config}"],
        ["drift", "-f", "{config}"],
        ["validate", "-f", "{config}"],
        ["apply", "-f", "{config}", "--auto-approve"],
        ["import"],
    ],
    ids=lambda argv: argv[0] if argv[0] != "hooks" else " ".join(argv),
)
def test_every_command_that_calls_keap_takes_max_wait(
    argv: list[str],
    hostile: Callable[[Respond], Hostile],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    # validate asks for the event types only for a wildcard.
    (tmp_path / "hooks.yaml").write_text(
        "version: 1\nhooks:\n  - name: a\n    url: https://hooks.example.com/a\n"
        "    events: ['contact.*']\n"
    )
    monkeypatch.chdir(tmp_path)
    answers = iter([throttled(1.5)])
    stored: list[dict[str, str]] = []

    def respond(method: str, path: str) -> Answer:
        queued = next(answers, None)
        if queued is not None:
            return queued
        if path.endswith("/event_keys"):
            return Answer(body=b'["contact.add"]')
        if method == "POST":
            stored.append(
                {"key": "1", "eventKey": "contact.add", "hookUrl": "https://hooks.example.com/a"}
            )
            stored[-1]["status"] = "Verified"
            return Answer(body=json.dumps(stored[-1]).encode())
        return Answer(body=json.dumps(stored).encode())

    keap = hostile(respond)
    monkeypatch.setenv("KEAP_API_URL", keap.url)
    command = [part.format(config=tmp_path / "hooks.yaml") for part in argv]
    line = assert_refused(cli.run(*command, "--max-wait", "1", status=None), within=1.0)
    assert "Keap asks to wait 1.5 s" in line and "the 1 s --max-wait allows" in line
    answers = iter([throttled(0.3)])
    result = cli.run(*command, "--max-wait", "1", status=None)
    expected = 2 if argv[0] == "drift" else 0
    assert result.status == expected, result.out + result.err
    # Keap's 0.3 s is waited (less the moments since its answer came), then the call retried.
    assert "retry 1/4 in 0.3s" in result.err and 0 < result.waited <= 0.3, result


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_max_wait_must_be_a_finite_number_of_seconds(value: str, cli: Cli) -> None:
    result = cli.run(
        "hooks", "list", "--max-wait", value, status=64
    )  # EX_USAGE: 2 means "changes found"
    assert "argument --max-wait: must be" in result.err


def test_the_pacer_never_queues_a_request_past_max_wait(
    hostile: Callable[[Respond], Hostile],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Throttle headers that space calls 30 s apart, with 4 writes in parallel: each waits at
    most --max-wait (1 s) in the queue, not 30, 60, 90 s behind the others. The waits asked
    for are recorded instead of slept, so the check is the pacer's arithmetic, not this
    machine's speed."""
    spaced = {"available": "1", "limit": "2", "interval": "1"}  # a call per 30 s
    stored: list[str] = []

    def respond(method: str, path: str) -> Answer:
        if method == "POST":
            stored.append(str(len(stored) + 1))
            hook = {"key": stored[-1], "eventKey": "contact.add", "status": "Verified"}
            hook["hookUrl"] = f"https://hooks.example.com/{stored[-1]}"
            return Answer(body=json.dumps(hook).encode(), headers=throttled(**spaced).headers)
        return Answer(headers=throttled(**spaced).headers)

    waits: list[float] = []
    for module in (hookctl.keap.waits, hookctl.keap.transport):
        monkeypatch.setattr(module, "pause", waits.append)
    keap = hostile(respond)
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    monkeypatch.setenv("KEAP_API_URL", keap.url)
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\nhooks:\n"
        + "".join(
            f"  - name: h{i}\n    url: https://hooks.example.com/{i}\n    events: [contact.add]\n"
            for i in range(1, 5)
        )
    )
    argv = ["apply", "-f", str(path), "--auto-approve", "--max-wait", "1", "--parallelism", "4"]
    # The check after the writes lists nothing (this Keap stores nothing), so apply does not
    # end at 0: what counts is that all four writes went out, none queued past --max-wait.
    result = cli.run(*argv, status=None)
    assert "Traceback" not in result.err
    assert len(stored) == 4
    assert waits, "the throttle headers spaced no request: nothing was tested"
    assert max(waits) <= 1.0, waits


# -- Ctrl-C during a long wait ---------------------------------------------------------------


# How Keap answers, and how many requests it gets before apply is to be waiting.
SCENARIOS: dict[str, tuple[Respond, int]] = {
    # The create's retry waits in an applier thread.
    "a write's Retry-After": (
        lambda method, path: Answer() if method == "GET" else throttled(3000),
        2,
    ),
    # The plan's list waits in the main thread.
    "the list's Retry-After": (lambda method, path: throttled(3000), 1),
    # The create waits for the pacer (36 s a call), in an applier thread.
    "a spent quota": (
        lambda method, path: Answer(
            headers=throttled(available="0", limit="100", time_unit="hour").headers
        ),
        1,
    ),
}


@pytest.mark.parametrize("respond, calls", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_ctrl_c_stops_apply_during_a_long_wait_instead_of_sitting_it_out(
    respond: Respond, calls: int, hostile: Callable[[Respond], Hostile], tmp_path: Path
) -> None:
    keap = hostile(respond)
    argv = ["apply", "-f", str(hooks_file(tmp_path)), "--auto-approve", "--max-wait", "3600"]
    apply = subprocess.Popen(
        [sys.executable, "-m", "hookctl", *argv],
        env={**os.environ, "KEAP_API_KEY": KEY, "KEAP_API_URL": keap.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        # Generous: a child's start-up on a loaded machine is not what is measured here.
        deadline = time.monotonic() + 6 * PROMPT
        while len(keap.seen) < calls:
            assert time.monotonic() < deadline and apply.poll() is None, "apply never called"
            time.sleep(0.01)
        time.sleep(0.5)  # into the wait
        assert apply.poll() is None, "apply should be waiting"
        started = time.monotonic()
        apply.send_signal(signal.SIGINT)
        out, err = apply.communicate(timeout=PROMPT)
        stopped = time.monotonic() - started
    finally:
        apply.kill()
        apply.wait()
    assert apply.returncode == 130, out + err
    # The waits are 36 s and more (3000 s for a Retry-After); a pause checks for Ctrl-C every
    # 0.1 s. PROMPT is far from both, so no load on this machine decides the outcome.
    assert stopped < PROMPT, f"took {stopped:.2f}s to stop"
    assert "Traceback" not in err and "hookctl: interrupted" in err


# -- item 8/9: deep JSON, a CA bundle gone, a password in the url, echoes, keys ---------------


@pytest.mark.parametrize("status", [200, 400, 429, 500])
def test_an_answer_nested_100000_deep_is_one_protocol_error(
    status: int,
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    keap = hostile(lambda method, path: Answer(status, DEEP))
    result = cli.run("hooks", "list", "--api-url", keap.url, "--max-wait", "0", status=None)
    line = assert_refused(result)
    if status == 200:
        assert "nested too deeply" in line


def test_an_answer_nested_100000_deep_fails_only_its_account_in_plan(
    hostile: Callable[[Respond], Hostile],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    keap = hostile(lambda method, path: Answer(200, DEEP))
    monkeypatch.setenv("KEAP_API_URL", keap.url)
    line = assert_refused(cli.run("plan", "-f", str(hooks_file(tmp_path)), status=None))
    assert "GET /hooks -> HTTP 200: JSON nested too deeply" in line


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_that_does_not_exist_is_one_line_naming_the_variable(
    variable: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # it would be read first
    monkeypatch.setenv(variable, "/nonexistent")
    monkeypatch.setenv("KEAP_API_URL", "https://127.0.0.1:9/crm/rest/v1")
    for argv in (["hooks", "list"], ["plan", "-f", str(hooks_file(tmp_path))]):
        line = assert_refused(cli.run(*argv, status=None))
        assert f"${variable}" in line and "/nonexistent" in line


def test_a_password_in_the_api_url_is_never_shown(
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    closed = f"http://user:{PASSWORD}@127.0.0.1:9/crm/rest/v1"
    line = assert_refused(
        cli.run("-vv", "hooks", "list", "--api-url", closed, status=None), PASSWORD
    )
    assert "is http://127.0.0.1:9/crm/rest/v1 reachable?" in line
    keap = hostile(lambda method, path: Answer(404, b'{"message": "no such hook"}'))
    netloc = keap.url.removeprefix("http://")
    with_password = f"http://admin:{PASSWORD}@{netloc}"
    assert_refused(
        cli.run("-vvv", "hooks", "get", "7", "--api-url", with_password, status=None), PASSWORD
    )
    for argv in (["hooks", "list"], ["import"]):
        keap_ok = hostile(lambda method, path: Answer())
        url = f"http://admin:{PASSWORD}@{keap_ok.url.removeprefix('http://')}"
        result = cli.run("-vvv", *argv, "--api-url", url, status=None)
        assert result.status == 0, result.err
        assert not [piece for piece in pieces(PASSWORD) if piece in result.out + result.err]


@pytest.mark.parametrize(
    "api_url",
    [
        f"http://user:{PASSWORD}@[::1/crm/rest/v1",
        f"http://user:{PASSWORD}@127.0.0.1:99999/crm/rest/v1",
        f"https://user:{PASSWORD}@ex%41mple..com/crm/rest/v1",
        f"ftp://user:{PASSWORD}@127.0.0.1/crm/rest/v1",
    ],
    ids=["unclosed-bracket", "port-out-of-range", "empty-label", "ftp"],
)
def test_an_api_url_that_cannot_be_used_is_one_line_without_its_password(
    api_url: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    assert_refused(cli.run("-vvv", "hooks", "list", "--api-url", api_url, status=None), PASSWORD)


ECHOES: dict[str, Callable[[str], str]] = {
    "cut at 39 of 40": lambda secret: f"Invalid key {secret[:39]}",
    "upper-cased": lambda secret: f"INVALID KEY {secret.upper()}",
    "lower-cased": lambda secret: f"invalid key {secret.lower()}",
    "a run of 12": lambda secret: f"bad credential ...{secret[9:21]}...",
    "cut at 300": lambda secret: "x" * (300 - 20) + secret,
}


@pytest.mark.parametrize("echo", list(ECHOES.values()), ids=list(ECHOES))
@pytest.mark.parametrize("status", [400, 401, 429, 500])
@pytest.mark.parametrize("variable", ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN"])
def test_an_error_body_echoing_the_credential_in_part_or_in_another_case_is_redacted(
    variable: str,
    status: int,
    echo: Callable[[str], str],
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = KEY if variable == "KEAP_API_KEY" else TOKEN
    monkeypatch.setenv(variable, secret)
    body = json.dumps({"message": echo(secret)}).encode()
    keap = hostile(lambda method, path: Answer(status, body, {"Retry-After": "86400"}))
    line = assert_refused(
        cli.run("-vvv", "hooks", "list", "--api-url", keap.url, status=None), secret
    )
    assert "***" in line


@pytest.mark.parametrize("echo", list(ECHOES.values()), ids=list(ECHOES))
def test_an_answer_echoing_the_hook_secret_in_part_or_upper_cased_is_redacted(
    echo: Callable[[str], str],
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "hook-secret-5f4e3d2c1b0a9f8e7d6c"
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    body = json.dumps({"message": echo(secret)}).encode()
    keap = hostile(lambda method, path: Answer(403, body))
    argv = ["-vvv", "hooks", "verify", "7", "--secret", secret, "--api-url", keap.url]
    assert "***" in assert_refused(cli.run(*argv, status=None), secret, KEY)
    # A 200 of the wrong shape that quotes it is shown without it, too.
    shaped = json.dumps({"key": "7", "status": echo(secret)[:40].upper()}).encode()
    keap = hostile(lambda method, path: Answer(200, shaped))
    argv = ["hooks", "verify", "7", "--secret", secret, "--api-url", keap.url]
    assert_refused(cli.run(*argv, status=None), secret, KEY)


@pytest.mark.parametrize("key", [".", "..", "../event_keys", "a/b", "%2e%2e", "7?x=1", "\u00b2"])
@pytest.mark.parametrize(
    "operation",
    [
        ["delete", "{key}", "--yes"],
        ["get", "{key}"],
        ["verify", "{key}"],
        ["verify", "{key}", "--secret", "s3cr3t-value-long"],
        ["update", "{key}", "contact.add", "https://hooks.example.com/a"],
    ],
    ids=["delete", "get", "verify", "delayed-verify", "update"],
)
def test_a_key_that_is_not_a_key_is_refused_before_any_request(
    key: str,
    operation: list[str],
    hostile: Callable[[Respond], Hostile],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", KEY)
    keap = hostile(lambda method, path: Answer(204, b""))
    argv = ["hooks", *(part.format(key=key) for part in operation), "--api-url", keap.url]
    line = assert_refused(cli.run(*argv, status=None))
    assert "is not a hook key" in line
    assert keap.seen == []
