"""The client against the sandbox over loopback: every operation, every error, every fault."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hookctl.domain.models import KNOWN_EVENT_KEYS, Hook
from hookctl.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    ServerError,
    ThrottledError,
    UnreachableError,
)
from hookctl.keap.auth import ApiKeyAuth, BearerAuth
from hookctl.keap.client import Keap, Pacer, RetryPolicy, credentials_from_env
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

FAST_RETRY = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05, total_seconds=10)


@pytest.fixture
def keap(sandbox: Sandbox, api_key: str) -> Iterator[Keap]:
    with Keap(sandbox.api_url, env={"KEAP_API_KEY": api_key}, retry=FAST_RETRY) as client:
        yield client


def test_event_types_are_the_accounts_event_keys(keap: Keap) -> None:
    assert set(keap.event_types()) == set(KNOWN_EVENT_KEYS)


def test_create_runs_the_handshake_and_a_receiver_that_answers_is_verified(
    keap: Keap, sandbox: Sandbox
) -> None:
    hook = keap.create("contact.add", sandbox.receiver_url + "/contacts")
    assert isinstance(hook, Hook)
    assert (hook.event_key, hook.hook_url, hook.status) == (
        "contact.add",
        sandbox.receiver_url + "/contacts",
        "Verified",
    )
    assert keap.get(hook.key) == hook


def test_create_to_a_receiver_that_does_not_answer_stays_unverified(
    keap: Keap, sandbox: Sandbox
) -> None:
    hook = keap.create("contact.add", sandbox.receiver_url + "/fail/x")
    assert hook.status == "Unverified"


def test_list_returns_every_subscription_including_duplicates(keap: Keap, sandbox: Sandbox) -> None:
    assert keap.list() == []
    url = sandbox.receiver_url + "/dup"
    first = keap.create("contact.add", url)
    second = keap.create("contact.add", url)
    assert first.key != second.key
    assert sorted(h.key for h in keap.list()) == sorted([first.key, second.key])


def test_update_points_a_subscription_elsewhere(keap: Keap, sandbox: Sandbox) -> None:
    hook = keap.create("contact.add", sandbox.receiver_url + "/a")
    moved = keap.update(hook.key, "contact.edit", sandbox.receiver_url + "/b")
    assert moved.key == hook.key
    assert moved.pair == ("contact.edit", sandbox.receiver_url + "/b")
    assert keap.get(hook.key).pair == moved.pair


def test_delete_removes_and_a_second_delete_is_not_found(keap: Keap, sandbox: Sandbox) -> None:
    hook = keap.create("contact.add", sandbox.receiver_url + "/a")
    keap.delete(hook.key)
    assert keap.list() == []
    with pytest.raises(NotFoundError) as caught:
        keap.delete(hook.key)
    assert caught.value.status == 404
    assert caught.value.method == "DELETE"
    assert caught.value.path == f"/hooks/{hook.key}"


def test_verify_reactivates_an_inactive_hook(keap: Keap, sandbox: Sandbox) -> None:
    [hook] = sandbox.seed([("contact.add", sandbox.receiver_url + "/a", "Inactive")])
    assert keap.get(hook.key).status == "Inactive"
    assert keap.verify(hook.key).status == "Verified"


def test_delayed_verify_with_the_secret_the_receiver_got_verifies(
    keap: Keap, sandbox: Sandbox
) -> None:
    url = sandbox.receiver_url + "/delayed/a"
    hook = keap.create("contact.add", url)
    assert hook.status == "Unverified"
    secret = sandbox.last_secret(url)
    assert secret
    assert keap.delayed_verify(hook.key, secret).status == "Verified"


def test_delayed_verify_with_a_wrong_secret_is_refused_without_echoing_it(
    keap: Keap, sandbox: Sandbox
) -> None:
    hook = keap.create("contact.add", sandbox.receiver_url + "/delayed/a")
    with pytest.raises((InvalidRequestError, AuthenticationError)) as caught:
        keap.delayed_verify(hook.key, "wrong-secret-value-1234")
    assert "wrong-secret-value-1234" not in str(caught.value)
    assert keap.get(hook.key).status == "Unverified"


def test_unknown_key_is_not_found_with_keaps_message(keap: Keap) -> None:
    with pytest.raises(NotFoundError) as caught:
        keap.get("999999")
    assert caught.value.status == 404
    assert caught.value.keap_message
    assert "GET /hooks/999999 -> HTTP 404" in str(caught.value)


@pytest.mark.parametrize("key", ["../event_keys", ".", "..", "1/2", "%2e%2e", "", "\u00b2", "1\n"])
def test_a_key_that_could_leave_its_path_is_refused_before_anything_is_sent(
    keap: Keap, sandbox: Sandbox, key: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        keap.delete(key)
    assert caught.value.path == "/hooks/{key}"
    assert "\n" not in str(caught.value)
    assert sandbox.stats()["calls"] == {}


def test_an_unknown_event_key_is_an_invalid_request(keap: Keap, sandbox: Sandbox) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        keap.create("contact.explode", sandbox.receiver_url + "/a")
    assert caught.value.status == 400


def test_a_wrong_api_key_names_the_variable_to_check(sandbox: Sandbox) -> None:
    with Keap(sandbox.api_url, env={"KEAP_API_KEY": "not-the-key"}) as keap:
        with pytest.raises(AuthenticationError) as caught:
            keap.list()
    assert caught.value.status == 401
    assert "KEAP_API_KEY" in str(caught.value)
    assert "not-the-key" not in str(caught.value)


def test_missing_credentials_fail_before_any_call(sandbox: Sandbox) -> None:
    with Keap(sandbox.api_url, env={}) as keap:
        with pytest.raises(AuthenticationError) as caught:
            keap.list()
    assert "KEAP_API_KEY" in str(caught.value) and "KEAP_ACCESS_TOKEN" in str(caught.value)
    assert sandbox.stats()["calls"] == {}


def test_an_access_token_is_sent_as_bearer() -> None:
    with Sandbox(SandboxSettings(api_key="k", access_token="oauth-token-abc")) as sb:
        with Keap(sb.api_url, env={"KEAP_ACCESS_TOKEN": "oauth-token-abc"}) as keap:
            assert keap.list() == []
        with Keap(sb.api_url, env={"KEAP_ACCESS_TOKEN": "wrong"}) as keap:
            with pytest.raises(AuthenticationError, match="KEAP_ACCESS_TOKEN"):
                keap.list()


def test_the_variable_named_in_hooks_yaml_is_the_one_used(sandbox: Sandbox, api_key: str) -> None:
    env = {"KEAP_API_KEY": "wrong", "CLIENT_A_KEY": api_key}
    with Keap(sandbox.api_url, api_key_env="CLIENT_A_KEY", env=env) as keap:
        assert keap.list() == []


def test_keap_api_url_comes_from_the_environment(sandbox: Sandbox, api_key: str) -> None:
    keap = Keap(env={"KEAP_API_URL": sandbox.api_url, "KEAP_API_KEY": api_key})
    assert keap.api_url == sandbox.api_url
    assert keap.list() == []


def test_a_plain_500_is_not_retried(keap: Keap, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(error_rate=1.0))
    with pytest.raises(ServerError) as caught:
        keap.list()
    assert caught.value.status == 500
    assert sandbox.stats()["calls"] == {"GET /hooks": 1}


def test_throttled_calls_are_retried_after_retry_after(keap: Keap, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(throttle_rate=2, retry_after=True))
    started = time.monotonic()
    for _ in range(5):
        keap.list()
    # 5 calls at 2 a second cannot all go through in under ~1.5 s without waiting.
    assert time.monotonic() - started >= 1.0
    assert sandbox.stats()["calls"]["GET /hooks"] >= 5


def test_throttling_that_never_ends_gives_a_throttled_error(sandbox: Sandbox, api_key: str) -> None:
    sandbox.set_faults(Faults(throttle_rate=0.01, retry_after=False))
    retry = RetryPolicy(attempts=3, backoff_base=0.01, backoff_max=0.02, total_seconds=2)
    with Keap(sandbox.api_url, env={"KEAP_API_KEY": api_key}, retry=retry) as keap:
        keap.list()  # the first token of the bucket
        with pytest.raises(ThrottledError) as caught:
            keap.list()
    assert caught.value.status == 429


def test_the_pacer_slows_down_before_the_throttle_runs_out(sandbox: Sandbox, api_key: str) -> None:
    sandbox.set_faults(Faults(throttle_rate=20, retry_after=True))
    answers: list[int] = []
    with Keap(sandbox.api_url, env={"KEAP_API_KEY": api_key}, pacer=Pacer(reserve=5)) as keap:
        original = keap.transport._session.request

        def counting(*args: object, **kwargs: object) -> object:
            response = original(*args, **kwargs)  # type: ignore[arg-type]
            answers.append(response.status_code)
            return response

        keap.transport._session.request = counting  # type: ignore[method-assign, assignment]
        for _ in range(40):
            keap.list()
    assert answers.count(429) <= 1, answers


def test_a_create_whose_answer_is_lost_leaves_exactly_one_subscription(
    keap: Keap, sandbox: Sandbox
) -> None:
    sandbox.set_faults(Faults(drop_after_create=1))
    url = sandbox.receiver_url + "/dropped"
    hook = keap.create("contact.add", url)
    assert hook.pair == ("contact.add", url)
    assert [h.pair for h in sandbox.hooks()] == [("contact.add", url)]


def test_a_create_that_failed_with_500_is_not_duplicated(keap: Keap, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(error_rate=1.0))
    with pytest.raises(ServerError):
        keap.create("contact.add", sandbox.receiver_url + "/a")
    sandbox.set_faults(Faults())
    assert len(sandbox.hooks()) <= 1


def test_a_slow_answer_times_out_as_unreachable(sandbox: Sandbox, api_key: str) -> None:
    sandbox.set_faults(Faults(latency=1.0))
    retry = RetryPolicy(attempts=2, backoff_base=0.01, backoff_max=0.01, total_seconds=5)
    env = {"KEAP_API_KEY": api_key}
    with Keap(sandbox.api_url, env=env, timeout=(1.0, 0.2), retry=retry) as keap:
        with pytest.raises(UnreachableError, match="no answer in time"):
            keap.list()


def test_nothing_listening_is_unreachable_with_a_hint() -> None:
    retry = RetryPolicy(attempts=2, backoff_base=0.01, backoff_max=0.01, total_seconds=2)
    with Keap("http://127.0.0.1:9", env={"KEAP_API_KEY": "k"}, retry=retry) as keap:
        with pytest.raises(UnreachableError) as caught:
            keap.list()
    assert "KEAP_API_URL" in str(caught.value)


def test_a_delete_retried_after_a_lost_answer_counts_as_done(keap: Keap, sandbox: Sandbox) -> None:
    [hook] = sandbox.seed([("contact.add", sandbox.receiver_url + "/a", "Verified")])
    calls = 0
    original = keap.transport._session.request

    def lose_first_answer(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        response = original(*args, **kwargs)  # type: ignore[arg-type]
        if calls == 1:
            import requests

            raise requests.exceptions.ConnectionError("connection reset")
        return response

    keap.transport._session.request = lose_first_answer  # type: ignore[method-assign, assignment]
    keap.delete(hook.key)
    assert sandbox.hooks() == []
    assert calls == 2


# -- hostile servers ---------------------------------------------------------------------------


Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def hostile() -> Iterator[Callable[[Handler], str]]:
    """A one-off HTTP server on loopback whose every answer is written by the test."""
    servers: list[http.server.ThreadingHTTPServer] = []
    seen_headers: list[dict[str, str]] = []

    def start(answer: Handler) -> str:
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen_headers.append(dict(self.headers))
                answer(self)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/crm/rest/v1"

    start.seen_headers = seen_headers  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _send(
    handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, **headers: str
) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def test_an_html_error_page_is_a_clear_error(hostile: Callable[[Handler], str]) -> None:
    url = hostile(
        lambda h: _send(h, 500, b"<html><body>Oops</body></html>", Content_Type="text/html")
    )
    with Keap(url, env={"KEAP_API_KEY": "k"}) as keap:
        with pytest.raises(ServerError, match="text/html body"):
            keap.list()


def test_a_non_json_success_body_is_a_protocol_error(hostile: Callable[[Handler], str]) -> None:
    url = hostile(lambda h: _send(h, 200, b"not json", Content_Type="text/plain"))
    with Keap(url, env={"KEAP_API_KEY": "k"}) as keap:
        with pytest.raises(ProtocolError, match="expected JSON"):
            keap.list()


@pytest.mark.parametrize(
    "body",
    [
        b'{"hooks": []}',
        b'[{"key": "1", "eventKey": "contact.add"}]',
        b'[{"key": "1", "eventKey": "contact.add", "hookUrl": "https://x", "status": "Paused"}]',
        b"[1, 2]",
    ],
)
def test_a_body_of_the_wrong_shape_is_a_protocol_error(
    hostile: Callable[[Handler], str], body: bytes
) -> None:
    url = hostile(lambda h: _send(h, 200, body, Content_Type="application/json"))
    with Keap(url, env={"KEAP_API_KEY": "k"}) as keap:
        with pytest.raises(ProtocolError):
            keap.list()


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(
    hostile: Callable[[Handler], str],
) -> None:
    elsewhere = hostile(lambda h: _send(h, 200, b"[]"))
    url = hostile(lambda h: _send(h, 302, b"", Location=elsewhere + "/hooks"))
    with Keap(url, env={"KEAP_API_KEY": "the-real-key"}) as keap:
        with pytest.raises(ProtocolError, match="redirect"):
            keap.list()
    assert len(hostile.seen_headers) == 1  # type: ignore[attr-defined]


def test_a_huge_body_is_refused(
    hostile: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hookctl.keap.transport.MAX_BODY_BYTES", 1024)
    url = hostile(lambda h: _send(h, 200, b"[" + b" " * 4096 + b"]"))
    with Keap(url, env={"KEAP_API_KEY": "k"}) as keap:
        with pytest.raises(ProtocolError, match="larger than"):
            keap.list()


# -- credentials -------------------------------------------------------------------------------


def test_credentials_come_from_the_named_variable_else_the_defaults() -> None:
    env = {"KEAP_API_KEY": "k1", "KEAP_ACCESS_TOKEN": "t1", "MINE": "t2"}
    default = credentials_from_env(env)
    assert isinstance(default, ApiKeyAuth) and default.env_name == "KEAP_API_KEY"
    token = credentials_from_env({"KEAP_ACCESS_TOKEN": "t1"})
    assert isinstance(token, BearerAuth) and token.env_name == "KEAP_ACCESS_TOKEN"
    named = credentials_from_env(env, access_token_env="MINE")
    assert isinstance(named, BearerAuth) and named.env_name == "MINE"
    # A variable hooks.yaml names is the only one looked at, even when it is unset.
    assert credentials_from_env({"KEAP_API_KEY": "k1"}, api_key_env="MINE") is None
    assert credentials_from_env({"KEAP_API_KEY": ""}) is None


def test_a_credential_hides_its_value_in_its_repr_and_in_any_text() -> None:
    for auth, value in (
        (ApiKeyAuth("sk-1", "KEAP_API_KEY"), "sk-1"),
        (BearerAuth("t-2", "T"), "t-2"),
    ):
        assert value not in repr(auth)
        assert auth.redact(f"refused {value}!") == "refused ***!"


def test_a_credential_that_cannot_be_a_header_fails_in_one_line_and_sends_nothing(
    sandbox: Sandbox,
) -> None:
    for value in ("sk-in\r\nside-91", "sk-in\tside-91", "sk-\x1b[2K-91", "sk-ключ-91", "  \n"):
        with Keap(sandbox.api_url, env={"KEAP_API_KEY": value}) as keap:
            with pytest.raises(AuthenticationError) as caught:
                keap.list()
        text = str(caught.value)
        assert "\n" not in text and "-91" not in text
        assert "$KEAP_API_KEY" in text
    assert sandbox.stats()["calls"] == {}


def test_a_credential_pasted_with_spaces_around_it_is_sent_without_them(
    sandbox: Sandbox, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    for value in (api_key + "\n", f" {api_key} ", f"\t{api_key}\r\n"):
        caplog.clear()
        with Keap(sandbox.api_url, env={"KEAP_API_KEY": value}) as keap:
            assert keap.list() == []
        assert "$KEAP_API_KEY has spaces or a line break around it" in caplog.text
        assert api_key not in caplog.text


def test_an_echo_of_a_secret_cut_short_or_in_another_case_is_redacted() -> None:
    secret = "sk-Recognisable-7f3a9c0d1e2f3a4b5c6d7e8f"
    auth = ApiKeyAuth(secret, "KEAP_API_KEY")
    for echo in (secret[:39], secret.upper(), secret.lower(), secret[5:13], "x" + secret[-9:]):
        shown = auth.redact(f"key {echo}: invalid")
        assert shown.startswith("key ") and shown.endswith(": invalid")
        assert "***" in shown
        for start in range(len(secret) - 7):
            assert secret[start : start + 8].lower() not in shown.lower()
    # Text that shares less than 8 characters in a row with the secret is left alone.
    assert auth.redact("the key sk-Reco is wrong") == "the key sk-Reco is wrong"


class _Refreshing(BearerAuth):
    """What an OAuth credential does: a 401 renews the token, once."""

    def __init__(self, fresh: str) -> None:
        super().__init__("expired-token", "KEAP_ACCESS_TOKEN")
        self.fresh = fresh
        self.refreshes = 0

    def refresh(self) -> bool:
        self.refreshes += 1
        self._value = self.fresh
        return True


def test_a_401_lets_the_credential_refresh_and_the_request_go_once_more(
    hostile: Callable[[Handler], str],
) -> None:
    hook = Hook("1", "contact.add", "https://x.example.com/a", "Verified")

    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.headers.get("Authorization") == "Bearer good-token":
            _send(h, 200, json.dumps(hook.to_keap()).encode(), Content_Type="application/json")
        else:
            _send(h, 401, b'{"message": "Invalid Access Token"}')

    url = hostile(answer)
    for fresh, works in (("good-token", True), ("still-bad", False)):
        auth = _Refreshing(fresh)
        with Keap(url, auth=auth, env={}) as keap:
            if works:  # a create too: a 401 means nothing was done
                assert keap.create(hook.event_key, hook.hook_url) == hook
            else:
                with pytest.raises(AuthenticationError) as caught:
                    keap.create(hook.event_key, hook.hook_url)
                assert caught.value.status == 401
                assert "check $KEAP_ACCESS_TOKEN" in str(caught.value)
            # One refresh and one more request; a second 401 is final.
            assert (auth.refreshes, keap.calls) == (1, 2)


def test_a_refresh_is_not_a_retry_so_a_404_after_it_still_counts(
    hostile: Callable[[Handler], str],
) -> None:
    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        fresh = h.headers.get("Authorization") == "Bearer good-token"
        _send(h, 404 if fresh else 401, b'{"message": "no such hook"}')

    url = hostile(answer)
    with Keap(url, auth=_Refreshing("good-token"), env={}) as keap:
        with pytest.raises(NotFoundError):
            keap.delete("7")
        assert keap.calls == 2


def test_a_403_does_not_refresh(hostile: Callable[[Handler], str]) -> None:
    url = hostile(lambda h: _send(h, 403, b'{"message": "Forbidden"}'))
    auth = _Refreshing("good-token")
    with Keap(url, auth=auth, env={}) as keap:
        with pytest.raises(AuthenticationError):
            keap.list()
    assert (auth.refreshes, keap.calls) == (0, 1)


def test_the_default_retry_policy_is_looked_up_in_hookctl_keap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hookctl.keap.client

    monkeypatch.setattr(hookctl.keap.client, "RetryPolicy", lambda: FAST_RETRY)
    assert Keap("http://127.0.0.1:9", env={}).retry is FAST_RETRY


# -- secrets -----------------------------------------------------------------------------------


def test_the_api_key_never_appears_in_logs_errors_or_reprs(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-RECOGNISABLE-7f3a9c"
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with Sandbox(SandboxSettings(api_key=key)) as sb:
        sb.set_faults(Faults(throttle_rate=3, retry_after=True))
        with Keap(sb.api_url, env={"KEAP_API_KEY": key}, retry=FAST_RETRY) as keap:
            texts.append(repr(keap))
            hook = keap.create("contact.add", sb.receiver_url + "/a")
            keap.list()
            keap.get(hook.key)
            keap.update(hook.key, "contact.edit", sb.receiver_url + "/b")
            keap.verify(hook.key)
            failing_calls: tuple[Callable[[], object], ...] = (
                lambda: keap.get("404"),
                lambda: keap.create("nope", "x"),
            )
            for failing in failing_calls:
                try:
                    failing()
                except Exception as exc:
                    texts.append(str(exc))
                    texts.append(repr(exc))
            keap.delete(hook.key)
        with Keap(sb.api_url, env={"KEAP_API_KEY": key + "-wrong"}) as wrong:
            with pytest.raises(AuthenticationError) as caught:
                wrong.list()
            texts += [str(caught.value), repr(caught.value), repr(wrong)]
    everything = "\n".join(texts) + caplog.text
    assert caplog.records, "debug logging should have said something"
    assert key not in everything


def test_an_answer_that_trickles_in_is_cut_off_at_the_deadline(
    hostile: Callable[[Handler], str],
) -> None:
    body = b"[" + b" " * 18 + b"]"

    def trickle(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for byte in body:  # each byte well within the read timeout, the whole far past it
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.25)

    url = hostile(trickle)
    with Keap(url, env={"KEAP_API_KEY": "k"}, timeout=(1, 0.5), retry=RetryPolicy(1)) as keap:
        # The deadline is twice the read timeout; the whole body would take 5 s and then be a
        # valid empty list, so this error is the deadline's (no stopwatch needed to tell).
        with pytest.raises(UnreachableError, match="answer trickled in too slowly"):
            keap.list()


@pytest.mark.parametrize("encoding", ["gzip", "chunked"])
def test_compressed_and_chunked_answers_are_read_whole(
    hostile: Callable[[Handler], str], encoding: str
) -> None:
    hooks = [
        {
            "key": str(i),
            "eventKey": "contact.add",
            "hookUrl": f"https://x/{i}",
            "status": "Verified",
        }
        for i in range(2000)
    ]
    body = json.dumps(hooks).encode()

    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if encoding == "gzip":
            packed = gzip.compress(body)
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(packed)))
            h.end_headers()
            h.wfile.write(packed)
            return
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(body), 7000):
            part = body[start : start + 7000]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    url = hostile(answer)
    with Keap(url, env={"KEAP_API_KEY": "k"}) as keap:
        assert len(keap.list()) == 2000


def test_a_create_whose_answer_trickles_in_is_not_sent_again(
    hostile: Callable[[Handler], str],
) -> None:
    """Keap stored the create; its answer came too slowly. The retry must find it, not make a
    second one."""
    stored: list[dict[str, str]] = []

    def answer(h: http.server.BaseHTTPRequestHandler) -> None:
        if h.command == "POST":
            request = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
            hook = Hook(str(len(stored) + 1), request["eventKey"], request["hookUrl"], "Verified")
            stored.append(hook.to_keap())
            body = json.dumps(stored[-1]).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for byte in body:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(0.05)
            return
        _send(h, 200, json.dumps(stored).encode(), Content_Type="application/json")

    url = hostile(answer)
    fast = RetryPolicy(attempts=3, backoff_base=0.01)
    with Keap(url, env={"KEAP_API_KEY": "k"}, timeout=(1, 0.2), retry=fast) as keap:
        created = keap.create("contact.add", "https://x.example.com/a")
    assert created.key == "1"
    assert len(stored) == 1
