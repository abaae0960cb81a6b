"""`hookctl hooks ...`: every Keap hooks operation on the command line, in table and json."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hookctl.cli import main
from hookctl.models import KNOWN_EVENT_KEYS, Hook
from hookctl.sandbox import Sandbox

KEAP_FIELDS = {"key", "eventKey", "hookUrl", "status"}


@pytest.fixture(autouse=True)
def _env(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    rc, out, err = run(capsys, *argv, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def _seed(sandbox: Sandbox) -> list[Hook]:
    base = sandbox.receiver_url
    return sandbox.seed(
        [
            ("contact.add", f"{base}/a", "Verified"),
            ("contact.edit", f"{base}/a", "Inactive"),
            ("order.add", f"{base}/b", "Unverified"),
        ]
    )


def test_types_lists_the_account_event_types(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "hooks", "types")
    assert rc == 0
    assert set(out.split()) == set(KNOWN_EVENT_KEYS)
    assert set(run_json(capsys, "hooks", "types")) == set(KNOWN_EVENT_KEYS)


def test_list_prints_an_aligned_table(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    hooks = _seed(sandbox)
    rc, out, _ = run(capsys, "hooks", "list")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "EVENT", "STATUS", "URL"]
    assert len(lines) == 1 + len(hooks)
    url_column = lines[0].index("URL")
    for hook in hooks:
        row = next(line for line in lines if line.split()[0] == hook.key)
        assert row[url_column:] == hook.hook_url
        assert hook.status in row and hook.event_key in row


def test_list_json_is_an_array_of_every_subscription(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks = _seed(sandbox)
    listed = run_json(capsys, "hooks", "list")
    assert isinstance(listed, list)
    assert sorted(item["key"] for item in listed) == sorted(h.key for h in hooks)
    assert {item["status"] for item in listed} == {"Verified", "Inactive", "Unverified"}


@pytest.mark.parametrize("operation", ["list", "get", "create", "update", "verify"])
def test_json_output_uses_keap_field_names(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], operation: str
) -> None:
    hook = _seed(sandbox)[0]
    url = sandbox.receiver_url + "/json"
    argv = {
        "list": ["list"],
        "get": ["get", hook.key],
        "create": ["create", "note.add", url],
        "update": ["update", hook.key, "note.edit", url],
        "verify": ["verify", hook.key],
    }[operation]
    result = run_json(capsys, "hooks", *argv)
    items = result if isinstance(result, list) else [result]
    assert items and all(set(item) == KEAP_FIELDS for item in items)
    live = {h.key: h.to_keap() for h in sandbox.hooks()}
    assert all(item == live[item["key"]] for item in items)


def _table_events(out: str) -> set[str]:
    return {line.split()[1] for line in out.splitlines()[1:]}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--status", "Inactive"], {"contact.edit"}),
        (["--status", "Verified"], {"contact.add"}),
        (["--event", "contact.*"], {"contact.add", "contact.edit"}),
        (["--url", "*/b"], {"order.add"}),
        (["--event", "contact.*", "--status", "Verified"], {"contact.add"}),
        (["--url", "*/nowhere"], set()),
    ],
)
def test_list_filters(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], flags: list[str], expected: set[str]
) -> None:
    _seed(sandbox)
    rc, out, _ = run(capsys, "hooks", "list", *flags)
    assert rc == 0
    if expected:
        assert _table_events(out) == expected
    else:
        assert out.strip() == "No hook subscriptions."
    assert len(run_json(capsys, "hooks", "list", *flags)) == len(expected)


def test_empty_list_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "hooks", "list")
    assert (rc, out.strip()) == (0, "No hook subscriptions.")
    assert run_json(capsys, "hooks", "list") == []


def test_get_shows_one_subscription(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    hook = _seed(sandbox)[1]
    rc, out, _ = run(capsys, "hooks", "get", hook.key)
    assert rc == 0
    assert len(out.splitlines()) == 2 and hook.hook_url in out and "Inactive" in out
    assert run_json(capsys, "hooks", "get", hook.key)["key"] == hook.key


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_get_of_an_unknown_key_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    rc, out, err = run(capsys, "hooks", "get", "999999", "--format", fmt)
    assert rc == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("hookctl: error: ") and "999999" in err
    assert "Traceback" not in err


def test_create_subscribes_and_runs_the_handshake(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sandbox.receiver_url + "/created"
    created = run_json(capsys, "hooks", "create", "contact.add", url)
    [live] = sandbox.hooks()
    assert (live.key, live.pair, live.status) == (created["key"], ("contact.add", url), "Verified")
    assert created["status"] == "Verified"
    rc, out, _ = run(capsys, "hooks", "create", "order.add", url)
    assert rc == 0 and "order.add" in out and url in out
    assert len(sandbox.hooks()) == 2


def test_update_points_a_subscription_elsewhere(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = _seed(sandbox)[0]
    url = sandbox.receiver_url + "/moved"
    assert run_json(capsys, "hooks", "update", hook.key, "contact.delete", url)["key"] == hook.key
    assert {h.key: h for h in sandbox.hooks()}[hook.key].pair == ("contact.delete", url)
    rc, out, _ = run(capsys, "hooks", "update", hook.key, "contact.add", url)
    assert rc == 0 and "contact.add" in out
    live = {h.key: h for h in sandbox.hooks()}
    assert live[hook.key].pair == ("contact.add", url)


def test_delete_with_yes_deletes(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, third = _seed(sandbox)
    rc, out, _ = run(capsys, "hooks", "delete", first.key, "--yes")
    assert (rc, out.strip()) == (0, f"Deleted {first.key}.")
    assert run_json(capsys, "hooks", "delete", second.key, "--yes") is None
    assert [h.key for h in sandbox.hooks()] == [third.key]


def test_delete_without_yes_and_no_terminal_refuses(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _seed(sandbox)[0]
    monkeypatch.setattr("sys.stdin", io.StringIO())
    rc, out, err = run(capsys, "hooks", "delete", hook.key)
    assert "Deleted" not in out
    assert rc == 1
    assert "--yes" in err and len(err.strip().splitlines()) == 1
    assert hook.key in {h.key for h in sandbox.hooks()}


def test_delete_of_an_unknown_key_fails(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "hooks", "delete", "424242", "--yes")
    assert rc == 1 and "424242" in err and "Traceback" not in err


def test_verify_reactivates_an_inactive_hook(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = _seed(sandbox)[1]
    assert run_json(capsys, "hooks", "verify", hook.key)["status"] == "Verified"
    sandbox.set_status(hook.key, "Inactive")
    rc, out, _ = run(capsys, "hooks", "verify", hook.key)
    assert rc == 0 and "Verified" in out
    assert {h.key: h.status for h in sandbox.hooks()}[hook.key] == "Verified"


def _delayed(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """A subscription whose receiver does not echo the secret, so it stays Unverified."""
    url = sandbox.receiver_url + "/delayed/x"
    created = run_json(capsys, "hooks", "create", "contact.add", url)
    assert created["status"] == "Unverified"
    secret = sandbox.last_secret(url)
    assert secret
    return created["key"], secret


def test_verify_with_secret_completes_delayed_verification(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    key, secret = _delayed(sandbox, capsys)
    rc, out, _ = run(capsys, "hooks", "verify", key, "--secret", secret)
    assert rc == 0 and "Verified" in out
    assert {h.key: h.status for h in sandbox.hooks()}[key] == "Verified"


def test_verify_with_secret_from_stdin(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = _delayed(sandbox, capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert run_json(capsys, "hooks", "verify", key, "--secret", "-")["status"] == "Verified"


def test_verify_with_secret_env_keeps_it_out_of_argv(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, secret = _delayed(sandbox, capsys)
    monkeypatch.setenv("HOOK_SECRET", secret)
    verified = run_json(capsys, "hooks", "verify", key, "--secret-env", "HOOK_SECRET")
    assert verified["status"] == "Verified"


def test_verify_with_a_wrong_secret_fails_without_echoing_it(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    key, _ = _delayed(sandbox, capsys)
    rc, out, err = run(capsys, "hooks", "verify", key, "--secret", "not-the-secret-123")
    assert rc == 1
    assert "not-the-secret-123" not in out + err
    assert {h.key: h.status for h in sandbox.hooks()}[key] == "Unverified"


def test_verify_with_an_unset_secret_env_fails_clearly(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = _delayed(sandbox, capsys)
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    rc, _, err = run(capsys, "hooks", "verify", key, "--secret-env", "HOOK_SECRET")
    assert rc == 1 and "HOOK_SECRET" in err and len(err.strip().splitlines()) == 1


def test_a_wrong_api_key_is_one_line(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", "wrong-key-xyz")
    rc, out, err = run(capsys, "hooks", "list")
    assert rc == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "wrong-key-xyz" not in err


def test_api_url_flag_overrides_the_environment(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(sandbox)
    # A closed port: only --api-url can make this list succeed.
    monkeypatch.setenv("KEAP_API_URL", "http://127.0.0.1:9/crm/rest/v1")
    assert len(run_json(capsys, "hooks", "list", "--api-url", sandbox.api_url)) == 3
