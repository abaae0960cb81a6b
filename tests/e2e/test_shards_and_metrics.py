"""`--shard I/N` on plan, apply and drift, and `drift --metrics-file`, through the CLI against
a sandbox."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import Cli
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hookctl.sandbox import Sandbox

ACCOUNTS = [f"client-{i:02d}" for i in range(11)]


def many_accounts(
    tmp_path: Path, sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """clients/, one hooks file per account of ACCOUNTS, each with its own credentials variable
    (all the sandbox's key) and one hook of its own, as an agency would keep them."""
    clients = tmp_path / "clients"
    clients.mkdir()
    for name in ACCOUNTS:
        variable = f"KEAP_{name.upper().replace('-', '_')}"
        monkeypatch.setenv(variable, api_key)
        (clients / f"{name}.yaml").write_text(
            f"version: 1\naccount: {{credentials: {{api_key_env: {variable}}}}}\nhooks:\n"
            f"  - {{name: {name}, url: '{sandbox.receiver_url}/{name}', events: [contact.add]}}\n"
        )
    return clients


def label(clients: Path, name: str) -> str:
    # clients/<name>.yaml: among several files, each account is named by its file's stem.
    return name


def accounts_in(out: str) -> list[str]:
    """The accounts a run with --format json covered (an accounts document, whatever the
    shard holds)."""
    if not out.strip():
        return []
    document = json.loads(out)
    return [each["label"] for each in document["accounts"]]


def samples(path: Path) -> dict[str, list[Sample]]:
    families = text_string_to_metric_families(path.read_text(encoding="utf-8"))
    return {family.name: list(family.samples) for family in families}


def test_shards_cover_every_account_exactly_once_for_1_to_5(
    env: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    config = many_accounts(tmp_path, env, api_key, monkeypatch)
    for count in range(1, 6):
        seen: Counter[str] = Counter()
        for index in range(count):
            metrics = tmp_path / f"shard-{index}-{count}.prom"
            shard = ["--shard", f"{index}/{count}"]
            status = cli.run(
                "drift", "-f", str(config), *shard, "--metrics-file", str(metrics), status=None
            ).status
            assert status in (0, 2)
            exits = samples(metrics)["hookctl_drift_exit_status"]
            covered = [sample.labels["account"] for sample in exits]
            # plan covers the same accounts as drift does.
            planned = accounts_in(
                cli.run("plan", "-f", str(config), *shard, "--format", "json").out
            )
            # Any shard, of one account or several, prints the accounts document.
            assert sorted(planned) == sorted(covered)
            seen.update(covered)
        assert seen == Counter(label(config, name) for name in ACCOUNTS), f"N={count}"


def test_apply_by_shards_creates_every_accounts_hooks_once(
    env: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    config = many_accounts(tmp_path, env, api_key, monkeypatch)
    for index in range(3):
        cli.run("apply", "-f", str(config), "--shard", f"{index}/3", "--auto-approve")
    urls = sorted(hook.hook_url for hook in env.hooks())
    assert urls == sorted(f"{env.receiver_url}/{name}" for name in ACCOUNTS)


@pytest.mark.parametrize("shard", ["3/3", "-1/2", "1", "a/b", "0/0"])
def test_a_shard_out_of_range_is_a_usage_error(shard: str, config: Path, cli: Cli) -> None:
    # EX_USAGE: 2 means "changes found"
    err = cli.run("plan", "-f", str(config), f"--shard={shard}", status=64).err
    assert "argument --shard: must be I/N" in err


def test_shard_is_refused_with_a_saved_plan(
    env: Sandbox, config: Path, tmp_path: Path, cli: Cli
) -> None:
    plan = tmp_path / "plan.json"
    cli.run("plan", "-f", str(config), "--out", str(plan))
    env.reset_stats()
    assert (
        "--shard" in cli.run("apply", str(plan), "--shard", "0/2", "--auto-approve", status=1).err
    )
    assert not any(not call.startswith("GET") for call in env.stats()["calls"])


def test_metrics_per_account_parse_with_prometheus_client(
    env: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    monkeypatch.setenv("KEAP_KEY_SYNCED", api_key)
    monkeypatch.setenv("KEAP_KEY_DRIFTED", api_key)
    monkeypatch.setenv("KEAP_KEY_BROKEN", api_key)
    base = env.receiver_url
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "accounts:\n"
        "  synced: {credentials: {api_key_env: KEAP_KEY_SYNCED}}\n"
        "  drifted: {credentials: {api_key_env: KEAP_KEY_DRIFTED}}\n"
        "  broken: {credentials: {api_key_env: KEAP_KEY_BROKEN}}\n"
        f"ownership: {{url_prefixes: ['{base}/managed/']}}\n"
        "hooks:\n"
        f"  - {{name: a, url: '{base}/managed/a', events: [contact.add, contact.edit]}}\n"
    )
    # The three accounts are one sandbox: each sees one unmanaged subscription (not under the
    # prefix) and, after the apply, one managed one that is no longer declared (a delete).
    env.seed([("order.add", "https://elsewhere.example/x", "Verified")])
    cli.run("apply", "-f", str(config), "--account", "synced", "--auto-approve")
    env.seed([("note.add", f"{base}/managed/stale", "Verified")])
    monkeypatch.delenv("KEAP_KEY_BROKEN")
    metrics = tmp_path / "hookctl.prom"
    cli.run("drift", "-f", str(config), "--metrics-file", str(metrics), status=1)
    found = samples(metrics)
    exits = {s.labels["account"]: s.value for s in found["hookctl_drift_exit_status"]}
    assert exits == {"synced": 2, "drifted": 2, "broken": 1}
    changes = {
        (s.labels["account"], s.labels["action"]): s.value for s in found["hookctl_drift_changes"]
    }
    assert changes[("synced", "delete")] == 1 and changes[("synced", "create")] == 0
    assert {account for account, _ in changes} == {"synced", "drifted"}  # broken: unknown
    unmanaged = {s.labels["account"]: s.value for s in found["hookctl_drift_unmanaged"]}
    assert unmanaged == {"synced": 1, "drifted": 1}
    last = {
        s.labels["account"]: s.value for s in found["hookctl_drift_last_success_timestamp_seconds"]
    }
    assert set(last) == {"synced", "drifted"}
    [written] = found["hookctl_drift_run_timestamp_seconds"]
    assert last["synced"] == written.value
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    # Next run: `broken` works again and `synced` fails: its last success is carried over.
    monkeypatch.setenv("KEAP_KEY_BROKEN", api_key)
    monkeypatch.delenv("KEAP_KEY_SYNCED")
    cli.run("drift", "-f", str(config), "--metrics-file", str(metrics), status=1)
    again = samples(metrics)
    carried = {
        s.labels["account"]: s.value for s in again["hookctl_drift_last_success_timestamp_seconds"]
    }
    assert carried["synced"] == last["synced"]
    assert carried["broken"] > 0
    assert {s.labels["account"]: s.value for s in again["hookctl_drift_exit_status"]}["synced"] == 1


def test_a_metrics_file_in_a_missing_directory_is_refused_before_any_call(
    env: Sandbox, config: Path, tmp_path: Path, cli: Cli
) -> None:
    env.reset_stats()
    target = tmp_path / "no-such-dir" / "hookctl.prom"
    result = cli.run("drift", "-f", str(config), "--metrics-file", str(target), status=1)
    err = result.err
    assert "--metrics-file" in err and "does not exist" in err and "Traceback" not in err
    assert env.stats()["calls"] == {}


def test_labels_the_text_format_escapes_round_trip(tmp_path: Path) -> None:
    """Account labels are file paths among several files: quotes, backslashes and newlines in
    them are escaped, and the previous file's times are read back under the same label."""
    from hookctl.engine import metrics

    hostile = 'clients/a"b\\c\nd.yaml'
    checks = [metrics.Check(hostile, metrics.IN_SYNC, {"create": 0}, 0)]
    path = tmp_path / "m.prom"
    path.write_text(metrics.render(checks, 1700000000.5, {}))
    [family] = [f for f in text_string_to_metric_families(path.read_text()) if "last" in f.name]
    assert family.samples[0].labels == {"account": hostile}
    assert metrics.read_last_success(str(path)) == {hostile: 1700000000.5}
