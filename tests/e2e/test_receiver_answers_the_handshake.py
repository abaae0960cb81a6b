"""hookctl.receiver: the receiving side's handshake, checked against the sandbox's real one (a
create through the sandbox to a receiver built on the WSGI helper becomes Verified)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from helpers.cli import Cli

from hookctl.receiver import (
    HandshakeMiddleware,
    TokenMiddleware,
    handshake_headers,
    is_handshake,
    token_accepted,
)
from hookctl.sandbox import Sandbox

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TOKEN = "rcv-token-51c7e0"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """A receiver that knows nothing of handshakes: 200 and a body to everything."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"event received"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[WSGIApplication], str]]:
    """serve(app) runs a WSGI app on 127.0.0.1 in a thread and returns its url."""
    servers: list[WSGIServer] = []

    def start(application: WSGIApplication) -> str:
        server = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/keap/hooks?token={TOKEN}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def create(cli: Cli, url: str) -> dict[str, Any]:
    created: dict[str, Any] = json.loads(
        cli.run("hooks", "create", "contact.add", url, "--format", "json").out
    )
    return created


def test_a_receiver_on_the_wsgi_helper_makes_a_sandbox_create_verified(
    env: Sandbox,
    serve: Callable[[WSGIApplication], str],
    cli: Cli,
) -> None:
    bare = serve(app)
    helped = serve(HandshakeMiddleware(app))
    # Without the helper, the receiver answers 200 without the secret: Keap leaves it so.
    assert create(cli, bare)["status"] == "Unverified"
    assert create(cli, helped)["status"] == "Verified"
    # The secret never reaches the output; the url's token is masked.
    result = cli.run("hooks", "list")
    listed = result.out
    assert listed.count("Verified") == 2 and TOKEN not in listed


def test_the_wsgi_helper_passes_the_probe_and_leaves_events_to_the_app(
    serve: Callable[[WSGIApplication], str],
) -> None:
    import requests

    from hookctl.engine.probe import handshake

    url = serve(HandshakeMiddleware(app))
    assert handshake(url, timeout=5, allow_loopback=True).outcome == "ok"
    assert handshake(serve(app), timeout=5, allow_loopback=True).outcome == "delayed"
    event = requests.post(url, json={"event_key": "contact.add"}, timeout=5)
    assert (event.status_code, event.text) == (200, "event received")
    fetched = requests.get(url, headers={"X-Hook-Secret": "abc"}, timeout=5)
    assert fetched.text == "event received" and "X-Hook-Secret" not in fetched.headers


def test_the_middleware_answers_only_on_its_paths_when_given(
    serve: Callable[[WSGIApplication], str],
) -> None:
    import requests

    url = serve(HandshakeMiddleware(app, paths=["/elsewhere"]))
    answer = requests.post(url, headers={"X-Hook-Secret": "abc"}, timeout=5)
    assert answer.text == "event received" and "X-Hook-Secret" not in answer.headers
    url = serve(HandshakeMiddleware(app, paths=["/keap/hooks"]))
    answer = requests.post(url, headers={"X-Hook-Secret": "abc"}, timeout=5)
    assert (answer.status_code, answer.content) == (200, b"")
    assert answer.headers["X-Hook-Secret"] == "abc"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hook-Secret": "s3cr3t"},
        {"x-hook-secret": "s3cr3t"},
        {"Content-Type": "application/json", "X-HOOK-SECRET": " s3cr3t "},
        [("Host", "example.com"), ("X-Hook-Secret", "s3cr3t")],
    ],
)
def test_handshake_headers_echo_the_secret_whatever_the_case(headers: Any) -> None:
    assert handshake_headers(headers) == {"X-Hook-Secret": "s3cr3t"}
    assert is_handshake(headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"X-Hook-Secret": ""},
        # Never echoed: a value that would write the answer's headers, or a huge one.
        {"X-Hook-Secret": "abc\r\nSet-Cookie: x=1"},
        {"X-Hook-Secret": "a" * 5000},
    ],
)
def test_handshake_headers_are_empty_for_anything_but_a_handshake(headers: Any) -> None:
    assert handshake_headers(headers) == {}
    assert not is_handshake(headers)


@pytest.mark.parametrize(
    "secret",
    ["a" * 1025, "has space", "s\u00e9cret".encode().decode("latin-1")],
    ids=["over 1024", "space", "non-ASCII"],
)
def test_the_middleware_answers_400_to_a_secret_it_cannot_echo_and_never_calls_the_app(
    secret: str, serve: Callable[[WSGIApplication], str]
) -> None:
    import requests

    called: list[str] = []

    def recording(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        called.append(environ.get("PATH_INFO", ""))
        return app(environ, start_response)

    url = serve(HandshakeMiddleware(recording))
    answer = requests.post(url, headers={"X-Hook-Secret": secret}, timeout=5)
    assert answer.status_code == 400 and "X-Hook-Secret" not in answer.headers
    assert called == []
    # An event (no X-Hook-Secret) still reaches the app.
    assert requests.post(url, data=b"{}", timeout=5).text == "event received"
    assert called == ["/keap/hooks"]


def test_token_accepted_takes_any_of_the_tokens_given_and_nothing_else() -> None:
    both = {"old-7a1c", "new-02bd"}
    assert token_accepted("token=old-7a1c", both) and token_accepted("a=1&token=new-02bd", both)
    for query in ("token=other", "token=", "", "token=old-7a1c&token=new-02bd", "key=old-7a1c"):
        assert not token_accepted(query, both), query
    assert not token_accepted("token=", {""})  # an empty token never matches
    assert not token_accepted("token=" + "x" * 5000, {"x" * 5000})  # bounded
    assert token_accepted("sig=old-7a1c", both, parameter="sig")


def test_a_token_is_rotated_without_a_refused_delivery(
    env: Sandbox,
    serve: Callable[[WSGIApplication], str],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README's rotation: the receiver accepts old and new, apply moves Keap to the new
    token (Keap's handshake on the new url passes), then the receiver drops the old."""
    accepted = {"old-7a1c"}
    url = serve(TokenMiddleware(HandshakeMiddleware(app), accepted))
    base = url.partition("?")[0]
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"version: 1\nhooks:\n  - name: crm\n    url: {base}?token=${{HOOK_CRM_TOKEN}}\n"
        "    events: [contact.add]\n"
    )
    monkeypatch.setenv("HOOK_CRM_TOKEN", "old-7a1c")
    cli.run("apply", "-f", str(path), "--yes")
    assert [h.status for h in env.hooks()] == ["Verified"]

    accepted.add("new-02bd")  # 1. the receiver accepts both
    monkeypatch.setenv("HOOK_CRM_TOKEN", "new-02bd")
    result = cli.run("plan", "-f", str(path))
    assert "rotate token" in result.out
    cli.run("apply", "-f", str(path), "--yes")  # 2. Keap moves to the new token
    [hook] = env.hooks()
    assert hook.hook_url == f"{base}?token=new-02bd" and hook.status == "Verified"
    accepted.discard("old-7a1c")  # 3. the receiver drops the old one
    cli.run("hooks", "verify", hook.key)  # the new url still answers
    cli.run("plan", "-f", str(path), "--detailed-exitcode")
