"""Saved plans edited by someone who knows the format (issue 13, items 1 and 9): the CLI
in-process against a live sandbox.

The attacker edits plan.json between `plan --out` and `apply` (a CI artifact passes through
hands) and recomputes its checksum, which is a plain sha256 anyone can compute. Whatever they
write, apply carries out only the plan it makes again from hooks.yaml, the environment and the
account, and only when the file lists exactly that plan's changes: each edit is refused in one
line before any write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli, seed_managed, writes

from hookctl.sandbox import Sandbox

ZAPIER = "https://hooks.zapier.com/hooks/catch/1/abc"


def hooks_yaml(tmp_path: Path, sandbox: Sandbox, *, token: bool = False) -> Path:
    """Two entries under the receiver's managed/ prefix, hooks.zapier.com ignored; with
    `token`, the contacts url carries ?token=${HOOK_TOKEN}, as receivers commonly ask."""
    base = sandbox.receiver_url
    query = "?token=${HOOK_TOKEN}" if token else ""
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY\n"
        "ownership:\n"
        f"  url_prefixes: ['{base}/managed/']\n"
        "  ignore: ['https://hooks.zapier.com/*']\n"
        "hooks:\n"
        f"  - name: contacts\n    url: {base}/managed/contacts{query}\n"
        "    events: [contact.add, contact.edit]\n"
        f"  - name: orders\n    url: {base}/managed/orders\n    events: [order.add]\n"
    )
    return config


def save_plan(cli: Cli, config: Path, *flags: str) -> Path:
    planfile = config.parent / "plan.json"
    cli.run("plan", "-f", str(config), "--out", str(planfile), *flags)
    return planfile


def tamper(planfile: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the plan, then seal it again as anyone can: the checksum is sha256 over the
    canonical JSON of the rest."""
    document = json.loads(planfile.read_text())
    edit(document)
    document.pop("checksum")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")
    document["checksum"] = "sha256:" + hashlib.sha256(canonical).hexdigest()
    planfile.write_text(json.dumps(document, indent=2))


def refused_in_one_line(env: Sandbox, cli: Cli, *args: str, expect: str) -> str:
    """Run `hookctl apply ARGS --auto-approve`: exit 1, one line on stderr holding `expect`,
    and not one write to Keap."""
    before = env.hooks()
    env.reset_stats()
    err = cli.run("apply", *args, "--auto-approve", status=1).err
    assert err.startswith("hookctl: error: ") and err.count("\n") == 1, err
    assert expect in err, err
    assert writes(env) == {}
    assert env.hooks() == before
    return err


@pytest.fixture
def outsiders(env: Sandbox) -> list[tuple[str, str, str]]:
    """Two subscriptions hookctl must never touch: one of Zapier's (ignored), and one outside
    the managed prefix."""
    return [
        ("contact.add", ZAPIER, "Verified"),
        ("order.add", f"{env.receiver_url}/partner/orders", "Verified"),
    ]


def test_deletes_of_unmanaged_and_ignored_hooks_added_to_a_plan_are_refused(
    env: Sandbox,
    tmp_path: Path,
    outsiders: list[tuple[str, str, str]],
    cli: Cli,
) -> None:
    keys = [hook.key for hook in env.seed(outsiders)]
    config = hooks_yaml(tmp_path, env)
    planfile = save_plan(cli, config)

    def delete_the_outsiders(document: dict[str, Any]) -> None:
        # Moved from `unmanaged` into `changes` as deletes, with a summary that adds up.
        for hook in document.pop("unmanaged"):
            document["changes"].append(
                {"action": "delete", "name": None, **hook, "reason": "not declared"}
            )
        document["unmanaged"] = []
        document["summary"].update(delete=len(keys), unmanaged=0)

    tamper(planfile, delete_the_outsiders)
    err = refused_in_one_line(
        env,
        cli,
        str(planfile),
        "-f",
        str(config),
        expect="the plan file lists a change the current plan does not: "
        f"delete #{keys[0]} contact.add {ZAPIER}",
    )
    assert "nothing was applied" in err
    assert sorted(hook.key for hook in env.hooks()) == sorted(keys)


