"""Keap counts an OAuth app's calls across every tenant it serves: accounts of one app worked
on side by side share one budget (hookctl.keap.waits.AppBudget, keyed by client id), learnt
from the product-throttle headers. Three tenants (three sandboxes), each of which alone would
take the app's whole limit, see the app's limit together, counted where the calls arrive."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from helpers.cli import Cli

from hookctl.keap.client import Keap
from hookctl.keap.oauth import OAuthAuth
from hookctl.keap.waits import AppBudget, WaitTooLong, app_budget
from hookctl.sandbox import Faults, Sandbox, SandboxSettings
from hookctl.sandbox.server import API_PREFIX, DEFAULT_CLIENT_SECRET

LIMIT = 40  # the app's calls a second, as each tenant's product-throttle headers say
CALLS = 40  # per account


@pytest.fixture
def arrivals(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """When each API call reached any sandbox."""
    seen: list[float] = []
    lock = threading.Lock()
    handle = Sandbox.handle

    def counted(self: Sandbox, method: str, target: str, headers: Message, body: bytes) -> object:
        if target.startswith(API_PREFIX):
            with lock:
                seen.append(time.monotonic())
        return handle(self, method, target, headers, body)

    monkeypatch.setattr(Sandbox, "handle", counted)
    yield seen


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_accounts_of_one_oauth_app_stay_within_the_apps_limit_together(
    arrivals: list[float], tmp_path: Path
) -> None:
    # An app of this test's own: the budget of an app lasts as long as the process.
    app = f"app-{uuid.uuid4().hex}"
    tenants = [
        Sandbox(SandboxSettings(faults=Faults(throttle_rate=LIMIT), client_id=app)).start()
        for _ in range(3)
    ]
    clients: list[Keap] = []
    try:
        for index, tenant in enumerate(tenants):
            auth = OAuthAuth(
                app,
                DEFAULT_CLIENT_SECRET,
                tmp_path / f"token-{index}.json",
                token_url=tenant.url + "/token",
                seed=tenant.tokens.new_refresh_token(),
            )
            clients.append(Keap(tenant.api_url, auth=auth))
        # One app: one budget, whichever account's client holds it.
        assert clients[0].transport.app is clients[2].transport.app is not None

        def work(keap: Keap) -> None:
            for _ in range(CALLS):
                keap.list()

        threads = [threading.Thread(target=work, args=(keap,)) for keap in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert [sum(t.stats()["calls"].values()) for t in tenants] == [CALLS] * 3
        assert [t.stats()["responses"].get("429", 0) for t in tenants] == [0] * 3
    finally:
        for keap in clients:
            keap.close()
        for tenant in tenants:
            tenant.stop()
    # Each tenant alone allows LIMIT a second from a full bucket, so without the shared budget
    # all 3 * CALLS calls arrive within a fraction of a second. With it, no second holds more
    # than the app's limit, give or take the first call of each account (made before any
    # answer said what the limit is) and a few calls of the next second that a busy machine
    # delivered late or early; and the calls take at least two seconds.
    assert len(arrivals) == 3 * CALLS
    assert most_in_one_second(arrivals) <= LIMIT + 3 + LIMIT // 5
    assert max(arrivals) - min(arrivals) >= 1.5


def test_an_account_of_another_app_or_with_a_key_has_a_budget_of_its_own_or_none(
    tmp_path: Path,
) -> None:
    assert app_budget("app-one") is app_budget("app-one")
    assert app_budget("app-one") is not app_budget("app-two")
    with Sandbox() as tenant:
        assert Keap(tenant.api_url, api_key_env="NO_SUCH_VAR").transport.app is None


def test_a_slot_further_off_than_max_wait_is_refused_at_once_and_reserves_nothing() -> None:
    budget = AppBudget(limit=2, window=30.0)
    budget.wait()
    budget.wait()
    with pytest.raises(WaitTooLong) as refused:
        budget.wait(max_wait=5.0)
    assert refused.value.seconds > 25 and "OAuth app" in refused.value.why
    with pytest.raises(WaitTooLong):
        budget.wait(max_wait=5.0)


def test_the_budget_follows_the_product_throttle_headers_and_ignores_nonsense() -> None:
    budget = AppBudget()
    assert (budget.limit, budget.window) == (1500, 60.0)
    budget.observe(
        {
            "X-Keap-Product-Throttle-Limit": "10000",
            "X-Keap-Product-Throttle-Time-Unit": "minute",
            "X-Keap-Product-Throttle-Interval": "1",
        }
    )
    assert (budget.limit, budget.window) == (10000, 60.0)
    for nonsense in ("0", "-5", "nan", "inf", "lots"):
        budget.observe({"x-keap-product-throttle-limit": nonsense})
        assert budget.limit == 10000


def test_a_run_with_an_app_share_takes_only_its_part_of_the_apps_limit() -> None:
    budget = AppBudget(limit=4, window=30.0, share=2)
    budget.wait()
    budget.wait()
    with pytest.raises(WaitTooLong) as refused:
        budget.wait(max_wait=5.0)
    assert "2 calls per 30 s (1/2 of 4, --app-share)" in refused.value.why
    budget.observe(
        {"x-keap-product-throttle-limit": "10", "x-keap-product-throttle-time-unit": "s"}
    )
    assert budget.allowed == 5
    budget.share = 100
    assert budget.allowed == 1  # never none at all


def test_app_share_on_the_command_line_divides_the_apps_limit_between_ci_jobs(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three accounts of one app, one after the other. As one of 1,500 jobs sharing the app's
    # 1,500 calls a minute, this run may start one call a minute: the first account's list
    # takes it and the next ones would wait a minute, longer than --max-wait allows.
    app = f"app-{uuid.uuid4().hex}"
    with Sandbox(SandboxSettings(client_id=app)) as tenant:
        monkeypatch.delenv("KEAP_API_KEY", raising=False)
        monkeypatch.setenv("KEAP_API_URL", tenant.api_url)
        monkeypatch.setenv("KEAP_TOKEN_URL", tenant.url + "/token")
        monkeypatch.setenv("KEAP_CLIENT_ID", app)
        monkeypatch.setenv("KEAP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
        monkeypatch.setenv("KEAP_REFRESH_TOKEN", tenant.tokens.new_refresh_token())
        monkeypatch.setenv("KEAP_TOKEN_FILE", str(tmp_path / "token.json"))
        hooks = tmp_path / "hooks.yaml"
        hooks.write_text(
            "version: 1\naccounts: {a: {}, b: {}, c: {}}\nhooks:\n"
            f"  - {{name: h, url: '{tenant.receiver_url}/h', events: [contact.add]}}\n"
        )
        drift = ("drift", "-f", str(hooks), "--account-parallelism", "1", "--max-wait", "1")
        shared = cli.run(*drift, "--app-share", "1500", status=1)
        assert "1 calls per 60 s (1/1500 of 1500, --app-share) are spent" in shared.err
        assert tenant.stats()["calls"].get("GET /hooks", 0) == 1
        # Alone with the app, every account is planned (and has drifted: exit 2).
        alone = cli.run(*drift, status=2)
        assert "--app-share" not in alone.err
