"""Plans a reviewer can read and approve (issue 15): a saved plan is the approval, text grouped
by entry, PR-sized markdown that carries a refusal, --target, progress, Ctrl-C and --color.
Black box through the CLI against the sandbox."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from helpers.cli import CLOSED_PORT, MANY, Cli, Tty, seed_managed, write_config, writes

from hookctl.cli import commands
from hookctl.cli.output import Progress, color
from hookctl.sandbox import Sandbox, SandboxSettings

# -- 1. a saved plan is the approval; --yes and --auto-approve wherever either is ----------------


def test_a_saved_plan_applies_with_no_terminal_and_no_flag(
    env: Sandbox, config: Path, tmp_path: Path, api_key: str, cli: Cli
) -> None:
    saved = tmp_path / "plan.json"
    cli.run("plan", "-f", str(config), "--out", str(saved))
    done = subprocess.run(
        [sys.executable, "-m", "hookctl", "apply", str(saved)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KEAP_API_URL": env.api_url, "KEAP_API_KEY": api_key},
    )
    assert done.returncode == 0, done.stderr
    assert "confirmation" not in done.stderr
    assert writes(env) == {"POST /hooks": 3}


def test_a_stale_saved_plan_is_still_refused_without_a_prompt(
    env: Sandbox, config: Path, tmp_path: Path, cli: Cli
) -> None:
    saved = tmp_path / "plan.json"
    cli.run("plan", "-f", str(config), "--out", str(saved))
    seed_managed(env, 1)
    env.reset_stats()
    assert "stale plan" in cli.run("apply", str(saved), status=1).err
    assert writes(env) == {}


def test_apply_takes_yes_and_hooks_delete_takes_auto_approve(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    cli.run("apply", "-f", str(config), "--yes")
    assert len(env.hooks()) == 3
    key = env.hooks()[0].key
    cli.run("hooks", "delete", key, "--auto-approve")
    cli.run("hooks", "delete", env.hooks()[0].key, "--yes")
    assert len(env.hooks()) == 1


# -- 2. text grouped by entry ---------------------------------------------------------------------


def three_hundred(env: Sandbox, tmp_path: Path, api_key: str) -> Path:
    """300 changes in 3 entries: 48 creates (svc-0), 48 updates of a moved receiver (svc-1)
    and 204 deletes of extra copies (svc-2)."""
    base = f"{env.receiver_url}/managed"
    answer = requests.get(
        f"{env.api_url}/hooks/event_keys", headers={"X-Keap-API-Key": api_key}, timeout=10
    )
    keys: list[str] = answer.json()
    assert len(keys) == 48
    config = write_config(
        tmp_path,
        env,
        {f"managed/svc-{i}": ["'**'"] for i in range(3)},
        extra="safety:\n  max_update_ratio: 1.0\n  max_delete_ratio: 1.0",
    )
    seeded = [(event, f"{base}/old-1", "Verified") for event in keys]
    for n, event in enumerate(keys):
        copies = 6 if n < 12 else 5  # 12 x 5 + 36 x 4 = 204 deletes
        seeded += [(event, f"{base}/svc-2", "Verified")] * copies
    env.seed(seeded)
    return config


def test_grouped_text_of_300_changes_in_3_entries_fits_in_20_lines(
    env: Sandbox, tmp_path: Path, api_key: str, cli: Cli
) -> None:
    config = three_hundred(env, tmp_path, api_key)
    result = cli.run("plan", "-f", str(config))
    lines = result.out.splitlines()
    assert len(lines) <= 20, "\n".join(lines)
    assert lines[-1] == "48 to create, 48 to update, 204 to delete; 48 unchanged, 0 unmanaged"
    headers = sorted(line.split(": ", 1)[1] for line in lines if line.startswith("managed-svc"))
    assert headers == ["204 to delete", "48 to create", "48 to update"]
    [moved] = [line for line in lines if "48 \u00d7 hook_url" in line]
    assert "/managed/old-1 → " in moved
    # -v and json: one line / one object per subscription; the same closing line.
    result = cli.run("plan", "-f", str(config), "-v")
    verbose = result.out.splitlines()
    assert len(verbose) > 600 and verbose[-1] == lines[-1]
    result = cli.run("plan", "-f", str(config), "--format", "json")
    assert len(json.loads(result.out)["changes"]) == 300


# -- 3. markdown for pull requests ----------------------------------------------------------------


def test_markdown_of_1200_changes_fits_a_comment_and_names_every_entry(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    # 25 entries of 48 events: 1,200 creates, each row about 200 characters when one by one.
    hooks = {f"managed/{'long-receiver-path-' * 3}{i}": ["'**'"] for i in range(25)}
    config = write_config(tmp_path, env, hooks)
    result = cli.run("plan", "-f", str(config), "--format", "markdown")
    markdown = result.out
    assert len(markdown) <= 65_536
    assert "**1200 to create; 0 unchanged, 0 unmanaged**" in markdown
    for i in range(25):
        name = f"managed-{'long-receiver-path-' * 3}{i}"
        assert f"| {name} | 48 | 0 | 0 | 0 |" in markdown
    assert markdown.count("<details>") >= 25


def test_markdown_of_one_huge_entry_keeps_to_its_rows_and_points_to_the_json(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = f"{env.receiver_url}/managed"
    # 1,300 deletes, each of its own url: nothing folds.
    env.seed([("note.add", f"{base}/gone-{'x' * 60}-{i}", "Verified") for i in range(1300)])
    config = write_config(tmp_path, env, {"managed/keep": ["contact.add"]})
    result = cli.run("plan", "-f", str(config), "--format", "markdown", "--force")
    markdown = result.out
    assert len(markdown) <= 65_536
    assert "| (not declared) | 0 | 0 | 0 | 1300 |" in markdown
    assert "| managed-keep | 1 | 0 | 0 | 0 |" in markdown
    assert "… and 1200 more (see `--format json` for all of them)" in markdown


def test_a_refused_plan_prints_its_markdown_with_the_refusal_and_exits_1(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    seed_managed(env, 12)
    config = write_config(tmp_path, env, {"managed/new": ["contact.add"]})
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = cli.run("plan", "-f", str(config), "--format", "markdown", status=1)
    out, err = result.out, result.err
    head, rest = out.split("| entry |", 1)
    assert "Refused" in head and "of 12 managed subscriptions" in head
    assert "use --force to apply it anyway" in head
    assert "<b>(not declared)</b>: 11 to delete" in rest  # the plan itself follows
    assert "refusing" in err
    assert "Refused" in summary.read_text()


def test_one_accounts_failure_shows_in_its_markdown_section(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
    cli: Cli,
) -> None:
    monkeypatch.delenv("KEAP_API_URL")  # it would override each account's api_url
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\naccounts:\n"
        f"  good:\n    api_url: {env.api_url}\n    credentials: {{api_key_env: KEAP_API_KEY}}\n"
        f"  broken:\n    api_url: {CLOSED_PORT}\n    credentials: {{api_key_env: KEAP_API_KEY}}\n"
        f"hooks:\n  - name: a\n    url: {env.receiver_url}/managed/a\n    events: [contact.add]\n"
    )
    result = cli.run("plan", "-f", str(path), "--format", "markdown", status=1)
    out = result.out
    broken = out.split("\n## broken", 1)[1].split("\n## ", 1)[0]
    assert "Failed" in broken
    good = out.split("\n## good", 1)[1].split("\n## ", 1)[0]
    assert "1 to create" in good


# -- 4. --target -----------------------------------------------------------------------------------


def test_target_plans_and_applies_one_entry_only_and_leaves_undeclared_deletes_out(
    env: Sandbox, config: Path, tmp_path: Path, cli: Cli
) -> None:
    env.seed([("note.add", f"{env.receiver_url}/managed/stale", "Verified")])
    result = cli.run("plan", "-f", str(config), "--target", "*-orders", "--format", "json")
    document = json.loads(result.out)
    assert [(c["action"], c["name"]) for c in document["changes"]] == [("create", "managed-orders")]
    assert document["targets"] == ["*-orders"] and len(document["untargeted"]) == 1
    saved = tmp_path / "plan.json"
    cli.run("plan", "-f", str(config), "--target", "*-orders", "--out", str(saved))
    assert json.loads(saved.read_text())["targets"] == ["*-orders"]
    env.reset_stats()
    cli.run("apply", str(saved))
    assert writes(env) == {"POST /hooks": 1}
    assert {h.hook_url.rsplit("/", 1)[1] for h in env.hooks()} == {"orders", "stale"}
    # The saved plan decides its targets; drift can be limited the same way.
    cli.run("apply", str(saved), "--target", "other", status=1)
    cli.run("drift", "-f", str(config), "--target", "managed-orders")
    cli.run("drift", "-f", str(config), "--target", "managed-contacts", status=2)


def test_target_counts_safety_on_what_is_targeted(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    # 10 hooks of one entry, 4 of them to move: 40% of what is targeted (limit 30%).
    base = f"{env.receiver_url}/managed"
    hooks = {f"managed/big{i}": ["contact.add"] for i in range(6)}
    hooks |= {f"managed/moved{i}": ["contact.edit"] for i in range(4)}
    config = write_config(tmp_path, env, {**hooks, **MANY})
    env.seed([("contact.add", f"{base}/big{i}", "Verified") for i in range(6)])
    env.seed([("contact.edit", f"{base}/old{i}", "Verified") for i in range(4)])
    env.seed([(e, f"{base}/r{i}", "Verified") for i in range(4) for e in MANY[f"managed/r{i}"]])
    # Over the whole file, 4 updates of 22 pass.
    cli.run("plan", "-f", str(config))
    argv = ["plan", "-f", str(config), "--target", "managed-big*", "--target", "managed-moved*"]
    assert "4 of 10 managed subscriptions" in cli.run(*argv, status=1).err


def test_a_target_that_names_no_entry_is_refused_before_any_call(
    env: Sandbox, config: Path, cli: Cli
) -> None:
    env.reset_stats()
    result = cli.run("plan", "-f", str(config), "--target", "nope*", status=1)
    assert "--target nope*: no hooks entry" in result.err
    assert env.stats()["calls"] == {}


# -- 5. progress and Ctrl-C ------------------------------------------------------------------------


def test_ctrl_c_stops_and_says_what_was_done_and_what_was_not(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    config = write_config(tmp_path, env, MANY)
    real = commands._progress

    def progress(label: str, board: Progress) -> Callable[[object], None]:
        step = real(label, board)
        reported: list[object] = []

        # Counted by the outcomes reported, not by the hooks the sandbox holds: the worker
        # may already have sent the next write while the main thread reports this one.
        def then_ctrl_c(outcome: object) -> None:
            step(outcome)
            reported.append(outcome)
            if len(reported) == 3:
                raise KeyboardInterrupt

        return then_ctrl_c

    argv = ["apply", "-f", str(config), "--auto-approve", "--parallelism", "1"]
    with monkeypatch.context() as patch:
        patch.setattr("hookctl.cli.commands._progress", progress)
        result = cli.run(*argv, status=130)
    err = result.err
    assert "hookctl: interrupted after 3 of 12 changes (3 done)" in err
    assert "not done (or not confirmed, for writes in flight): 9 changes" in err
    assert len(env.hooks()) <= 4  # within one write of Ctrl-C
    cli.run(*argv)
    assert len(env.hooks()) == 12


def test_the_result_is_printed_once_grouped(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    config = write_config(tmp_path, env, MANY)
    result = cli.run("apply", "-f", str(config), "--yes")
    out, err = result.out, result.err
    assert out.count("Applied: 12 done. The account now matches.") == 1
    assert "managed-r0: 3 done" in out
    assert sum(1 for line in err.splitlines() if line.startswith("[")) == 12


# -- 6. colour -------------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env_vars", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": ""}, True, True),  # empty is ignored (no-color.org)
        ({"NO_COLOR": "1"}, True, False),
        ({"TERM": "dumb"}, True, False),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"CLICOLOR_FORCE": "1"}, False, True),
        ({"FORCE_COLOR": "0"}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ],
)
def test_auto_colour_follows_the_environment_and_the_terminal(
    env_vars: dict[str, str], tty: bool, expected: bool
) -> None:
    stream = _Tty() if tty else io.StringIO()
    assert color(stream, env_vars) is expected


def test_the_color_flag_wins_over_the_environment(
    config: Path, tty: Tty, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    result = cli.run("plan", "-f", str(config), "--color", "always")
    assert "\033[32m" in result.out
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    terminal = tty("sys.stdout")
    cli.run("plan", "-f", str(config))
    assert "\033[" not in terminal.getvalue()
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("FORCE_COLOR", "1")
    cli.run("--color", "never", "plan", "-f", str(config))
    assert "\033[" not in terminal.getvalue()
    cli.run("plan", "-f", str(config))
    assert "\033[32m" in terminal.getvalue()


# -- the terminal: what a person sees during a 300-create apply ----------------------------------


def test_a_300_create_apply_on_a_terminal_shows_one_updating_line(
    api_key: str, tmp_path: Path
) -> None:
    import pty

    from hookctl.sandbox import Faults

    with Sandbox(
        SandboxSettings(api_key=api_key, time_scale=1e-4, faults=Faults(latency=0.005))
    ) as sandbox:
        events = ["'**'"]
        hooks = {f"managed/svc-{i}": events for i in range(6)}
        config = write_config(tmp_path, sandbox, hooks)
        text = config.read_text() + (
            f"  - name: svc-extra\n    url: {sandbox.receiver_url}/managed/extra\n"
            "    events: [contact.add, contact.edit, contact.delete, order.add, order.edit,"
            " order.delete, note.add, note.edit, note.delete, task.add, task.edit, task.delete]\n"
        )
        config.write_text(text)
        leader, follower = pty.openpty()
        child = subprocess.Popen(
            [sys.executable, "-m", "hookctl", "apply", "-f", str(config), "--yes"],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env={**os.environ, "KEAP_API_URL": sandbox.api_url, "KEAP_API_KEY": api_key},
        )
        os.close(follower)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=120) == 0
        os.close(leader)
        seen = b"".join(chunks).decode()
        assert len(sandbox.hooks()) == 300
    # The terminal shows one line rewritten after each change, then the result once.
    assert seen.count("\r[") == 300
    assert "\r[300/300] create " in seen and "\r[1/300] create " in seen
    assert " s, ~" in seen  # elapsed and estimate
    assert seen.count("Applied: 300 done. The account now matches.") == 1
    lines = seen.replace("\r\n", "\n").split("\n")
    assert len([line for line in lines if line.strip()]) < 30, seen[-3000:]
