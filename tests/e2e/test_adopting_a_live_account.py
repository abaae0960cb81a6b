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

from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox

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
        Sandbox(api_key=api_key, time_scale=1e-4) as globex,
        Sandbox(api_key=api_key, time_scale=1e-4) as initech,
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


def _import(client: str, sb: Sandbox, folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`hookctl import` of one client into clients/CLIENT.yaml; returns what it said."""
    capsys.readouterr()
    out = folder / f"{client}.yaml"
    args = ["import", "--api-url", sb.api_url, "--api-key-env", f"KEAP_{client.upper()}_KEY"]
    assert main([*args, "-o", str(out)]) == 0
    return capsys.readouterr().err


def test_imported_accounts_validate_offline_and_plan_needs_every_variable(
    accounts: dict[str, Sandbox], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    named: dict[str, str] = {}
    for client, sb in accounts.items():
        said = _import(client, sb, folder, capsys)
        named.update(TO_SET.findall(said))
    assert len(named) == 6  # two receivers with a token in each of three accounts

    # Offline validation needs no HOOK_ variable, and says which ones plan will need.
    capsys.readouterr()
    assert main(["validate", "--offline", "-f", str(folder)]) == 0
    out = capsys.readouterr().out
    for client in CLIENTS:
        assert f"{client}.yaml: valid (4 subscriptions in 3 hooks)" in out
    assert all(name in out for name in named)

    # plan without them refuses every file at once, naming every variable, calling no one.
    before = [sb.stats()["calls"] for sb in accounts.values()]
    assert main(["plan", "-f", str(folder)]) == 1
    err = capsys.readouterr().err
    assert all(name in err for name in named), err
    assert [sb.stats()["calls"] for sb in accounts.values()] == before


def test_with_the_variables_set_the_plan_is_empty(
    accounts: dict[str, Sandbox],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    for client, sb in accounts.items():
        for name, key in TO_SET.findall(_import(client, sb, folder, capsys)):
            # What `hooks get KEY --reveal -f FILE` shows, with no HOOK_ variable set.
            capsys.readouterr()
            get = ["hooks", "get", key, "--reveal", "-f", str(folder / f"{client}.yaml")]
            assert main([*get, "--format", "json"]) == 0
            url = json.loads(capsys.readouterr().out)["hookUrl"]
            monkeypatch.setenv(name, url.partition("token=")[2])
    assert main(["plan", "-f", str(folder), "--detailed-exitcode"]) == 0


def test_hooks_get_reveal_prints_the_real_url_with_no_hook_variable_set(
    accounts: dict[str, Sandbox], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = accounts["acme"]
    said = _import("acme", acme, tmp_path, capsys)
    key = dict(TO_SET.findall(said))["HOOK_ACME_BILLING_TOKEN"]
    assert main(["hooks", "get", key, "--reveal", "-f", str(tmp_path / "acme.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"{acme.receiver_url}/acme/billing?token={_token('acme', 'billing')}" in out


def test_a_blank_default_is_refused_naming_the_entry_and_never_strips_the_token(
    accounts: dict[str, Sandbox], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = accounts["acme"]
    _import("acme", acme, tmp_path, capsys)
    path = tmp_path / "acme.yaml"
    path.write_text(
        path.read_text().replace("${HOOK_ACME_BILLING_TOKEN}", "${HOOK_ACME_BILLING_TOKEN:-}")
    )
    before = acme.stats()["calls"]
    assert main(["plan", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert "entry 'billing'" in err and "HOOK_ACME_BILLING_TOKEN" in err
    assert main(["apply", "-f", str(path), "--yes"]) == 1
    assert acme.stats()["calls"] == before
    assert all("token=tok-" in h.hook_url for h in acme.hooks() if "/billing" in h.hook_url)


def test_a_plan_that_empties_a_live_token_is_refused_unless_the_entry_allows_it(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = f"{env.receiver_url}/acme"
    env.seed([("invoice.add", f"{base}/billing?token=live-1f0c", "Verified")])
    path = tmp_path / "hooks.yaml"
    entry = f"  - name: billing\n    url: {base}/billing?token=\n    events: [invoice.add]\n"
    path.write_text(f"version: 1\nhooks:\n{entry}")
    assert main(["plan", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert "refusing to remove the query value token" in err and "'billing'" in err
    assert "live-1f0c" not in err
    assert main(["apply", "-f", str(path), "--yes"]) == 1
    assert [h.hook_url for h in env.hooks()] == [f"{base}/billing?token=live-1f0c"]

    path.write_text(f"version: 1\nhooks:\n{entry}    allow_url_stripping: true\n")
    assert main(["apply", "-f", str(path), "--yes"]) == 0
    assert [h.hook_url for h in env.hooks()] == [f"{base}/billing?token="]


def test_a_hand_rotated_token_is_a_rotation_not_a_new_entry(
    env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
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
    assert main(["import", "-o", str(path)]) == 0
    monkeypatch.setenv("HOOK_BILLING_TOKEN", "old-7d2a")
    entries = len(yaml.safe_load(path.read_text())["hooks"])
    key = next(h.key for h in env.hooks() if "/billing" in h.hook_url)
    rotated = f"{base}/billing?token=new-93be"
    assert main(["hooks", "update", key, "invoice.add", rotated]) == 0
    capsys.readouterr()

    assert main(["import", "--update", str(path)]) == 0
    err = capsys.readouterr().err
    assert "rotation: entry billing" in err and "HOOK_BILLING_TOKEN" in err
    assert "new-93be" not in err and "old-7d2a" not in err
    assert len(yaml.safe_load(path.read_text())["hooks"]) == entries

    # The file still says the old token, so plan would rotate it back: shown as such.
    assert main(["plan", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rotate token" in out and "new-93be" not in out
    monkeypatch.setenv("HOOK_BILLING_TOKEN", "new-93be")
    assert main(["plan", "-f", str(path), "--detailed-exitcode"]) == 0


def test_import_declares_only_own_hooks_and_ignores_integration_platforms(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    assert main(["import", "-o", str(path)]) == 0
    text = path.read_text()
    document = yaml.safe_load(text)
    assert [entry["name"] for entry in document["hooks"]] == ["billing", "crm"]
    assert document["ownership"]["ignore"] == [
        "https://*.make.com/*",
        "https://hooks.zapier.com/*",
    ]
    assert "# Zapier" in text and "# Make" in text
    capsys.readouterr()
    assert main(["plan", "-f", str(path), "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["changes"] == [] and planned["summary"]["unmanaged"] == 2

    # --all still means all.
    assert main(["import", "--all", "-o", str(tmp_path / "all.yaml")]) == 0
    assert len(yaml.safe_load((tmp_path / "all.yaml").read_text())["hooks"]) == 4


def test_entry_names_are_the_path_that_tells_urls_apart(
    env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
    assert main(["import", "--prefix", f"{base}/acme/", "-o", str(path)]) == 0
    assert [e["name"] for e in yaml.safe_load(path.read_text())["hooks"]] == [
        "billing-v2",
        "crm",
    ]
    everything = tmp_path / "hooks.yaml"
    assert main(["import", "-o", str(everything)]) == 0
    assert [e["name"] for e in yaml.safe_load(everything.read_text())["hooks"]] == [
        "acme-billing-v2",
        "acme-crm",
        "globex-orders",
    ]
    # The same account imported again gets the same names.
    again = tmp_path / "again.yaml"
    assert main(["import", "-o", str(again)]) == 0
    names = [e["name"] for e in yaml.safe_load(again.read_text())["hooks"]]
    assert names == ["acme-billing-v2", "acme-crm", "globex-orders"]
