"""Fault injection (latency, 500s, throttling, commit-then-drop) and the call statistics."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from conftest import Api, KeapOpenAPI
from helpers.clocks import ManualClock

from hookctl.sandbox import Faults, Sandbox, SandboxSettings

THROTTLE_HEADERS = [
    f"x-keap-{scope}-throttle-{field}"
    for scope in ("product", "tenant")
    for field in ("limit", "time-unit", "interval", "available", "used")
]


def test_latency_is_added_to_every_api_call(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(latency=0.08))
    started = time.perf_counter()
    api.call("GET", "/hooks")
    api.call("GET", "/hooks/event_keys")
    assert time.perf_counter() - started >= 0.16
    # Admin paths are not delayed: with ten minutes of latency the health check still answers
    # within its read timeout (a bound no loaded machine comes near).
    sandbox.set_faults(Faults(latency=600))
    assert requests.get(sandbox.url + "/_sandbox/health", timeout=(5, 60)).status_code == 200
    sandbox.set_faults(Faults())


def test_a_share_of_calls_answers_500_without_side_effects(
    sandbox: Sandbox, api: Api, keap_openapi: KeapOpenAPI
) -> None:
    sandbox.set_faults(Faults(error_rate=0.3, seed=7))
    url = sandbox.receiver_url + "/e"
    statuses = []
    for _ in range(200):
        response = api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": url})
        keap_openapi.check(response, "POST", "/hooks")
        statuses.append(response.status_code)
    failures = statuses.count(500)
    assert 40 <= failures <= 80
    assert len(sandbox.hooks()) == statuses.count(200) == 200 - failures


def test_the_same_seed_injects_the_same_errors(sandbox: Sandbox, api: Api) -> None:
    runs = []
    for _ in range(2):
        sandbox.set_faults(Faults(error_rate=0.5, seed=42))
        runs.append([api.call("GET", "/hooks").status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}


def test_html_errors_answer_502_with_an_html_page(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(html_error_rate=1.0))
    response = api.call("GET", "/hooks")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<html>")


def test_throttling_answers_429_with_keap_body_headers_and_retry_after(
    sandbox: Sandbox, api: Api
) -> None:
    sandbox.set_faults(Faults(throttle_rate=5))
    answers = [api.call("GET", "/hooks") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    for answer in answers:
        assert all(name in answer.headers for name in THROTTLE_HEADERS)
        assert answer.headers["x-keap-product-throttle-limit"] == "5"
        assert answer.headers["x-keap-product-throttle-time-unit"] == "second"
    available = [int(a.headers["x-keap-product-throttle-available"]) for a in answers]
    assert available[:5] == [4, 3, 2, 1, 0]
    assert available == [int(a.headers["x-keap-tenant-throttle-available"]) for a in answers]
    assert [int(a.headers["x-keap-product-throttle-used"]) for a in answers][:5] == [1, 2, 3, 4, 5]
    throttled = answers[-1]
    assert throttled.json() == {
        "code": "429",
        "message": "Quota Exceeded",
        "status": "Request Throttled",
        "details": None,
    }
    assert throttled.headers["Retry-After"] == "1"
    assert "Retry-After" not in answers[0].headers


def test_throttling_without_retry_after(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(throttle_rate=1, retry_after=False))
    assert api.call("GET", "/hooks").status_code == 200
    throttled = api.call("GET", "/hooks")
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers


def test_the_bucket_refills_at_the_throttle_rate(sandbox: Sandbox, api: Api) -> None:
    # The sandbox's clock stands still unless the test moves it: how long 21 loopback calls
    # take on this machine makes no difference.
    clock = ManualClock()
    sandbox.set_clock(clock)
    sandbox.set_faults(Faults(throttle_rate=20))
    statuses = [api.call("GET", "/hooks").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    clock.advance(0.049)  # a token comes back every 50 ms: not yet
    assert api.call("GET", "/hooks").status_code == 429
    clock.advance(0.002)
    assert api.call("GET", "/hooks").status_code == 200
    assert api.call("GET", "/hooks").status_code == 429


def test_a_client_paced_below_the_rate_is_never_throttled(sandbox: Sandbox, api: Api) -> None:
    clock = ManualClock()
    sandbox.set_clock(clock)
    sandbox.set_faults(Faults(throttle_rate=100))
    while api.call("GET", "/hooks").status_code != 429:
        pass  # empty the bucket, so only the refill rate counts
    statuses = []
    for _ in range(40):
        clock.advance(1 / 80)
        statuses.append(api.call("GET", "/hooks").status_code)
    assert statuses.count(429) == 0
    # Paced above the rate, the same client is throttled: the check above can fail.
    while api.call("GET", "/hooks").status_code != 429:
        pass
    statuses = []
    for _ in range(40):
        clock.advance(1 / 120)
        statuses.append(api.call("GET", "/hooks").status_code)
    assert statuses.count(429) > 0


def test_without_throttling_no_throttle_header_is_sent(api: Api) -> None:
    response = api.call("GET", "/hooks")
    assert not [name for name in response.headers if "throttle" in name.lower()]


def test_a_dropped_create_is_committed_but_the_client_gets_no_answer(
    sandbox: Sandbox, api: Api
) -> None:
    sandbox.set_faults(Faults(drop_after_create=1))
    url = sandbox.receiver_url + "/dropped"
    with pytest.raises(requests.ConnectionError):
        api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": url})
    assert [(h.key, h.pair, h.status) for h in sandbox.hooks()] == [
        ("1", ("contact.add", url), "Verified")
    ]
    assert sandbox.faults.drop_after_create == 0
    # The next create is answered, on the same session.
    assert api.create("contact.add", url)["key"] == "2"
    assert sandbox.stats()["responses"] == {"dropped": 1, "200": 1}


def test_drops_apply_to_successful_creates_only(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(drop_after_create=2))
    assert api.call("GET", "/hooks").status_code == 200
    assert api.call("POST", "/hooks", {"eventKey": "nope"}).status_code == 400
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": "http://a.test/"})
    assert api.call("POST", "/hooks", {"eventKey": "contact.add", "hookUrl": "http://a.test/"})
    assert len(sandbox.hooks()) == 3


def test_faults_are_read_and_set_by_the_admin_call(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.url + "/_sandbox/faults"
    assert requests.get(url, timeout=5).json() == Faults().to_json()
    wanted = {"latency": 0.0, "error_rate": 1.0, "throttle_rate": 100, "seed": 3}
    response = requests.put(url, json=wanted, timeout=5)
    assert response.status_code == 200
    assert response.json() == {**Faults().to_json(), **wanted}
    assert sandbox.faults == Faults(error_rate=1.0, throttle_rate=100, seed=3)
    assert api.call("GET", "/hooks").status_code == 500


@pytest.mark.parametrize(
    "body",
    [
        {"latency": -1},
        {"error_rate": 2},
        {"throttle_rate": 0},
        {"drop_after_create": 1.5},
        {"retry_after": "yes"},
        {"typo": 1},
        [],
        "x",
    ],
)
def test_bad_fault_settings_are_refused(sandbox: Sandbox, body: Any) -> None:
    response = requests.put(sandbox.url + "/_sandbox/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["message"]
    assert sandbox.faults == Faults()


def test_faults_can_be_given_to_the_constructor(api_key: str) -> None:
    with Sandbox(SandboxSettings(api_key=api_key, faults=Faults(error_rate=1.0))) as sb:
        assert Api(sb.api_url, api_key).call("GET", "/hooks").status_code == 500


def test_calls_are_counted_per_method_and_route_template(sandbox: Sandbox, api: Api) -> None:
    url = sandbox.receiver_url + "/s"
    api.create("contact.add", url)
    api.create("contact.add", url)
    api.call("GET", "/hooks")
    api.call("GET", "/hooks/event_keys")
    api.call("GET", "/hooks/1")
    api.call("GET", "/hooks/99")
    api.call("PUT", "/hooks/2", {"eventKey": "contact.edit", "hookUrl": url})
    api.call("POST", "/hooks/1/verify")
    api.call("POST", "/hooks/1/delayedVerify", headers={"X-Hook-Secret": "x"})
    api.call("DELETE", "/hooks/2")
    requests.get(sandbox.url + "/_sandbox/health", timeout=5)
    stats = requests.get(sandbox.url + "/_sandbox/stats", timeout=5).json()
    assert stats == sandbox.stats()
    assert stats["calls"] == {
        "POST /hooks": 2,
        "GET /hooks": 1,
        "GET /hooks/event_keys": 1,
        "GET /hooks/{key}": 2,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
        "POST /hooks/{key}/delayedVerify": 1,
        "DELETE /hooks/{key}": 1,
    }
    assert stats["responses"] == {"200": 7, "404": 1, "403": 1, "204": 1}


def test_stats_count_refused_calls_and_reset(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(throttle_rate=1))
    api.call("GET", "/hooks")
    api.call("GET", "/hooks")
    assert sandbox.stats() == {"calls": {"GET /hooks": 2}, "responses": {"200": 1, "429": 1}}
    reset = requests.post(sandbox.url + "/_sandbox/stats/reset", timeout=5)
    assert reset.status_code == 204
    assert sandbox.stats() == {"calls": {}, "responses": {}}
    sandbox.set_faults(Faults())
    api.call("GET", "/hooks")
    sandbox.reset_stats()
    assert sandbox.stats() == {"calls": {}, "responses": {}}


def test_a_rate_below_one_a_second_lets_one_call_through(sandbox: Sandbox, api: Api) -> None:
    sandbox.set_faults(Faults(throttle_rate=0.01))
    first, second = (api.call("GET", "/hooks") for _ in range(2))
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["Retry-After"] == "100"
