"""The sandbox's verification handshake, immediate and delayed, over real HTTP."""

from __future__ import annotations

import functools
import http.server
import logging
import socket
import threading
import time

import pytest
import requests
from conftest import Api, KeapOpenAPI

from hookctl.sandbox import Sandbox, SandboxSettings


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_a_receiver_that_echoes_the_secret_is_verified_on_create(
    sandbox: Sandbox, api: Api
) -> None:
    hook = api.create("contact.add", sandbox.receiver_url + "/ok")
    assert hook["status"] == "Verified"
    (record,) = sandbox.received()
    assert (record.path, record.kind, record.status) == ("/_sandbox/receiver/ok", "handshake", 200)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("{receiver}/fail/x", id="answers 500"),
        pytest.param("{receiver}/gone/x", id="answers 410"),
        pytest.param("{receiver}/delayed/x", id="200 without the header"),
        pytest.param("{closed}", id="connection refused"),
        pytest.param("https://hooks.example.com/x", id="not loopback"),
    ],
)
def test_a_failed_handshake_leaves_the_new_hook_unverified(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI, url: str
) -> None:
    url = url.format(receiver=sandbox.receiver_url, closed=_closed_port_url())
    response = api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": url})
    keap_openapi.check(response, "POST", "/hooks")
    assert response.json()["status"] == "Unverified"
    assert [hook.status for hook in sandbox.hooks()] == ["Unverified"]


def test_a_receiver_echoing_another_secret_is_not_verified(api: Api) -> None:
    with _ConstantEchoServer() as url:
        assert api.create("contact.add", url)["status"] == "Unverified"


def test_a_receiver_slower_than_the_timeout_is_unverified_without_an_error(
    api_key: str,
) -> None:
    with Sandbox(SandboxSettings(api_key=api_key, handshake_timeout=0.2)) as sb:
        api = Api(sb.api_url, api_key)
        started = time.perf_counter()
        response = api.call(
            "POST", "/hooks", {"eventKey": "contact.add", "hookUrl": sb.receiver_url + "/slow/x"}
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    # The receiver echoes the secret after 0.7 s: had the sandbox waited for it, the hook would
    # be Verified. So "Unverified" is what shows the timeout cut the handshake short.
    assert response.json()["status"] == "Unverified"
    assert elapsed >= 0.2


def test_delayed_verify_with_the_secret_sent_to_the_receiver_verifies(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    url = sandbox.receiver_url + "/delayed/d"
    hook = api.create("contact.add", url)
    assert hook["status"] == "Unverified"
    secret = sandbox.last_secret(url)
    assert secret
    response = api.call(
        "POST", f"/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": secret}
    )
    keap_openapi.check(response, "POST", "/hooks/{key}/delayedVerify")
    assert response.json() == {**hook, "status": "Verified"}
    # A secret verifies once.
    again = api.call(
        "POST", f"/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": secret}
    )
    assert again.status_code == 403


@pytest.mark.parametrize("secret", ["wrong", "", "ä"])
def test_delayed_verify_with_a_wrong_secret_is_refused_with_403(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI, secret: str
) -> None:
    hook = api.create("contact.add", sandbox.receiver_url + "/delayed/w")
    response = api.call(
        "POST",
        f"/hooks/{hook['key']}/delayedVerify",
        headers={"X-Hook-Secret": secret.encode().decode("latin-1")},
    )
    keap_openapi.check(response, "POST", "/hooks/{key}/delayedVerify")
    assert response.status_code == 403
    assert "X-Hook-Secret" in response.json()["message"]
    assert [h.status for h in sandbox.hooks()] == ["Unverified"]


def test_delayed_verify_without_the_header_answers_400(sandbox: Sandbox, api: Api) -> None:
    hook = api.create("contact.add", sandbox.receiver_url + "/delayed/m")
    response = api.call("POST", f"/hooks/{hook['key']}/delayedVerify")
    assert response.status_code == 400
    assert "X-Hook-Secret" in response.json()["message"]


def test_delayed_verify_of_a_hook_never_sent_a_secret_is_refused(
    sandbox: Sandbox, api: Api
) -> None:
    (hook,) = sandbox.seed([("contact.add", "https://s.test/", "Unverified")])
    response = api.call(
        "POST", f"/hooks/{hook.key}/delayedVerify", headers={"X-Hook-Secret": "guess"}
    )
    assert response.status_code == 403


