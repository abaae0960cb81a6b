"""One reviewed plan for every account of a run: `plan -f clients/ --out plan.json` saves each
account's plan in one file; `apply plan.json` makes each account's plan again and applies each
account whose plan is still exactly the saved one, refusing (and writing nothing to) an account
that changed since, and says per account what it did. Three clients, each its own sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import validator

from hookctl.cli.commands import main
from hookctl.engine import planfile
from hookctl.sandbox import Sandbox, SandboxSettings

CLIENTS = ("acme", "globex", "initech")


@pytest.fixture
def fleet(
    api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Sandbox]]:
    """clients/<name>.yaml for three clients, each account in a sandbox of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with (
        Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as acme,
        Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as globex,
        Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as initech,
    ):
        boxes = {"acme": acme, "globex": globex, "initech": initech}
        Path("clients").mkdir()
        for name, box in boxes.items():
            monkeypatch.setenv(f"KEY_{name.upper()}", api_key)
            write_client(name, box, ["contact.add"])
        yield boxes


def write_client(name: str, box: Sandbox, events: list[str]) -> None:
    Path(f"clients/{name}.yaml").write_text(
        f"version: 1\naccount:\n  api_url: {box.api_url}\n"
        f"  credentials: {{api_key_env: KEY_{name.upper()}}}\n"
        f"hooks:\n  - name: {name}\n    url: {box.receiver_url}/{name}\n"
        f"    events: [{', '.join(events)}]\n"
    )


def events(box: Sandbox) -> set[str]:
    return {hook.event_key for hook in box.hooks()}


def writes(box: Sandbox) -> int:
    return sum(n for route, n in box.stats()["calls"].items() if not route.startswith("GET"))


def test_a_plan_of_three_accounts_is_saved_in_one_file_and_applied_whole(
    fleet: dict[str, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", "clients/", "--out", "plan.json"]) == 0
    document = json.loads(Path("plan.json").read_text())
    validator("saved-plans.schema.json").validate(document)
    assert [each["label"] for each in document["accounts"]] == list(CLIENTS)
    assert all(writes(box) == 0 for box in fleet.values())
    capsys.readouterr()

    assert main(["apply", "plan.json"]) == 0  # the saved plan is the approval: no prompt
    out = capsys.readouterr().out
    for name, box in fleet.items():
        assert events(box) == {"contact.add"}
        assert f"=== {name} ===" in out
    assert "=== accounts ===" in out


def test_an_account_changed_after_planning_is_refused_and_the_others_applied(
    fleet: dict[str, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", "clients", "--out", "plan.json", "--format", "json"]) == 0
    capsys.readouterr()
    # After the review, someone adds a subscription to globex by hand.
    fleet["globex"].seed([("contact.edit", f"{fleet['globex'].receiver_url}/globex", "Verified")])
    before = writes(fleet["globex"])

    assert main(["apply", "plan.json", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    validator("accounts.schema.json").validate(document)
    by_label = {each["label"]: each for each in document["accounts"]}
    assert "stale plan" in by_label["globex"]["error"]
    assert "live subscriptions changed" in by_label["globex"]["error"]
    assert by_label["acme"]["error"] is None and by_label["initech"]["error"] is None
    assert events(fleet["acme"]) == events(fleet["initech"]) == {"contact.add"}
    assert writes(fleet["globex"]) == before  # nothing written to the account that changed

    # A rerun (plan again, apply that plan) finishes: globex is applied, the others need nothing.
    assert main(["plan", "-f", "clients", "--out", "plan.json"]) == 0
    capsys.readouterr()
    assert main(["apply", "plan.json"]) == 0
    out = capsys.readouterr().out
    assert events(fleet["globex"]) == {"contact.add"}  # the undeclared pair was deleted
    assert "globex   Applied" in out or "globex  Applied" in out
    assert "No changes" in out


def test_an_edited_hooks_file_refuses_its_account_alone(
    fleet: dict[str, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", "clients", "--out", "plan.json"]) == 0
    write_client("initech", fleet["initech"], ["contact.add", "contact.edit"])
    capsys.readouterr()
    assert main(["apply", "plan.json"]) == 1
    captured = capsys.readouterr()
    assert "initech: " in captured.err and "clients/initech.yaml or its environment changed" in (
        captured.err
    )
    assert events(fleet["acme"]) == events(fleet["globex"]) == {"contact.add"}
    assert fleet["initech"].hooks() == []


def test_account_narrows_the_saved_plan_and_the_plan_run(
    fleet: dict[str, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", "clients", "--out", "plan.json"]) == 0
    assert main(["apply", "plan.json", "--account", "globex"]) == 0
    assert events(fleet["globex"]) == {"contact.add"}
    assert fleet["acme"].hooks() == fleet["initech"].hooks() == []
    capsys.readouterr()
    assert main(["apply", "plan.json", "--account", "nobody"]) == 1
    err = capsys.readouterr().err
    assert "holds no plan for account 'nobody'" in err and len(err.strip().splitlines()) == 1

    # --account on the plan side saves that account alone, in the one-account format.
    assert main(["plan", "-f", "clients", "--account", "acme", "--out", "acme.json"]) == 0
    saved = planfile.read_run("acme.json")
    assert not saved.several and [plan.account for plan in saved.plans] == ["acme"]
    assert json.loads(Path("acme.json").read_text())["format_version"] == 2


def test_a_plan_is_not_saved_when_an_account_fails_to_plan(
    fleet: dict[str, Sandbox], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEY_GLOBEX", "wrong-key")
    assert main(["plan", "-f", "clients", "--out", "plan.json"]) == 1
    assert "plan not saved to plan.json" in capsys.readouterr().err
    assert not Path("plan.json").exists()


def test_a_tampered_fleet_plan_is_refused_whole(
    fleet: dict[str, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-f", "clients", "--out", "plan.json"]) == 0
    document = json.loads(Path("plan.json").read_text())
    document["accounts"][1]["plan"]["changes"] = []
    Path("plan.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["apply", "plan.json"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert all(box.hooks() == [] for box in fleet.values())
