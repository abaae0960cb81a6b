"""The sandbox as a Keap any client can use: the three ways to send a credential, the daily
quota and its headers, outbound handshakes to loopback only, and `hookctl sandbox` itself."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import KeapOpenAPI
from helpers.cli import Cli
from helpers.keap_api import OPERATIONS

from hookctl.sandbox import Sandbox, SandboxSettings
from hookctl.sandbox.outbound import LOOPBACK_ONLY_ENV

TOKEN = "query-token-0123456789"
CREDENTIALS = ("--access-token", TOKEN, "--api-key", "the-whole-api-key")
QUOTA_HEADERS = ("limit", "time-unit", "interval", "available", "used", "expiry-time")


def _every_operation(sandbox: Sandbox, send: Any) -> list[int]:
    """Each operation once, on a fresh hook where it needs one; the statuses answered."""
    statuses = []
    for method, path, template, body in OPERATIONS:
        (hook,) = sandbox.seed([("contact.add", f"{sandbox.receiver_url}/ok", "Verified")])
        headers = {"X-Hook-Secret": "s"} if path.endswith("delayedVerify") else {}
        response = send(method, path.replace("/1", f"/{hook.key}", 1), template, body, headers)
        statuses.append(response.status_code)
    return statuses


def test_every_operation_accepts_the_access_token_as_a_query_parameter(
    keap_openapi: KeapOpenAPI,
) -> None:
    with Sandbox(SandboxSettings(api_key=None, access_token=TOKEN)) as sb:

        def send(
            method: str, path: str, template: str, body: Any, headers: dict[str, str]
        ) -> requests.Response:
            response = requests.request(
                method,
                sb.api_url + path,
                params={"access_token": TOKEN},
                json=body,
                headers=headers,
                timeout=10,
            )
            keap_openapi.check(response, method, template)
            return response

        statuses = _every_operation(sb, send)
        wrong = requests.get(sb.api_url + "/hooks", params={"access_token": "nope"}, timeout=5)
    # delayedVerify with a secret never issued is refused (403), as Keap declares.
    assert statuses == [200, 200, 200, 200, 200, 204, 200, 403]
    assert wrong.status_code == 401
    assert "fault" in wrong.json()


def test_the_daily_quota_is_reported_and_then_answers_429(keap_openapi: KeapOpenAPI) -> None:
    with Sandbox(SandboxSettings(api_key="k", daily_quota=len(OPERATIONS))) as sb:
        session = requests.Session()
        session.headers["X-Keap-API-Key"] = "k"
        answers: list[requests.Response] = []
        for method, path, template, body in OPERATIONS * 2:
            response = session.request(method, sb.api_url + path, json=body, timeout=10)
            keap_openapi.check(response, method, template)
            answers.append(response)
        quota = requests.get(sb.url + "/_sandbox/quota", timeout=5).json()
    first, last_allowed, spent = answers[0], answers[len(OPERATIONS) - 1], answers[-1]
    for name in QUOTA_HEADERS:
        assert f"X-Keap-Product-Quota-{name.title()}" in first.headers
    assert first.headers["x-keap-product-quota-limit"] == str(len(OPERATIONS))
    assert first.headers["x-keap-product-quota-available"] == str(len(OPERATIONS) - 1)
    assert first.headers["x-keap-product-quota-time-unit"] == "day"
    assert last_allowed.status_code != 429
    assert last_allowed.headers["x-keap-product-quota-available"] == "0"
    assert [r.status_code for r in answers[len(OPERATIONS) :]] == [429] * len(OPERATIONS)
    assert spent.json() == {
        "code": "429",
        "message": "Quota Exceeded",
        "status": "Request Throttled",
        "details": None,
    }
    assert quota == {"limit": len(OPERATIONS), "used": len(OPERATIONS)}


def test_the_quota_can_be_set_through_the_admin_call(sandbox: Sandbox, api_key: str) -> None:
    set_to = requests.put(
        sandbox.url + "/_sandbox/quota", json={"limit": 100, "used": 99}, timeout=5
    )
    headers = {"X-Keap-API-Key": api_key}
    last = requests.get(sandbox.api_url + "/hooks", headers=headers, timeout=5)
    spent = requests.get(sandbox.api_url + "/hooks", headers=headers, timeout=5)
    bad = requests.put(sandbox.url + "/_sandbox/quota", json={"limit": "x"}, timeout=5)
    assert set_to.json() == {"limit": 100, "used": 99}
    assert (last.status_code, spent.status_code) == (200, 429)
    assert bad.status_code == 400


def test_a_hook_url_on_another_host_is_not_called_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(LOOPBACK_ONLY_ENV)
    # A listening port on a name that is not loopback to the sandbox: were it called, the
    # connection would show up here.
    with Sandbox(SandboxSettings(api_key="k")) as sb, caplog.at_level(logging.WARNING):
        created = requests.post(
            sb.api_url + "/hooks",
            json={"eventKey": "contact.add", "hookUrl": "https://hooks.zapier.invalid/x/1"},
            headers={"X-Keap-API-Key": "k"},
            timeout=10,
        )
    assert created.json()["status"] == "Unverified"
    assert "hooks.zapier.invalid" in caplog.text
    assert "--allow-outbound" in caplog.text


def test_allow_outbound_makes_the_handshake_with_other_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOOPBACK_ONLY_ENV)
    with Sandbox(SandboxSettings(api_key="k", allow_outbound=True)) as sb:
        refusal = sb._outbound.refusal("https://hooks.zapier.invalid/x")
    assert refusal is None


@pytest.fixture
def cli_sandbox() -> Iterator[tuple[str, str]]:
    """`hookctl sandbox --access-token ...` in a child process: (its API url, its stdout)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "KEAP_API_KEY": "", "KEAP_ACCESS_TOKEN": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "hookctl", "sandbox", "--port", str(port), "-v", *CREDENTIALS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        api = next(line.split()[-1] for line in lines if " API " in line)
        yield api, "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


