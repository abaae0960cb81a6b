"""The sandbox's Keap API: every operation's status and body, checked against Keap's OpenAPI."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import COPIED_OPENAPI, SHARED_OPENAPI, Api, KeapOpenAPI
from helpers.keap_api import OPERATIONS
from helpers.processes import ctrl_c_reaches_the_child
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from hookctl.domain.models import KNOWN_EVENT_KEYS, Hook
from hookctl.sandbox import Sandbox, SandboxSettings
from hookctl.sandbox.http import Server

KEYED = [operation for operation in OPERATIONS if "{key}" in operation[2]]


def test_event_keys_answers_every_known_event_type(api: Api, keap_openapi: KeapOpenAPI) -> None:
    response = api.call("GET", "/hooks/event_keys")
    keap_openapi.check(response, "GET", "/hooks/event_keys")
    assert response.status_code == 200
    assert response.json() == list(KNOWN_EVENT_KEYS)


def test_list_answers_an_empty_array_on_a_fresh_sandbox(
    api: Api, keap_openapi: KeapOpenAPI
) -> None:
    response = api.call("GET", "/hooks")
    keap_openapi.check(response, "GET", "/hooks")
    assert response.json() == []


def test_create_answers_200_with_the_new_hook(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    url = sandbox.receiver_url + "/contacts"
    response = api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": url})
    keap_openapi.check(response, "POST", "/hooks")
    assert response.status_code == 200
    assert response.json() == {
        "key": "1",
        "eventKey": "contact.add",
        "hookUrl": url,
        "status": "Verified",
    }
    assert sandbox.hooks() == [Hook("1", "contact.add", url, "Verified")]


def test_list_answers_every_hook_in_key_order(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    seeded = sandbox.seed(
        [
            ("contact.add", "https://a.test/1", "Verified"),
            ("invoice.add", "https://b.test/2", "Unverified"),
            ("task.edit", "https://c.test/3", "Inactive"),
        ]
    )
    response = api.call("GET", "/hooks")
    keap_openapi.check(response, "GET", "/hooks")
    assert response.json() == [hook.to_keap() for hook in seeded]
    assert [hook["key"] for hook in response.json()] == ["1", "2", "3"]


def test_keys_increase_and_are_never_reused_after_a_delete(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/k"
    first = api.create("contact.add", url)["key"]
    second = api.create("contact.add", url)["key"]
    assert api.call("DELETE", f"/hooks/{second}").status_code == 204
    third = api.create("contact.add", url)["key"]
    assert (first, second, third) == ("1", "2", "3")


def test_get_answers_the_hook(sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI) -> None:
    (hook,) = sandbox.seed([("note.add", "https://n.test/", "Inactive")])
    response = api.call("GET", f"/hooks/{hook.key}")
    keap_openapi.check(response, "GET", "/hooks/{key}")
    assert response.json() == hook.to_keap()


@pytest.mark.parametrize(
    ("method", "path", "template", "body", "key"),
    [
        (*operation, key)
        for operation in KEYED
        for key in ("42", "0", "01", "abc", "event_keys")
        # GET /hooks/event_keys is the event types, not a key.
        if (operation[0], key) != ("GET", "event_keys")
    ],
)
def test_an_unknown_key_answers_404_with_a_message(
    api: Api,
    keap_openapi: KeapOpenAPI,
    method: str,
    path: str,
    template: str,
    body: Any,
    key: str,
) -> None:
    response = api.call(method, path.replace("/1", f"/{key}", 1), body, {"X-Hook-Secret": "s"})
    assert response.status_code == 404
    assert key in response.json()["message"]
    if 404 in keap_openapi.declared_statuses(method, template):
        keap_openapi.check(response, method, template)
    else:
        # Keap declares no 404 on verify and delayedVerify; the body has the declared error shape.
        assert set(response.json()) == {"message", "localizedMessage"}


def test_update_changes_the_event_key_and_keeps_the_status(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    (hook,) = sandbox.seed([("contact.add", "https://keep.test/", "Inactive")])
    body = {"eventKey": "contact.edit", "hookUrl": hook.hook_url}
    response = api.call("PUT", f"/hooks/{hook.key}", body)
    keap_openapi.check(response, "PUT", "/hooks/{key}")
    expected = Hook(hook.key, "contact.edit", hook.hook_url, "Inactive")
    assert response.json() == expected.to_keap()
    assert sandbox.hooks() == [expected]


@pytest.mark.parametrize(
    ("receiver", "status"), [("/moved", "Verified"), ("/fail/moved", "Unverified")]
)
def test_update_to_a_new_url_runs_a_new_handshake(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI, receiver: str, status: str
) -> None:
    (hook,) = sandbox.seed([("contact.add", sandbox.receiver_url + "/old", "Verified")])
    body = {"eventKey": "contact.add", "hookUrl": sandbox.receiver_url + receiver}
    response = api.call("PUT", f"/hooks/{hook.key}", body)
    keap_openapi.check(response, "PUT", "/hooks/{key}")
    assert response.json() == {"key": hook.key, **body, "status": status}
    handshakes = [r.path for r in sandbox.received() if r.kind == "handshake"]
    assert handshakes == ["/_sandbox/receiver" + receiver]


def test_delete_answers_204_without_a_body_and_the_hook_is_gone(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    kept, deleted = sandbox.seed(
        [
            ("contact.add", "https://a.test/", "Verified"),
            ("contact.add", "https://b.test/", "Verified"),
        ]
    )
    response = api.call("DELETE", f"/hooks/{deleted.key}")
    keap_openapi.check(response, "DELETE", "/hooks/{key}")
    assert response.status_code == 204
    assert "Content-Length" not in response.headers
    assert api.call("GET", f"/hooks/{deleted.key}").status_code == 404
    assert sandbox.hooks() == [kept]


def test_the_same_event_and_url_twice_makes_two_subscriptions(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/twice"
    first = api.create("order.add", url)
    second = api.create("order.add", url)
    assert first["key"] != second["key"]
    assert [hook.pair for hook in sandbox.hooks()] == [("order.add", url)] * 2


INVALID_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not"),
    (b"", "not valid JSON"),
    (b"[]", "JSON object"),
    (b'{"hookUrl": "https://a.test/"}', "eventKey is required"),
    (b'{"eventKey": "contact.add"}', "hookUrl is required"),
    (b'{"eventKey": 7, "hookUrl": "https://a.test/"}', "eventKey is required"),
    (b'{"eventKey": "contact.ad", "hookUrl": "https://a.test/"}', "Invalid eventKey"),
    (b'{"eventKey": "contact.add", "hookUrl": "/relative"}', "absolute"),
    (b'{"eventKey": "contact.add", "hookUrl": "ftp://a.test/"}', "absolute"),
]


@pytest.mark.parametrize(("method", "path"), [("POST", "/hooks"), ("PUT", "/hooks/1")])
@pytest.mark.parametrize(("body", "message"), INVALID_BODIES)
def test_an_unusable_body_answers_400_with_a_message_and_changes_nothing(
    sandbox: Sandbox, api: Api, method: str, path: str, body: bytes, message: str
) -> None:
    (hook,) = sandbox.seed([("contact.add", "https://a.test/", "Verified")])
    response = api.call(method, path, data=body, headers={"Content-Type": "application/json"})
    # Assumption documented in the sandbox: Keap's spec declares no 400, real Keap answers it.
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert sandbox.hooks() == [hook]


@pytest.fixture(scope="module")
def shared_api(api_key: str) -> Iterator[Api]:
    """One sandbox for every example of a property (a fresh one per example is slower)."""
    with Sandbox(SandboxSettings(api_key=api_key)) as sb:
        yield Api(sb.api_url, api_key)


@given(
    hook_url=st.one_of(
        st.text(max_size=40),
        st.builds(
            "{}://{}{}".format,
            st.sampled_from(["http", "https", "ftp", "HTTP"]),
            st.sampled_from(["127.0.0.1", "localhost:1", "[::1]:2", "a.test:99999", "[::1", ""]),
            st.text(max_size=20),
        ),
    )
)
@settings(max_examples=60, deadline=None)
def test_any_hook_url_is_created_or_refused_but_never_a_server_error(
    shared_api: Api, keap_openapi: KeapOpenAPI, hook_url: str
) -> None:
    response = shared_api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": hook_url})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        keap_openapi.check(response, "POST", "/hooks")
        assert response.json()["hookUrl"] == hook_url
        assert response.json()["status"] == "Unverified"


def test_unknown_fields_in_the_body_are_ignored(sandbox: Sandbox, api: Api) -> None:
    body = {"eventKey": "contact.add", "hookUrl": sandbox.receiver_url + "/x", "extra": 1}
    assert api.call("POST", "/hooks", body).json()["status"] == "Verified"


@pytest.mark.parametrize(("method", "path", "template", "body"), OPERATIONS)
@pytest.mark.parametrize(
    ("headers", "shape"),
    [
        ({}, "message"),
        ({"X-Keap-API-Key": "wrong"}, "message"),
        ({"X-Keap-API-Key": ""}, "message"),
        ({"Authorization": "Bearer wrong"}, "fault"),
        ({"Authorization": "Basic c2FuZGJveDprZXk="}, "message"),
    ],
)
def test_missing_or_wrong_credentials_answer_401(
    sandbox: Sandbox,
    keap_openapi: KeapOpenAPI,
    method: str,
    path: str,
    template: str,
    body: Any,
    headers: dict[str, str],
    shape: str,
) -> None:
    (hook,) = sandbox.seed([("contact.add", "https://a.test/", "Verified")])
    response = requests.request(
        method, sandbox.api_url + path, json=body, headers=headers, timeout=5
    )
    keap_openapi.check(response, method, template)
    assert response.status_code == 401
    assert shape in response.json()
    assert sandbox.hooks() == [hook]
    assert sandbox.stats()["responses"] == {"401": 1}


def test_a_bearer_token_is_accepted_when_the_sandbox_has_one(api_key: str) -> None:
    with Sandbox(SandboxSettings(api_key=None, access_token="tok-123")) as sb:
        ok = requests.get(sb.api_url + "/hooks", headers={"Authorization": "Bearer tok-123"})
        key_refused = requests.get(sb.api_url + "/hooks", headers={"X-Keap-API-Key": api_key})
    assert ok.status_code == 200
    assert key_refused.status_code == 401


def test_a_method_keap_does_not_offer_answers_405(api: Api) -> None:
    response = api.call("PATCH", "/hooks/1")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PUT, DELETE"


@pytest.mark.parametrize(
    "path", ["/campaigns", "/contacts/1/x/y", "/hooks/1/verify/x", "/hooks/1/other", ""]
)
def test_a_path_keap_does_not_have_answers_404(api: Api, sandbox: Sandbox, path: str) -> None:
    response = api.call("GET", path)
    assert response.status_code == 404
    assert "message" in response.json()
    assert sandbox.stats()["calls"] == {}


def test_connections_are_kept_alive_across_calls(sandbox: Sandbox, api_key: str) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"X-Keap-API-Key": api_key, "Content-Type": "application/json"}
    body = json.dumps({"eventKey": "contact.add", "hookUrl": sandbox.receiver_url + "/ka"})
    sockets = []
    try:
        for method, path, payload in [
            ("POST", "/hooks", body),
            ("GET", "/hooks", None),
            ("DELETE", "/hooks/1", None),
            ("GET", "/hooks/1", None),
        ]:
            connection.request(method, "/crm/rest/v1" + path, payload, headers)
            answer = connection.getresponse()
            answer.read()
            assert answer.getheader("Connection") != "close"
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert len({id(sock) for sock in sockets}) == 1
    assert None not in sockets


def test_answers_carry_an_exact_content_length_and_json_type(api: Api, sandbox: Sandbox) -> None:
    api.create("contact.add", sandbox.receiver_url + "/len")
    for path in ("/hooks", "/hooks/1", "/hooks/event_keys", "/hooks/99"):
        response = api.call("GET", path)
        assert int(response.headers["Content-Length"]) == len(response.content)
        assert response.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_state_survives_a_restart_with_the_same_db_file(tmp_path: Path, api_key: str) -> None:
    db = tmp_path / "keap.db"
    with Sandbox(SandboxSettings(db=db, api_key=api_key)) as first:
        api = Api(first.api_url, api_key)
        api.create("contact.add", first.receiver_url + "/delayed/p")
        secret = first.last_secret(first.receiver_url + "/delayed/p")
        first.seed([("invoice.add", "https://i.test/", "Inactive")])
        before = first.hooks()
    with Sandbox(SandboxSettings(db=db, api_key=api_key)) as second:
        api = Api(second.api_url, api_key)
        assert second.hooks() == before
        assert api.create("contact.add", "https://after.test/")["key"] == "3"
        # The secret issued before the restart still verifies.
        assert secret is not None
        response = api.call("POST", "/hooks/1/delayedVerify", headers={"X-Hook-Secret": secret})
        assert response.json()["status"] == "Verified"


def test_a_sandbox_starts_and_stops_without_waiting_out_a_poll_interval() -> None:
    # What makes a sandbox per test affordable (about 10 ms each on an idle machine): stop()
    # returns as soon as the server loop notices, and the loop looks every 10 ms. A stopwatch
    # on a shared machine cannot say that reliably, so the loop's setting is checked instead.
    started: list[dict[str, object]] = []
    original = Server.serve_forever

    def serve_forever(self: Server, poll_interval: float = 0.5) -> None:
        started.append({"poll_interval": poll_interval})
        original(self, poll_interval)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Server, "serve_forever", serve_forever)
        for _ in range(3):
            with Sandbox() as sb:
                requests.get(sb.url + "/_sandbox/health", timeout=5).raise_for_status()
    assert started == [{"poll_interval": 0.01}] * 3


def test_admin_calls_need_no_credentials_and_are_not_counted(sandbox: Sandbox) -> None:
    health = requests.get(sandbox.url + "/_sandbox/health", timeout=5)
    assert health.json() == {"status": "ok"}
    seeded = requests.post(
        sandbox.url + "/_sandbox/hooks",
        json=[{"eventKey": "contact.add", "hookUrl": "https://s.test/", "status": "Inactive"}],
        timeout=5,
    )
    assert seeded.json() == [sandbox.hooks()[0].to_keap()]
    status = requests.put(
        sandbox.url + "/_sandbox/hooks/1/status", json={"status": "Verified"}, timeout=5
    )
    assert status.json()["status"] == "Verified"
    listed = requests.get(sandbox.url + "/_sandbox/hooks", timeout=5)
    assert listed.json() == [hook.to_keap() for hook in sandbox.hooks()]
    assert sandbox.stats() == {"calls": {}, "responses": {}}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_sandbox/hooks", [{"eventKey": "contact.add", "hookUrl": "u", "status": "x"}]),
        ("POST", "/_sandbox/hooks", {"eventKey": "contact.add"}),
        ("PUT", "/_sandbox/hooks/1/status", {"status": "Gone"}),
        ("GET", "/_sandbox/nothing", None),
    ],
)
def test_bad_admin_calls_are_refused(sandbox: Sandbox, method: str, path: str, body: Any) -> None:
    sandbox.seed([("contact.add", "https://s.test/", "Verified")])
    response = requests.request(method, sandbox.url + path, json=body, timeout=5)
    assert response.status_code in (400, 404)
    assert "message" in response.json()
    assert [hook.status for hook in sandbox.hooks()] == ["Verified"]


def test_serve_logs_where_it_listens_and_stops_cleanly_on_ctrl_c() -> None:
    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "from hookctl.sandbox import SandboxSettings, serve;"
        "serve(SandboxSettings(port=0, api_key='k'))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.split("listening on ", 1)[1].split()[0]
        assert requests.get(url + "/_sandbox/health", timeout=5).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
        assert "'k'" not in line
    finally:
        process.kill()


class SandboxMatchesAModel(RuleBasedStateMachine):
    """Any sequence of Keap calls leaves the sandbox holding what a plain dict model holds."""

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.sandbox = Sandbox(SandboxSettings(api_key="k", time_scale=1e-4)).start()
        self.api = Api(self.sandbox.api_url, "k")
        self.model: dict[str, dict[str, str]] = {}
        self.next_key = 1

    def teardown(self) -> None:
        self.api.session.close()
        self.sandbox.stop()

    def _url(self, name: str) -> str:
        return f"{self.sandbox.receiver_url}/{name}"

    @rule(
        target=keys,
        event_key=st.sampled_from(KNOWN_EVENT_KEYS[:4]),
        name=st.sampled_from(["a", "b", "fail/c", "delayed/d"]),
    )
    def create(self, event_key: str, name: str) -> str:
        hook = self.api.create(event_key, self._url(name))
        key = str(self.next_key)
        self.next_key += 1
        status = "Verified" if name in ("a", "b") else "Unverified"
        assert hook == {
            "key": key,
            "eventKey": event_key,
            "hookUrl": self._url(name),
            "status": status,
        }
        self.model[key] = hook
        return key

    @rule(
        key=keys, event_key=st.sampled_from(KNOWN_EVENT_KEYS[:4]), name=st.sampled_from(["a", "e"])
    )
    def update(self, key: str, event_key: str, name: str) -> None:
        response = self.api.call(
            "PUT", f"/hooks/{key}", {"eventKey": event_key, "hookUrl": self._url(name)}
        )
        if key not in self.model:
            assert response.status_code == 404
            return
        hook = self.model[key]
        status = hook["status"] if hook["hookUrl"] == self._url(name) else "Verified"
        hook.update(eventKey=event_key, hookUrl=self._url(name), status=status)
        assert response.json() == hook

    @rule(key=consumes(keys))
    def delete(self, key: str) -> None:
        response = self.api.call("DELETE", f"/hooks/{key}")
        assert response.status_code == (204 if self.model.pop(key, None) else 404)

    @rule(key=keys)
    def verify(self, key: str) -> None:
        response = self.api.call("POST", f"/hooks/{key}/verify")
        if key not in self.model:
            assert response.status_code == 404
            return
        hook = self.model[key]
        if not hook["hookUrl"].endswith(("/fail/c", "/delayed/d")):
            hook["status"] = "Verified"
        assert response.json() == hook

    @invariant()
    def list_matches_the_model(self) -> None:
        listed = self.api.call("GET", "/hooks").json()
        assert listed == [self.model[key] for key in sorted(self.model, key=int)]


TestSandboxMatchesAModel = SandboxMatchesAModel.TestCase
TestSandboxMatchesAModel.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_copy_of_keaps_openapi_file_is_current() -> None:
    if not SHARED_OPENAPI.is_file():
        pytest.skip("no shared/ beside the repository to compare the copy with")
    assert COPIED_OPENAPI.read_bytes() == SHARED_OPENAPI.read_bytes(), (
        f"{SHARED_OPENAPI} changed: copy it to {COPIED_OPENAPI}"
    )
