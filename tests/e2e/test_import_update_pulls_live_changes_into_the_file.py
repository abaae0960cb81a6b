"""`hookctl import --update FILE` (issue 17 item 3): after hand-made changes in Keap, the file is
edited in place to match; its names, comments, key order, wildcards and ${VAR} urls are kept,
and the next plan is empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.cli import Cli

from hookctl.domain.models import Hook
from hookctl.sandbox import Sandbox

_COMMENT = re.compile(r"#[^\n]*")


def hooks_file(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"""# Client hooks, kept by hand.
version: 1
account:
  credentials:
    api_key_env: KEAP_API_KEY   # the client's key
ownership:
  url_prefixes:
    - {base}/managed/
hooks:
  # Contacts go to the CRM.
  - name: crm-contacts          # a name import would not choose
    url: {base}/managed/contacts
    events: [contact.add, contact.edit]

  - name: orders
    url: {base}/managed/orders
    events: ["order.*"]         # every order event

  - name: notes
    url: ${{HOOK_NOTES_URL}}
    events: [note.add]

  - name: invoices
    url: {base}/managed/invoices
    events: [invoice.add]
"""
    )
    return path


def key_of(sandbox: Sandbox, event: str, url_end: str) -> str:
    hook: Hook = next(
        h for h in sandbox.hooks() if h.event_key == event and h.hook_url.endswith(url_end)
    )
    return hook.key


def plan_changes(path: Path, cli: Cli) -> list[object]:
    changes: list[object] = json.loads(cli.run("plan", "-f", str(path), "--format", "json").out)[
        "changes"
    ]
    return changes


def test_import_update_takes_hand_made_changes_into_the_file(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    base = env.receiver_url
    monkeypatch.setenv("HOOK_NOTES_URL", f"{base}/managed/notes")
    path = hooks_file(tmp_path, base)
    cli.run("apply", "-f", str(path), "--yes")
    assert plan_changes(path, cli) == []
    original = path.read_text()

    # A colleague's hand-made changes in Keap.
    managed = f"{base}/managed"
    cli.run("hooks", "create", "contact.delete", f"{managed}/contacts")
    cli.run("hooks", "delete", key_of(env, "order.edit", "/orders"), "--yes")
    cli.run("hooks", "create", "task.add", f"{managed}/tickets")
    invoice = key_of(env, "invoice.add", "/invoices")
    cli.run("hooks", "update", invoice, "invoice.add", f"{managed}/invoices-v2")
    note = key_of(env, "note.add", "/notes")
    cli.run("hooks", "update", note, "note.add", f"{managed}/notes-v2")

    result = cli.run("import", "--update", str(path), "--dry-run")
    dry = result
    assert path.read_text() == original
    assert "contact.delete" in dry.out and "would update" in dry.err

    result = cli.run("import", "--update", str(path))
    said = result
    text = path.read_text()
    assert "conflict: entry notes" in said.err
    for comment in _COMMENT.findall(original):
        assert comment in text, comment
    for name in ("crm-contacts", "orders", "notes", "invoices"):
        assert f"- name: {name}" in text
    assert "url: ${HOOK_NOTES_URL}" in text
    assert "events: [contact.add, contact.edit, contact.delete]" in text
    assert f"url: {managed}/invoices-v2" in text
    assert "order.edit" not in text and "order.* expanded" in text
    assert f"url: {managed}/tickets" in text and "events: [task.add]" in text
    # Named by what tells it apart from the file's other urls, as import names entries.
    assert "- name: tickets" in text
    # The conflict is the user's to settle: with the variable set, nothing is left to do.
    monkeypatch.setenv("HOOK_NOTES_URL", f"{managed}/notes-v2")
    assert plan_changes(path, cli) == []
    # And a second update changes nothing.
    result = cli.run("import", "--update", str(path))
    assert path.read_text() == text
    assert "already matches" in result.err


def test_import_update_keeps_a_wildcard_that_still_matches(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    base = env.receiver_url
    monkeypatch.setenv("HOOK_NOTES_URL", f"{base}/managed/notes")
    path = hooks_file(tmp_path, base)
    cli.run("apply", "-f", str(path), "--yes")
    original = path.read_text()
    cli.run("hooks", "create", "note.edit", f"{base}/managed/notes")
    cli.run("import", "--update", str(path))
    text = path.read_text()
    assert text == original.replace("events: [note.add]", "events: [note.add, note.edit]")
    assert plan_changes(path, cli) == []


def test_a_new_url_with_a_token_becomes_a_placeholder_and_is_never_shown(
    env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    base = env.receiver_url
    monkeypatch.setenv("HOOK_NOTES_URL", f"{base}/managed/notes")
    path = hooks_file(tmp_path, base)
    cli.run("apply", "-f", str(path), "--yes")
    secret = "tok-RECOGNISABLE-91c3"
    cli.run("hooks", "create", "task.add", f"{base}/managed/zap?token={secret}")
    result = cli.run("import", "--update", str(path))
    said = result
    text = path.read_text()
    assert secret not in said.out + said.err + text
    variable = re.search(r"\$\{(HOOK_[A-Z0-9_]*TOKEN)\}", text)
    assert variable is not None and variable.group(1) in said.err
    monkeypatch.setenv(variable.group(1), secret)
    assert plan_changes(path, cli) == []


def test_import_update_of_a_broken_file_is_one_line(env: Sandbox, tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text("version: 1\nhooks:\n  - name: a\n    url: nope\n    events: [contact.add]\n")
    calls = env.stats()["calls"]
    result = cli.run("import", "--update", str(path), status=1)
    err = result.err
    assert str(path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert env.stats()["calls"] == calls
    result = cli.run("import", "--dry-run", status=1)
    assert "--dry-run goes with --update" in result.err


def test_a_url_moved_outside_what_the_file_owns_is_followed(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = env.receiver_url
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"version: 1\nhooks:\n  - name: crm  # ours\n    url: {base}/a\n    events: [contact.add]\n"
    )
    cli.run("apply", "-f", str(path), "--yes")
    key = key_of(env, "contact.add", "/a")
    cli.run("hooks", "update", key, "contact.add", f"{base}/b")
    cli.run("import", "--update", str(path))
    assert path.read_text() == (
        f"version: 1\nhooks:\n  - name: crm  # ours\n    url: {base}/b\n    events: [contact.add]\n"
    )
    assert plan_changes(path, cli) == []


def test_a_live_url_hooks_yaml_cannot_hold_is_reported_and_left_out(
    env: Sandbox,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = env.receiver_url
    monkeypatch.setenv("HOOK_NOTES_URL", f"{base}/managed/notes")
    path = hooks_file(tmp_path, base)
    cli.run("apply", "-f", str(path), "--yes")
    [bad] = env.seed([("task.add", f"{base}/managed/with space", "Verified")])
    result = cli.run("import", "--update", str(path))
    err = result.err
    assert f"left out key {bad.key}: the url must not contain spaces" in err
    assert "with space" not in path.read_text() and "task.add" not in path.read_text()


def test_a_rotated_token_in_a_literal_url_becomes_a_placeholder_not_a_new_entry(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = env.receiver_url
    path = tmp_path / "hooks.yaml"
    path.write_text(
        f"version: 1\nhooks:\n  - name: crm\n    url: {base}/a?token=old-51\n"
        "    events: [contact.add]\n"
    )
    cli.run("apply", "-f", str(path), "--yes")
    key = key_of(env, "contact.add", "token=old-51")
    cli.run("hooks", "update", key, "contact.add", f"{base}/a?token=new-52")
    result = cli.run("import", "--update", str(path))
    err = result.err
    text = path.read_text()
    assert "rotation: entry crm" in err and "new-52" not in err + text
    assert text.count("- name:") == 1
    assert f"url: {base}/a?token=${{HOOK_CRM_TOKEN}}" in text
    assert "set HOOK_CRM_TOKEN (`hookctl hooks get" in err


def test_import_update_needs_no_hook_variable_and_plans_with_the_live_values(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    base = env.receiver_url
    env.seed([("invoice.add", f"{base}/acme/billing?token=live-3c9", "Verified")])
    path = tmp_path / "hooks.yaml"
    cli.run("import", "-o", str(path))
    text = path.read_text()
    result = cli.run("import", "--update", str(path))
    err = result.err
    assert path.read_text() == text and "live-3c9" not in err
    assert "entry billing: HOOK_BILLING_TOKEN not set" in err
    # Read off the live url, the value makes the plan the one the user will see once set.
    assert "a plan on it now: No changes; 1 unchanged" in err
