"""Event delivery: Keap-shaped payloads to Verified subscriptions, Keap's retries, Inactive."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from conftest import Api

from hookctl.sandbox import Sandbox
from hookctl.sandbox.events import ATTEMPT_DELAYS


def _events(sandbox: Sandbox, path: str = "") -> list[Any]:
    return [
        r.body
        for r in sandbox.received()
        if r.kind == "event" and r.path.startswith("/_sandbox/receiver" + path)
    ]


def test_an_event_reaches_only_verified_subscriptions_of_its_key(sandbox: Sandbox) -> None:
    receiver = sandbox.receiver_url
    verified, *_ = sandbox.seed(
        [
            ("contact.add", receiver + "/verified", "Verified"),
            ("contact.add", receiver + "/unverified", "Unverified"),
            ("contact.add", receiver + "/inactive", "Inactive"),
            ("contact.edit", receiver + "/other-event", "Verified"),
        ]
    )
    outcome = sandbox.fire_event("contact.add", [7, 8])
    assert outcome["subscriptions"] == [verified.key]
    assert outcome["deliveries"] == [
        {
            "key": verified.key,
            "objects": 2,
            "attempts": 1,
            "result": "delivered",
            "status": "Verified",
        }
    ]
    assert [r.path for r in sandbox.received()] == ["/_sandbox/receiver/verified"]


def test_the_payload_is_keap_skinny_shape(sandbox: Sandbox) -> None:
    sandbox.seed([("invoice.payment.add", sandbox.receiver_url + "/pay", "Verified")])
    sandbox.fire_event("invoice.payment.add", [1, "2"])
    (payload,) = _events(sandbox)
    assert payload["event_key"] == "invoice.payment.add"
    assert payload["object_type"] == "invoice.payment"
    assert [item["id"] for item in payload["object_keys"]] == [1, "2"]
    for item in payload["object_keys"]:
        assert set(item) == {"id", "apiUrl", "timestamp"}
        assert item["timestamp"].endswith("Z")


def test_objects_are_sent_in_batches_of_at_most_1000(sandbox: Sandbox) -> None:
    sandbox.seed([("contact.edit", sandbox.receiver_url + "/batch", "Verified")])
    outcome = sandbox.fire_event("contact.edit", list(range(2500)))
    assert sorted(d["objects"] for d in outcome["deliveries"]) == [500, 1000, 1000]
    received = sorted((p["object_keys"][0]["id"], len(p["object_keys"])) for p in _events(sandbox))
    assert received == [(0, 1000), (1000, 1000), (2000, 500)]


def test_the_fourth_failed_attempt_makes_the_hook_inactive(sandbox: Sandbox) -> None:
    (hook,) = sandbox.seed([("contact.add", sandbox.receiver_url + "/fail/x", "Verified")])
    started = time.perf_counter()
    outcome = sandbox.fire_event("contact.add", [1])
    elapsed = time.perf_counter() - started
    assert outcome["deliveries"] == [
        {"key": hook.key, "objects": 1, "attempts": 4, "result": "failed", "status": "Inactive"}
    ]
    assert len(_events(sandbox)) == 4
    assert [h.status for h in sandbox.hooks()] == ["Inactive"]
    # Keap's schedule (at least 30 s + 30 s + 5 min + 30 min) on the fixture's 1/10,000 clock.
    assert elapsed >= sum(low for low, _ in ATTEMPT_DELAYS) * 1e-4


def test_no_answer_counts_as_a_failure(sandbox: Sandbox) -> None:
    sandbox.seed([("contact.add", "http://127.0.0.1:9/nothing", "Verified")])
    outcome = sandbox.fire_event("contact.add", [1])
    assert outcome["deliveries"][0]["result"] == "failed"
    assert sandbox.hooks()[0].status == "Inactive"


def test_an_answer_of_410_makes_the_hook_inactive_at_once(sandbox: Sandbox) -> None:
    sandbox.seed([("contact.add", sandbox.receiver_url + "/gone/x", "Verified")])
    outcome = sandbox.fire_event("contact.add", [1])
    assert outcome["deliveries"][0]["attempts"] == 1
    assert outcome["deliveries"][0]["result"] == "gone"
    assert len(_events(sandbox)) == 1
    assert sandbox.hooks()[0].status == "Inactive"


def test_a_delivery_that_fails_three_times_then_succeeds_keeps_the_hook_verified(
    sandbox: Sandbox,
) -> None:
    sandbox.seed([("contact.add", sandbox.receiver_url + "/flaky-3/x", "Verified")])
    outcome = sandbox.fire_event("contact.add", [1])
    assert outcome["deliveries"][0]["attempts"] == 4
    assert outcome["deliveries"][0]["result"] == "delivered"
    assert [r.status for r in sandbox.received()] == [500, 500, 500, 200]
    assert sandbox.hooks()[0].status == "Verified"


def test_verify_reactivates_an_inactive_hook_and_events_flow_again(
    sandbox: Sandbox, api: Api
) -> None:
    (hook,) = sandbox.seed([("contact.add", sandbox.receiver_url + "/flaky-4/x", "Verified")])
    sandbox.fire_event("contact.add", [1])
    assert sandbox.hooks()[0].status == "Inactive"
    assert sandbox.fire_event("contact.add", [2])["deliveries"] == []
    assert api.call("POST", f"/hooks/{hook.key}/verify").json()["status"] == "Verified"
    assert sandbox.fire_event("contact.add", [3])["deliveries"][0]["result"] == "delivered"


def test_a_hook_deleted_while_retrying_gets_nothing_more(sandbox: Sandbox, api: Api) -> None:
    (hook,) = sandbox.seed([("contact.add", sandbox.receiver_url + "/fail/d", "Verified")])
    sandbox.fire_event("contact.add", [1], wait=False)
    deadline = time.monotonic() + 5
    while not _events(sandbox) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert api.call("DELETE", f"/hooks/{hook.key}").status_code == 204
    assert sandbox.wait_idle(timeout=5)
    assert len(_events(sandbox)) < 4


def test_events_fired_without_waiting_are_delivered_by_wait_idle(sandbox: Sandbox) -> None:
    sandbox.seed([("task.add", sandbox.receiver_url + f"/t{i}", "Verified") for i in range(5)])
    outcome = sandbox.fire_event("task.add", [1], wait=False)
    assert len(outcome["subscriptions"]) == 5
    assert outcome["deliveries"] == []
    assert sandbox.wait_idle(timeout=5)
    assert len(_events(sandbox)) == 5


def test_the_admin_call_fires_an_event(sandbox: Sandbox) -> None:
    sandbox.seed([("note.add", sandbox.receiver_url + "/n", "Verified")])
    response = requests.post(
        sandbox.url + "/_sandbox/events",
        json={"event_key": "note.add", "object_keys": [5]},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["deliveries"][0]["result"] == "delivered"
    assert _events(sandbox)[0]["object_keys"][0]["id"] == 5


@pytest.mark.parametrize(
    "body",
    [
        {"event_key": "contact.ad", "object_keys": [1]},
        {"event_key": "contact.add", "object_keys": []},
        {"event_key": "contact.add", "object_keys": [{"id": 1}]},
        {"event_key": "contact.add", "object_keys": [1], "wait": "yes"},
        ["contact.add"],
    ],
)
def test_the_admin_call_refuses_a_bad_event(sandbox: Sandbox, body: Any) -> None:
    response = requests.post(sandbox.url + "/_sandbox/events", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["message"]


def test_fire_event_refuses_an_unknown_event_key(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown event key"):
        sandbox.fire_event("contact.ad", [1])
