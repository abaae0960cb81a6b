"""Issue 13's items 5, 6 and 9 (the safety brake), black box through the CLI: a wildcard that
used to backtrack for ever, a url prefix that owned other hosts, and a brake that let updates
and deletes through in two halves or stopped the clean-up of duplicate copies."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import Cli
from helpers.work import counted

from hookctl.sandbox import Sandbox


def test_a_wildcard_of_fifty_stars_is_judged_at_once(tmp_path: Path, cli: Cli) -> None:
    def hooks_file(stars: int) -> str:
        path = tmp_path / f"hooks-{stars}.yaml"
        path.write_text(
            "version: 1\nhooks:\n  - name: a\n    url: https://hooks.example.com/a\n"
            f'    events: ["{"*" * stars}x"]\n'
        )
        return str(path)

    cli.run("validate", "--offline", "-f", hooks_file(1), status=1)  # imports done once
    calls: dict[int, int] = {}
    for stars in (1, 50):
        with counted() as steps:
            result = cli.run("validate", "--offline", "-f", hooks_file(stars), status=1)
        calls[stars] = steps.calls
    # Counted in calls, not seconds: a backtracking matcher's work would grow exponentially
    # with the stars; fifty of them cost about what one does (28,000 calls against 21,000).
    assert calls[50] < 2 * calls[1], calls
    [line] = result.err.splitlines()
    assert line.endswith("matches no Keap event type")


def test_a_prefix_without_a_path_owns_its_host_and_no_other(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    env.seed(
        [
            ("contact.add", "https://hooks.example.community/x", "Verified"),
            ("contact.add", "https://hooks.example.com.partner.net/x", "Verified"),
            ("order.add", "https://hooks.example.com/old", "Verified"),
        ]
    )
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "version: 1\n"
        "ownership:\n  url_prefixes: ['https://hooks.example.com']\n"
        "hooks:\n  - name: a\n    url: https://hooks.example.com/a\n    events: [order.add]\n"
    )
    result = cli.run("plan", "-f", str(path), "--format", "json")
    out, err = result.out, result.err
    # validate's warning: a prefix with no path owns every url on its host.
    assert "WARNING" in err and "ownership.url_prefixes[0]" in err
    plan = json.loads(out)
    assert plan["summary"]["unmanaged"] == 2  # the lookalike hosts are left alone
    assert [c["action"] for c in plan["changes"]] == ["update"]  # the owned one is reused


def _managed(env: Sandbox, count: int) -> list[str]:
    base = env.receiver_url
    hooks = env.seed([("contact.add", f"{base}/managed/h{i}", "Verified") for i in range(count)])
    return [hook.hook_url for hook in hooks]


def _config(tmp_path: Path, env: Sandbox, urls: list[str]) -> Path:
    path = tmp_path / "hooks.yaml"
    entries = "".join(
        f"  - name: h{i}\n    url: {url}\n    events: [contact.add]\n" for i, url in enumerate(urls)
    )
    path.write_text(
        f"version: 1\nownership:\n  url_prefixes: ['{env.receiver_url}/managed/']\n"
        f"hooks:\n{entries}"
    )
    return path


def test_three_updates_and_three_deletes_of_twelve_are_refused_together(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    urls = _managed(env, 12)
    base = env.receiver_url
    # 3 moved (updates), 3 dropped (deletes), 6 kept: 25% each, 50% together.
    wanted = urls[:6] + [f"{base}/managed/moved{i}" for i in range(3)]
    config = _config(tmp_path, env, wanted)
    result = cli.run("apply", "-f", str(config), "--auto-approve", status=1)
    err = result.err
    assert "update or delete 6 of 12 managed subscriptions (50%, limit 30%)" in err
    assert sorted(h.hook_url for h in env.hooks()) == sorted(urls)  # nothing was written
    cli.run("apply", "-f", str(config), "--auto-approve", "--force")


def test_copies_left_by_racing_applies_are_deleted_without_force(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    urls = _managed(env, 12)
    env.seed([("contact.add", url, "Verified") for url in urls] * 2)  # 24 extra copies
    config = _config(tmp_path, env, urls)
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert sorted(h.hook_url for h in env.hooks()) == sorted(urls)