def test_hookctl_sandbox_prints_where_it_listens_without_the_credentials(
    cli_sandbox: tuple[str, str],
) -> None:
    api, printed = cli_sandbox
    assert api.endswith("/crm/rest/v1")
    assert "hookctl sandbox: listening 127.0.0.1:" in printed
    assert "/receiver" in printed
    assert "access token ***(" in printed
    assert "X-Keap-API-Key ***(" in printed
    assert TOKEN[:8] not in printed
    assert "the-whole" not in printed


def test_every_hooks_command_works_with_bearer_auth_against_hookctl_sandbox(
    cli_sandbox: tuple[str, str],
) -> None:
    api, _ = cli_sandbox
    env = {**os.environ, "KEAP_API_URL": api, "KEAP_ACCESS_TOKEN": TOKEN}
    env.pop("KEAP_API_KEY", None)
    receiver = api.replace("/crm/rest/v1", "/_sandbox/receiver")

    def hookctl(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "hookctl", "hooks", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert TOKEN[:8] not in done.stdout + done.stderr
        return done.stdout

    assert "contact.add" in hookctl("types")
    created = json.loads(hookctl("create", "contact.add", receiver + "/a", "--format", "json"))
    key = created["key"]
    assert created["status"] == "Verified"
    assert key in hookctl("get", key)
    hookctl("update", key, "contact.edit", receiver + "/b")
    hookctl("verify", key)
    assert "contact.edit" in hookctl("list")
    hookctl("delete", key, "--yes")
    assert key not in hookctl("list", "--format", "json")


def test_sandbox_help_documents_the_admin_calls() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hookctl", "sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for call in ("/_sandbox/quota", "/_sandbox/faults", "/_sandbox/oauth/code", "/_sandbox/stats"):
        assert call in done.stdout
    for option in ("--access-token", "--daily-quota", "--allow-outbound", "--handshake-timeout"):
        assert option in done.stdout


def test_a_404_from_an_api_url_without_the_rest_path_hints_at_the_base_url(
    env: Sandbox, cli: Cli
) -> None:
    result = cli.run("hooks", "list", "--api-url", env.url, status=1)
    err = result.err
    assert "HTTP 404" in err
    assert "lacks /crm/rest/v1" in err
    assert len(err.strip().splitlines()) == 1
    result = cli.run("hooks", "get", "99", status=1)
    assert "lacks" not in result.err


def test_a_wrong_delayed_verify_secret_is_named_not_the_key(env: Sandbox, cli: Cli) -> None:
    (hook,) = env.seed([("contact.add", f"{env.receiver_url}/delayed/x", "Unverified")])
    result = cli.run("hooks", "verify", hook.key, "--secret", "not-the-secret", status=1)
    err = result.err
    assert "HTTP 403" in err
    assert "--secret" in err
    assert "KEAP_API_KEY" not in err