def test_a_safety_threshold_raised_in_the_plan_file_is_not_obeyed(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    seed_managed(env, 12)  # 12 managed, none declared: one moves, 11 go
    config = hooks_yaml(tmp_path, env)
    planfile = save_plan(cli, config, "--force")  # seen and saved; applying it still needs --force

    def allow_everything(document: dict[str, Any]) -> None:
        document["safety"].update(max_delete_ratio=1.0, max_update_ratio=1.0, min_existing=100)

    tamper(planfile, allow_everything)
    refused_in_one_line(
        env,
        cli,
        str(planfile),
        expect="refusing a plan that would delete 11 of 12 managed subscriptions (92%, limit 30%)",
    )
    # The thresholds are hooks.yaml's and the flags': the person running apply can still force.
    cli.run("apply", str(planfile), "--auto-approve", "--force")
    assert len(env.hooks()) == 3


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda d: d["changes"][0].update(hook_url="https://evil.example.com/steal"),
            id="create-url",
        ),
        pytest.param(
            lambda d: d["changes"][0].update(event_key="contact.delete"),
            id="create-event",
        ),
    ],
)
def test_a_url_or_event_changed_in_the_plan_file_is_refused(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    edit: Callable[[dict[str, Any]], None],
) -> None:
    config = hooks_yaml(tmp_path, env)
    planfile = save_plan(cli, config)
    tamper(planfile, edit)
    refused_in_one_line(
        env,
        cli,
        str(planfile),
        "-f",
        str(config),
        expect="the plan file lists a change the current plan does not: create ",
    )
    assert env.hooks() == []


def test_a_token_changed_in_the_environment_makes_the_plan_stale(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = hooks_yaml(tmp_path, env, token=True)
    monkeypatch.setenv("HOOK_TOKEN", "tok-OLD-41c9")
    planfile = save_plan(cli, config)
    monkeypatch.setenv("HOOK_TOKEN", "tok-NEW-7e02")
    err = refused_in_one_line(
        env,
        cli,
        str(planfile),
        "-f",
        str(config),
        expect=f"stale plan: {config} or its environment changed since it was made",
    )
    assert "tok-OLD" not in err and "tok-NEW" not in err
    # Only a hash of the interpolated state is stored, never the values it was made from.
    assert json.loads(planfile.read_text())["config_digest"].startswith("hmac-sha256:")


def test_an_untouched_plan_still_applies_with_the_real_urls(
    env: Sandbox,
    tmp_path: Path,
    outsiders: list[tuple[str, str, str]],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    kept = env.seed(outsiders)
    config = hooks_yaml(tmp_path, env, token=True)
    monkeypatch.setenv("HOOK_TOKEN", "tok-5d1b9e")
    planfile = save_plan(cli, config)
    env.reset_stats()
    cli.run("apply", str(planfile), "--auto-approve")
    assert writes(env) == {"POST /hooks": 3}
    urls = {hook.hook_url for hook in env.hooks()}
    # Created from hooks.yaml and the environment (the plan file's urls may be masked).
    assert f"{env.receiver_url}/managed/contacts?token=tok-5d1b9e" in urls
    assert all(hook in env.hooks() for hook in kept)
    cli.run("plan", "-f", str(config), "--detailed-exitcode")


def test_a_plan_whose_account_changed_meanwhile_is_refused_as_stale(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = hooks_yaml(tmp_path, env)
    planfile = save_plan(cli, config)
    # Someone else's subscription: the plan made again has the very same changes, but the
    # account is not the one that was reviewed.
    [added] = env.seed([("note.add", f"{env.receiver_url}/partner/notes", "Verified")])
    refused_in_one_line(
        env,
        cli,
        str(planfile),
        expect=f"stale plan: the live subscriptions changed since it was made (new: {added.key})",
    )
