"""Adopting live accounts whose receivers take a token in the url, as a new user would: the
imported files validate without the tokens, plan names every variable it needs, a token is
never stripped by accident, a rotated token is a rotation, and integration platforms' hooks
are left to them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers.cli import Cli

from hookctl.sandbox import Sandbox, SandboxSettings

# What import says to set: a line per variable, `  NAME  key KEY`.
TO_SET = re.compile(r"^  (HOOK_[A-Z0-9_]+) +key (\S+)$", re.MULTILINE)
CLIENTS = ("acme", "globex", "initech")


def _token(client: str, receiver: str) -> str:
    return f"tok-{client}-{receiver}-5c1e9a"


@pytest.fixture
def accounts(
    sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Sandbox]]:
    """Three Keap accounts (acme's is the `sandbox` fixture's), each with receivers that take a
    token in the url, and each with its own key variable set."""
    with (
        Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as globex,
        Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as initech,
    ):
        found = {"acme": sandbox, "globex": globex, "initech": initech}
        for client, sb in found.items():
            base = f"{sb.receiver_url}/{client}"
            sb.seed(
                [
                    (
                        "invoice.add",
                        f"{base}/billing?token={_token(client, 'billing')}",
                        "Verified",
                    ),
                    (
                        "invoice.edit",
                        f"{base}/billing?token={_token(client, 'billing')}",
                        "Verified",
                    ),
                    ("contact.add", f"{base}/crm?token={_token(client, 'crm')}", "Verified"),
                    ("order.add", f"{base}/plain", "Verified"),
                ]
            )
            monkeypatch.setenv(f"KEAP_{client.upper()}_KEY", api_key)
        monkeypatch.delenv("KEAP_API_URL", raising=False)
        yield found


def _import(client: str, sb: Sandbox, folder: Path, cli: Cli) -> str:
    """`hookctl import` of one client into clients/CLIENT.yaml; returns what it said."""
    out = folder / f"{client}.yaml"
    args = ["import", "--api-url", sb.api_url, "--api-key-env", f"KEAP_{client.upper()}_KEY"]
    return cli.run(*args, "-o", str(out)).err


def test_imported_accounts_validate_offline_and_plan_needs_every_variable(
    accounts: dict[str, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    named: dict[str, str] = {}
    for client, sb in accounts.items():
        said = _import(client, sb, folder, cli)
        named.update(TO_SET.findall(said))
    assert len(named) == 6  # two receivers with a token in each of three accounts

    # Offline validation needs no HOOK_ variable, and says which ones plan will need.
    result = cli.run("validate", "--offline", "-f", str(folder))
    out = result.out
    for client in CLIENTS:
        assert f"{client}.yaml: valid (4 subscriptions in 3 hooks)" in out
    assert all(name in out for name in named)

    # plan without them refuses every file at once, naming every variable, calling no one.
    before = [sb.stats()["calls"] for sb in accounts.values()]
    result = cli.run("plan", "-f", str(folder), status=1)
    err = result.err
    assert all(name in err for name in named), err
    assert [sb.stats()["calls"] for sb in accounts.values()] == before


def test_with_the_variables_set_the_plan_is_empty(
    accounts: dict[str, Sandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    for client, sb in accounts.items():
        for name, key in TO_SET.findall(_import(client, sb, folder, cli)):
            # What `hooks get KEY --reveal -f FILE` shows, with no HOOK_ variable set.
            get = ["hooks", "get", key, "--reveal", "-f", str(folder / f"{client}.yaml")]
            result = cli.run(*get, "--format", "json")
            url = json.loads(result.out)["hookUrl"]
            monkeypatch.setenv(name, url.partition("token=")[2])
    cli.run("plan", "-f", str(folder), "--detailed-exitcode")


def test_hooks_get_reveal_prints_the_real_url_with_no_hook_variable_set(
    accounts: dict[str, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    acme = accounts["acme"]
    said = _import("acme", acme, tmp_path, cli)
    key = dict(TO_SET.findall(said))["HOOK_ACME_BILLING_TOKEN"]
    result = cli.run("hooks", "get", key, "--reveal", "-f", str(tmp_path / "acme.yaml"))
    out = result.out
    assert f"{acme.receiver_url}/acme/billing?token={_token('acme', 'billing')}" in out


def test_a_blank_default_is_refused_naming_the_entry_and_never_strips_the_token(
    accounts: dict[str, Sandbox], tmp_path: Path, cli: Cli
) -> None:
    acme = accounts["acme"]
    _import("acme", acme, tmp_path, cli)
    path = tmp_path / "acme.yaml"
    path.write_text(
        path.read_text().replace("${HOOK_ACME_BILLING_TOKEN}", "${HOOK_ACME_BILLING_TOKEN:-}")
    )
    before = acme.stats()["calls"]
    result = cli.run("plan", "-f", str(path), status=1)
    err = result.err
    assert "entry 'billing'" in err and "HOOK_ACME_BILLING_TOKEN" in err
    cli.run("apply", "-f", str(path), "--yes", status=1)
    assert acme.stats()["calls"] == before
    assert all("token=tok-" in h.hook_url for h in acme.hooks() if "/billing" in h.hook_url)


def test_a_plan_that_empties_a_live_token_is_refused_unless_the_entry_allows_it(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = f"{env.receiver_url}/acme"
    env.seed([("invoice.add", f"{base}/billing?token=live-1f0c", "Verified")])
    path = tmp_path / "hooks.yaml"
    entry = f"  - name: billing\n    url: {base}/billing?token=\n    events: [invoice.add]\n"
    path.write_text(f"version: 1\nhooks:\n{entry}")
    result = cli.run("plan", "-f", str(path), status=1)
    err = result.err
    assert "refusing to remove the query value token" in err and "'billing'" in err
    assert "live-1f0c" not in err
    cli.run("apply", "-f", str(path), "--yes", status=1)
    assert [h.hook_url for h in env.hooks()] == [f"{base}/billing?token=live-1f0c"]

    path.write_text(f"version: 1\nhooks:\n{entry}    allow_url_stripping: true\n")
    cli.run("apply", "-f", str(path), "--yes")
    assert [h.hook_url for h in env.hooks()] == [f"{base}/billing?token="]


def test_a_hand_rotated_token_is_a_rotation_not_a_new_entry(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = f"{env.receiver_url}/acme"
    env.seed(
        [
            ("invoice.add", f"{base}/billing?token=old-7d2a", "Verified"),
            ("contact.add", f"{base}/crm", "Verified"),
        ]
    )
    path = tmp_path / "hooks.yaml"
    cli.run("import", "-o", str(path))
    monkeypatch.setenv("HOOK_BILLING_TOKEN", "old-7d2a")
    entries = len(yaml.safe_load(path.read_text())["hooks"])
    key = next(h.key for h in env.hooks() if "/billing" in h.hook_url)
    rotated = f"{base}/billing?token=new-93be"
    cli.run("hooks", "update", key, "invoice.add", rotated)

    result = cli.run("import", "--update", str(path))
    err = result.err
    assert "rotation: entry billing" in err and "HOOK_BILLING_TOKEN" in err
    assert "new-93be" not in err and "old-7d2a" not in err
    assert len(yaml.safe_load(path.read_text())["hooks"]) == entries

    # The file still says the old token, so plan would rotate it back: shown as such.
    result = cli.run("plan", "-f", str(path))
    out = result.out
    assert "rotate token" in out and "new-93be" not in out
    monkeypatch.setenv("HOOK_BILLING_TOKEN", "new-93be")
    cli.run("plan", "-f", str(path), "--detailed-exitcode")


def test_import_declares_only_own_hooks_and_ignores_integration_platforms(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = f"{env.receiver_url}/acme"
    env.seed(
        [
            ("contact.add", "https://hooks.zapier.com/hooks/catch/123456/abcdef/", "Verified"),
            ("order.add", "https://hook.eu1.make.com/k2l3m4n5o6", "Verified"),
            ("invoice.add", f"{base}/billing", "Verified"),
            ("contact.add", f"{base}/crm", "Verified"),
        ]
    )
    path = tmp_path / "hooks.yaml"
    cli.run("import", "-o", str(path))
    text = path.read_text()
    document = yaml.safe_load(text)
    assert [entry["name"] for entry in document["hooks"]] == ["billing", "crm"]
    assert document["ownership"]["ignore"] == [
        "https://*.make.com/*",
        "https://hooks.zapier.com/*",
    ]
    assert "# Zapier" in text and "# Make" in text
    result = cli.run("plan", "-f", str(path), "--format", "json")
    planned = json.loads(result.out)
    assert planned["changes"] == [] and planned["summary"]["unmanaged"] == 2

    # --all still means all.
    cli.run("import", "--all", "-o", str(tmp_path / "all.yaml"))
    assert len(yaml.safe_load((tmp_path / "all.yaml").read_text())["hooks"]) == 4


def test_entry_names_are_the_path_that_tells_urls_apart(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = env.receiver_url
    env.seed(
        [
            ("invoice.add", f"{base}/acme/billing/v2?token=t-1", "Verified"),
            ("contact.add", f"{base}/acme/crm", "Verified"),
            ("order.add", f"{base}/globex/orders", "Verified"),
        ]
    )
    path = tmp_path / "acme.yaml"
    cli.run("import", "--prefix", f"{base}/acme/", "-o", str(path))
    assert [e["name"] for e in yaml.safe_load(path.read_text())["hooks"]] == [
        "billing-v2",
        "crm",
    ]
    everything = tmp_path / "hooks.yaml"
    cli.run("import", "-o", str(everything))
    assert [e["name"] for e in yaml.safe_load(everything.read_text())["hooks"]] == [
        "acme-billing-v2",
        "acme-crm",
        "globex-orders",
    ]
    # The same account imported again gets the same names.
    again = tmp_path / "again.yaml"
    cli.run("import", "-o", str(again))
    names = [e["name"] for e in yaml.safe_load(again.read_text())["hooks"]]
    assert names == ["acme-billing-v2", "acme-crm", "globex-orders"]
