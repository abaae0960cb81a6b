"""apply end to end: the CLI in-process against a live sandbox (conftest's env and config)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import (
    CLOSED_PORT,
    MANY,
    Cli,
    Terminal,
    Tty,
    seed_every_kind_of_change,
    seed_managed,
    write_config,
    writes,
)

from hookctl.sandbox import Faults, Sandbox

# -- writes: one call per change, in order; nothing twice, nothing unmanaged --------------------


def test_apply_creates_and_then_the_plan_is_empty_and_a_rerun_writes_nothing(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    pairs = sorted((h.event_key, h.hook_url.rsplit("/", 1)[1], h.status) for h in env.hooks())
    assert pairs == [
        ("contact.add", "contacts", "Verified"),
        ("contact.edit", "contacts", "Verified"),
        ("order.add", "orders", "Verified"),
    ]
    env.reset_stats()
    cli.run("plan", "-f", str(config), "--detailed-exitcode")
    result = cli.run("apply", "-f", str(config), "--auto-approve")
    assert "No changes" in result.out
    assert writes(env) == {}
    assert env.stats()["calls"] == {"GET /hooks": 2}


def test_apply_of_n_creates_lists_once_before_posts_n_and_lists_once_after(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 3}


def test_apply_creates_before_it_deletes_with_one_call_per_change(
    env: Sandbox, tmp_path: Path, cli: Cli, api_key: str
) -> None:
    env.seed([("contact.delete", f"{env.receiver_url}/managed/old", "Verified")])
    config = write_config(tmp_path, env, {"managed/new": ["contact.add"]})
    env.reset_stats()
    result = cli.run("apply", "-f", str(config), "--auto-approve", "-v")
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 1, "DELETE /hooks/{key}": 1}
    [new] = env.hooks()
    assert new.pair == ("contact.add", f"{env.receiver_url}/managed/new")
    out, err = result.out, result.err
    # The report lists outcomes in the order they ran.
    assert out.index("done       create") < out.index("done       delete"), out
    assert api_key not in out + err


def test_a_moved_receiver_is_one_update_that_keeps_the_key(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    [old] = env.seed([("contact.add", f"{env.receiver_url}/managed/old", "Verified")])
    config = write_config(tmp_path, env, {"managed/new": ["contact.add"]})
    env.reset_stats()
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["calls"] == {"GET /hooks": 2, "PUT /hooks/{key}": 1}
    [moved] = env.hooks()
    assert moved.key == old.key and moved.hook_url.endswith("/managed/new")
    assert moved.status == "Verified"


def test_apply_runs_creates_and_updates_then_verifies_then_deletes_one_call_each(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    keys = seed_every_kind_of_change(env)
    env.reset_stats()
    result = cli.run("apply", "-f", str(config), "--auto-approve", "--format", "json")
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 1,
    }
    report = json.loads(result.out)
    assert [(o["action"], o["key"], o["result"]) for o in report["outcomes"]] == [
        ("create", None, "done"),
        ("update", keys["update"], "done"),
        ("verify", keys["verify"], "done"),
        ("delete", keys["delete"], "done"),
    ]
    assert report["ok"] and report["converged"]
    live = {h.key: h for h in env.hooks()}
    assert keys["delete"] not in live
    assert live[keys["update"]].hook_url.endswith("/managed/contacts")  # PUT kept the key
    assert all(h.status == "Verified" for h in live.values())


def test_apply_deletes_duplicates_keeping_the_verified_copy_then_the_oldest(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    contacts = f"{env.receiver_url}/managed/contacts"
    orders = f"{env.receiver_url}/managed/orders"
    seeded = env.seed(
        [
            ("contact.add", contacts, "Unverified"),
            ("contact.add", contacts, "Verified"),  # kept: the oldest Verified copy
            ("contact.add", contacts, "Verified"),
            ("order.add", orders, "Inactive"),  # kept: none is Verified, so the oldest
            ("order.add", orders, "Unverified"),
        ]
    )
    env.reset_stats()
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 1,  # contact.edit
        "POST /hooks/{key}/verify": 1,
        "DELETE /hooks/{key}": 3,
    }
    kept = {h.key for h in env.hooks()}
    assert {seeded[1].key, seeded[3].key} <= kept
    assert kept.isdisjoint({seeded[0].key, seeded[2].key, seeded[4].key})
    assert len(env.hooks()) == 3


def test_apply_reactivates_an_inactive_hook_with_one_verify_call(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    inactive = env.set_status(env.hooks()[0].key, "Inactive")
    env.reset_stats()
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks/{key}/verify": 1}
    assert {h.key: h.status for h in env.hooks()}[inactive.key] == "Verified"


def test_an_inactive_hook_whose_event_changed_is_updated_and_reactivated_in_one_apply(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    # A PUT that keeps the url runs no handshake, so the update alone would leave it Inactive.
    [hook] = env.seed([("contact.delete", f"{env.receiver_url}/managed/orders", "Inactive")])
    env.reset_stats()
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["calls"] == {
        "GET /hooks": 2,
        "POST /hooks": 2,
        "PUT /hooks/{key}": 1,
        "POST /hooks/{key}/verify": 1,
    }
    assert {h.key: (h.event_key, h.status) for h in env.hooks()}[hook.key] == (
        "order.add",
        "Verified",
    )


def test_an_unmanaged_hook_on_another_host_is_left_exactly_as_it_was(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    [zapier] = env.seed([("contact.add", "https://hooks.zapier.com/x", "Verified")])
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert [h for h in env.hooks() if h.key == zapier.key] == [zapier]
    assert len(env.hooks()) == 4


# -- output: the report on stdout, previews and progress on stderr ------------------------------


def test_apply_json_stdout_is_the_report_alone(config: Path, cli: Cli) -> None:
    result = cli.run("apply", "-f", str(config), "--auto-approve", "--format", "json")
    captured = result
    report = json.loads(captured.out)
    assert report["ok"] is True and report["remaining"]["changes"] == []
    assert sorted(o["result"] for o in report["outcomes"]) == ["done"] * 3
    assert "contact.add" in captured.err  # the preview moved to stderr


def test_apply_json_with_nothing_to_change_is_still_json(config: Path, cli: Cli) -> None:
    cli.run("apply", "-f", str(config), "--auto-approve")
    result = cli.run("apply", "-f", str(config), "--auto-approve", "--format", "json")
    assert json.loads(result.out)["outcomes"] == []


def test_apply_json_previews_on_stderr_coloured_for_stderr_not_stdout(
    config: Path, tty: Tty, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = tty("sys.stderr")
    result = cli.run("apply", "-f", str(config), "--dry-run", "--format", "json")
    assert json.loads(result.out)["dry_run"] is True
    assert "\033[32m+ create" in terminal.getvalue()


def test_apply_shows_progress_on_stderr_a_line_per_change_or_one_updating_line(
    env: Sandbox, config: Path, tty: Tty, cli: Cli
) -> None:
    result = cli.run("apply", "-f", str(config), "--auto-approve", "--format", "json")
    # Without a terminal (CI): one line per finished change, with the counter, no \r.
    err = result.err
    assert [line for line in err.splitlines() if line.startswith("[")] == [
        "[1/3] create managed-contacts contact.add: done",
        "[2/3] create managed-contacts contact.edit: done",
        "[3/3] create managed-orders order.add: done",
    ]
    assert "\r" not in err
    for hook in env.hooks():
        env.set_status(hook.key, "Inactive")
    terminal = tty("sys.stderr")
    cli.run("apply", "-f", str(config), "--auto-approve", "--format", "json")
    # On a terminal: one line, rewritten, ended once.
    shown = terminal.getvalue()
    assert shown.count("\r[") == 3 and shown.endswith("\n") and shown.count("\n[") == 0
    assert "\r[3/3] verify " in shown


# -- dry run and confirmation -------------------------------------------------------------------


def test_dry_run_writes_nothing(env: Sandbox, config: Path, cli: Cli) -> None:
    result = cli.run("apply", "-f", str(config), "--dry-run")
    assert "contact.{add,edit}" in result.out
    assert writes(env) == {}
    assert env.hooks() == []


def test_a_dry_run_of_every_kind_of_change_sends_no_write(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    seed_every_kind_of_change(env)
    before = env.hooks()
    env.reset_stats()
    result = cli.run("apply", "-f", str(config), "--dry-run", "--format", "json")
    report = json.loads(result.out)
    assert report["dry_run"] is True
    assert [o["result"] for o in report["outcomes"]] == ["planned"] * 4
    assert env.stats()["calls"] == {"GET /hooks": 1}
    assert env.hooks() == before


def test_apply_on_a_terminal_asks_and_goes_on_only_after_yes(
    env: Sandbox, config: Path, tty: Tty, cli: Cli
) -> None:
    tty("sys.stdin", "y\n")
    result = cli.run("apply", "-f", str(config), status=1)
    assert "Cancelled" in result.err
    assert writes(env) == {}
    tty("sys.stdin", "yes\n")
    result = cli.run("apply", "-f", str(config))
    assert "Only 'yes' is accepted" in result.err
    assert writes(env) == {"POST /hooks": 3}


def test_apply_without_a_terminal_or_auto_approve_refuses_and_writes_nothing(
    env: Sandbox,
    config: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    result = cli.run("apply", "-f", str(config), status=1)
    assert "--auto-approve" in result.err
    assert writes(env) == {}
    assert env.hooks() == []


def test_apply_in_a_process_without_a_terminal_refuses_and_writes_nothing(
    env: Sandbox, config: Path, api_key: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hookctl", "apply", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KEAP_API_URL": env.api_url, "KEAP_API_KEY": api_key},
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "hookctl: error: refusing to go on without confirmation: there is no terminal to ask "
        "on (review first, then add --auto-approve)"
    )
    assert "Traceback" not in done.stderr and api_key not in done.stdout + done.stderr
    assert env.stats()["calls"] == {"GET /hooks": 1}


# -- safety: mass deletes need --force, an empty hooks.yaml --allow-empty -----------------------


def test_deleting_most_managed_hooks_needs_force(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    seed_managed(env, 12)
    config = write_config(
        tmp_path, env, {"managed/n0": ["contact.add"], "managed/n1": ["contact.add"]}
    )
    env.reset_stats()
    result = cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    assert "--force" in result.err
    assert writes(env) == {}
    assert len(env.hooks()) == 12
    cli.run("apply", "-f", str(config), "--auto-approve", "--force")
    assert sorted(h.hook_url.rsplit("/", 1)[1] for h in env.hooks()) == ["n0", "n1"]


def test_an_empty_hooks_yaml_deletes_nothing_without_allow_empty(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    seed_managed(env, 3)
    config = write_config(tmp_path, env, {})
    env.reset_stats()
    result = cli.run("apply", "-f", str(config), "--auto-approve", "--force", status=1)
    assert "--allow-empty" in result.err
    assert writes(env) == {}
    assert len(env.hooks()) == 3
    cli.run("apply", "-f", str(config), "--auto-approve", "--allow-empty")
    assert env.hooks() == []


def test_safety_thresholds_come_from_hooks_yaml(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    seed_managed(env, 4)
    strict = "safety:\n  min_existing: 2\n  max_delete_ratio: 0.2"
    config = write_config(tmp_path, env, {"managed/n0": ["contact.add"]}, extra=strict)
    result = cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    assert "delete 3 of 4 managed subscriptions (75%, limit 20%)" in result.err
    assert writes(env) == {}


# -- failures: Keap errors, lost answers, Ctrl-C, a failed handshake ----------------------------


def test_a_first_list_answered_500_exits_1_with_one_line_and_writes_nothing(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=1.0))
    result = cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    out, err = result.out, result.err
    assert out == "" and err == "hookctl: error: GET /hooks -> HTTP 500: Internal Server Error\n"
    assert env.stats()["calls"] == {"GET /hooks": 1}  # Keap's own 500 is not retried
    env.set_faults(Faults())
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert len(env.hooks()) == 12


def test_creates_whose_answers_are_lost_are_not_made_twice(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(drop_after_create=3))
    cli.run("apply", "-f", str(config), "--auto-approve")
    pairs = [(h.event_key, h.hook_url) for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12
    assert env.stats()["calls"]["POST /hooks"] == 12


def test_gateway_502_pages_are_retried_and_the_apply_converges(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    env.set_faults(Faults(html_error_rate=0.3, seed=3))
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert env.stats()["responses"].get("502", 0) > 0, "the faults should have hit"
    env.set_faults(Faults())
    cli.run("plan", "-f", str(config), "--detailed-exitcode")
    assert len(env.hooks()) == 3


def test_a_partial_failure_reports_every_change_and_a_rerun_writes_only_what_failed(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    # Seeded faults with one worker repeat exactly: with seed 2 both lists go through and
    # 4 of the 12 creates are answered 500 (each then listed once to rule out a landed create).
    config = write_config(tmp_path, env, MANY)
    env.set_faults(Faults(error_rate=0.5, seed=2))
    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    result = cli.run(*argv, "--format", "json", status=1)
    report = json.loads(result.out)
    outcomes = report["outcomes"]
    assert len(outcomes) == 12 and {o["action"] for o in outcomes} == {"create"}
    failed = [o for o in outcomes if o["result"] == "failed"]
    assert report["counts"] == {"done": 12 - len(failed), "failed": len(failed)}
    assert failed and all("HTTP 500" in o["detail"] for o in failed)
    assert report["ok"] is False and report["remaining"]["summary"]["create"] == len(failed)
    assert len(env.hooks()) == 12 - len(failed)

    env.set_faults(Faults())
    env.reset_stats()
    cli.run(*argv)
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": len(failed)}
    pairs = [h.pair for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12
    assert all(h.status == "Verified" for h in env.hooks())


def test_an_interrupted_apply_sends_no_queued_write_and_a_rerun_finishes_it(
    env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    def interrupt(outcome: object) -> None:
        raise KeyboardInterrupt

    config = write_config(tmp_path, env, MANY)
    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    with monkeypatch.context() as patch:
        patch.setattr("sys.stderr", Terminal())  # progress is shown, and Ctrl-C comes in
        patch.setattr("hookctl.cli.commands._progress", lambda label, show: interrupt)
        cli.run(*argv, status=130)
    # The create reported when Ctrl-C came, and the one the worker had picked up next (with
    # one to spare for a slow machine); none of the 12 still queued is sent.
    assert 1 <= env.stats()["calls"]["POST /hooks"] <= 3, env.stats()
    cli.run(*argv)
    pairs = [h.pair for h in env.hooks()]
    assert len(pairs) == len(set(pairs)) == 12


def test_a_receiver_that_fails_the_handshake_makes_apply_exit_1_and_says_so(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = write_config(tmp_path, env, {"fail/managed": ["contact.add"]})
    result = cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    out = result.out
    [line] = [line for line in out.splitlines() if line.startswith("unverified")]
    assert "create" in line and "did not answer Keap's X-Hook-Secret handshake" in line
    assert "1 hook not Verified" in out.splitlines()[-1]
    [hook] = env.hooks()
    assert hook.status == "Unverified"
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks": 1}
    # A rerun tries the handshake again (one verify), and still says so; it creates nothing.
    env.reset_stats()
    cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    assert env.stats()["calls"] == {"GET /hooks": 2, "POST /hooks/{key}/verify": 1}
    assert env.hooks() == [hook]


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_the_api_key_never_shows_in_plan_apply_or_drift_output_even_at_debug_level(
    env: Sandbox,
    config: Path,
    tmp_path: Path,
    api_key: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_every_kind_of_change(env)
    planfile = tmp_path / "plan.json"
    fail = write_config(tmp_path, env, {"fail/x": ["contact.add"]}, name="fail.yaml")
    seen = []

    def run(*argv: str) -> int:
        result = cli.run("-vv", *argv, status=None)
        seen.append(result.shown)
        return result.status

    assert run("validate", "-f", str(config)) == 0
    assert run("plan", "-f", str(config), "--out", str(planfile), "--format", "json") == 0
    assert run("apply", str(planfile), "--dry-run") == 0
    assert run("apply", "-f", str(config)) == 1  # no terminal to ask on
    env.set_faults(Faults(error_rate=0.5, seed=2))
    assert run("apply", "-f", str(config), "--auto-approve", "--parallelism", "1") == 1
    assert "HTTP 500" in seen[-1]  # a change failed, and its error was shown
    env.set_faults(Faults())
    assert run("apply", str(planfile), "--auto-approve") == 1  # stale now
    assert run("apply", "-f", str(config), "--auto-approve", "--format", "markdown") == 0
    assert run("apply", "-f", str(fail), "--auto-approve", "--allow-empty", "--force") == 1
    assert run("drift", "-f", str(config), "--format", "json") == 2
    monkeypatch.setenv("KEAP_API_KEY", api_key + "-rotated")
    assert run("drift", "-f", str(config)) == 1
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    assert run("plan", "-f", str(config)) == 1

    everything = "\n".join(seen) + planfile.read_text()
    assert "hookctl: DEBUG: GET /hooks -> 200" in everything  # -vv did log the calls
    assert api_key not in everything
