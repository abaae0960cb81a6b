"""Keap's daily quota: read from its headers, an apply it cannot cover refused before its first
write, a spent quota ending the command at once, and plan saying when little is left."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers.cli import Cli, write_config, writes

from hookctl.engine.runner import Options, client
from hookctl.keap.waits import read_quota
from hookctl.sandbox import Sandbox

TWENTY = {f"managed/n{i}": ["contact.add"] for i in range(20)}


def test_an_apply_the_quota_cannot_cover_writes_nothing_and_says_why(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, TWENTY)
    # Apply lists once before planning: 8 calls are left when it decides.
    env.set_quota(1000, 1000 - 9)
    result = cli.run("apply", "-f", str(config), "--yes", status=1)
    err = result.err
    assert writes(env) == {}
    assert "daily quota" in err
    assert "needs up to 21 calls" in err
    assert "8 of 1000 are left" in err
    assert "UTC" in err
    assert "Traceback" not in err


def test_an_apply_the_quota_covers_is_applied(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    config = write_config(tmp_path, env, TWENTY)
    env.set_quota(1000, 1000 - 22)
    result = cli.run("apply", "-f", str(config), "--yes", "--max-rate", "1000")
    assert writes(env) == {"POST /hooks": 20}
    assert "daily quota" not in result.err


def test_a_spent_quota_ends_a_command_at_once_naming_the_quota(env: Sandbox, cli: Cli) -> None:
    env.set_quota(100, 100)
    result = cli.run("hooks", "create", "contact.add", f"{env.receiver_url}/x", status=1)
    err = result.err
    assert result.waits == (), "a spent quota is not waited for, not even for --max-wait"
    assert "Quota Exceeded" in err
    assert "daily quota is spent" in err
    assert "--max-wait" in err
    assert len(err.strip().splitlines()) == 1
    assert env.hooks() == []


def test_plan_says_how_much_quota_is_left_only_when_little_is(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, {"managed/a": ["contact.add"]})
    env.set_quota(1000, 500)
    result = cli.run("plan", "-f", str(config))
    assert "daily quota" not in result.err
    env.set_quota(1000, 950)
    result = cli.run("plan", "-f", str(config))
    assert "of 1,000 calls left in Keap's daily quota" in result.err


def test_writes_start_at_most_max_rate_a_second(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    config = write_config(tmp_path, env, {f"managed/n{i}": ["contact.add"] for i in range(6)})
    started = time.monotonic()
    argv = ["apply", "-f", str(config), "--yes", "--parallelism", "6", "--max-rate", "5"]
    cli.run(*argv)
    # Five gaps of 1/5 s between six writes.
    assert time.monotonic() - started >= 0.95
    assert writes(env) == {"POST /hooks": 6}


def test_keaps_own_api_gets_five_writes_a_second_unless_raised() -> None:
    keap_api = Options(api_url="https://api.infusionsoft.com/crm/rest/v1")
    assert client(keap_api, None).transport._writes.interval == pytest.approx(0.2)
    raised = Options(api_url=keap_api.api_url, max_rate=50)
    assert client(raised, None).transport._writes.interval == pytest.approx(0.02)
    sandbox = Options(api_url="http://127.0.0.1:8787/crm/rest/v1")
    assert client(sandbox, None).transport._writes.interval == 0


def test_quota_headers_are_read_in_any_case() -> None:
    quota = read_quota(
        {
            "X-Keap-Product-Quota-Limit": "30000",
            "X-KEAP-PRODUCT-QUOTA-AVAILABLE": "12",
            "x-keap-product-quota-expiry-time": "1893456000000",
        }
    )
    assert quota is not None
    assert (quota.limit, quota.available, quota.low) == (30000, 12, True)
    assert f"{quota.resets_at:%Y-%m-%d %H:%M}" == "2030-01-01 00:00"
    assert read_quota({"x-keap-product-quota-limit": "nan"}) is None


def test_a_quota_spent_half_way_loses_nothing_and_a_rerun_finishes(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, TWENTY)
    env.set_quota(1000, 0)

    def spend_the_rest() -> None:
        # Another integration of the same tenant uses up the day while the apply writes.
        deadline = time.monotonic() + 30
        while len(env.hooks()) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        env.set_quota(1000, 1000)

    spender = threading.Thread(target=spend_the_rest)
    spender.start()
    try:
        result = cli.run(
            "apply",
            "-f",
            str(config),
            "--yes",
            "--max-rate",
            "20",
            "--parallelism",
            "1",
            status=None,
        )
        code = result.status
    finally:
        spender.join()
    err = result.err
    assert code == 1
    assert "daily quota is spent" in err and "Traceback" not in err
    made = len(env.hooks())
    assert 5 <= made < 20
    # The next day: a rerun creates only what is missing, and no copy of anything.
    env.set_quota(1000, 0)
    cli.run("apply", "-f", str(config), "--yes", "--max-rate", "1000")
    pairs = [h.pair for h in env.hooks()]
    assert len(pairs) == 20 == len(set(pairs))