def test_delayed_verify_reactivates_an_inactive_hook(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/delayed/r"
    (hook,) = sandbox.seed([("contact.add", url, "Inactive")])
    assert api.call("POST", f"/hooks/{hook.key}/verify").json()["status"] == "Inactive"
    secret = sandbox.last_secret(url)
    assert secret
    response = api.call(
        "POST", f"/hooks/{hook.key}/delayedVerify", headers={"X-Hook-Secret": secret}
    )
    assert response.json()["status"] == "Verified"


@pytest.mark.parametrize(
    ("status", "path", "expected"),
    [
        ("Unverified", "/ok", "Verified"),
        ("Inactive", "/ok", "Verified"),
        ("Verified", "/ok", "Verified"),
        ("Unverified", "/fail/v", "Unverified"),
        ("Inactive", "/fail/v", "Inactive"),
        ("Verified", "/fail/v", "Verified"),
    ],
)
def test_verify_runs_a_new_handshake_and_only_success_changes_the_status(
    sandbox: Sandbox,
    api: Api,
    keap_openapi: KeapOpenAPI,
    status: str,
    path: str,
    expected: str,
) -> None:
    (hook,) = sandbox.seed([("contact.add", sandbox.receiver_url + path, status)])
    response = api.call("POST", f"/hooks/{hook.key}/verify")
    keap_openapi.check(response, "POST", "/hooks/{key}/verify")
    assert response.json() == {**hook.to_keap(), "status": expected}
    assert [r.kind for r in sandbox.received()] == ["handshake"]


def test_every_handshake_sends_a_fresh_secret(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/delayed/fresh"
    hook = api.create("contact.add", url)
    secrets_seen = {sandbox.last_secret(url)}
    for _ in range(3):
        api.call("POST", f"/hooks/{hook['key']}/verify")
        secrets_seen.add(sandbox.last_secret(url))
    assert len(secrets_seen) == 4
    assert all(secret and len(secret) >= 32 for secret in secrets_seen)


def test_only_the_last_secret_verifies(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/delayed/last"
    hook = api.create("contact.add", url)
    old = sandbox.last_secret(url)
    api.call("POST", f"/hooks/{hook['key']}/verify")
    assert old
    refused = api.call(
        "POST", f"/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": old}
    )
    assert refused.status_code == 403


def test_no_secret_reaches_the_logs_or_the_receiver_log(
    sandbox: Sandbox, api: Api, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = sandbox.receiver_url + "/delayed/quiet"
    hook = api.create("contact.add", url)
    secret = sandbox.last_secret(url)
    assert secret
    api.call("POST", f"/hooks/{hook['key']}/delayedVerify", headers={"X-Hook-Secret": secret})
    api.create("contact.add", sandbox.receiver_url + "/ok")
    log = requests.get(sandbox.url + "/_sandbox/receiver-log", timeout=5)
    assert log.json()[0] == {
        "path": "/_sandbox/receiver/delayed/quiet",
        "kind": "handshake",
        "status": 200,
        "body": None,
    }
    assert caplog.records, "debug logging was on: something should have been logged"
    for text in (caplog.text, log.text, repr(sandbox.received()), repr(sandbox)):
        assert secret not in text
        assert api_key not in text


def test_the_receiver_log_can_be_cleared(sandbox: Sandbox, api: Api) -> None:
    api.create("contact.add", sandbox.receiver_url + "/c")
    assert requests.delete(sandbox.url + "/_sandbox/receiver-log", timeout=5).status_code == 204
    assert sandbox.received() == []


def test_the_receiver_answers_post_only(sandbox: Sandbox) -> None:
    assert requests.get(sandbox.receiver_url + "/x", timeout=5).status_code == 405


class _ConstantEchoServer:
    """A receiver that answers every handshake with 200 and the same wrong secret."""

    def __enter__(self) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.send_response(200)
                self.send_header("X-Hook-Secret", "not-the-one-you-sent")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve = functools.partial(self.server.serve_forever, poll_interval=0.01)
        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
