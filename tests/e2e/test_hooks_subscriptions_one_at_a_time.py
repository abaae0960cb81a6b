"""`hookctl hooks ...`: every Keap hooks operation on the command line, in table and json, and
the Python API the README shows."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli, Terminal

import hookctl.keap.client as keap_module
from hookctl.domain.models import KNOWN_EVENT_KEYS, Hook
from hookctl.keap.client import RetryPolicy
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

KEAP_FIELDS = {"key", "eventKey", "hookUrl", "status"}
CLOSED_PORT = "http://127.0.0.1:9/crm/rest/v1"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _env(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own retry rules, with backoffs in milliseconds instead of seconds."""
    monkeypatch.setattr(keap_module, "RetryPolicy", partial(RetryPolicy, backoff_base=0.005))


def run(cli: Cli, *argv: str) -> tuple[int, str, str]:
    result = cli.run(*argv, status=None)
    return result.status, result.out, result.err


def run_json(cli: Cli, *argv: str) -> Any:
    rc, out, err = run(cli, *argv, "--format", "json")
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


def _one_error_line(err: str) -> str:
    """stderr holds exactly one error line (retry warnings may come before it), no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("hookctl: error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


# -- output ------------------------------------------------------------------------------------


def test_types_lists_the_account_event_types(cli: Cli) -> None:
    rc, out, _ = run(cli, "hooks", "types")
    assert rc == 0
    assert out.split() == sorted(KNOWN_EVENT_KEYS)
    assert run_json(cli, "hooks", "types") == out.split()


def test_list_prints_an_aligned_table_and_a_count_line(sandbox: Sandbox, cli: Cli) -> None:
    hooks = _seed(sandbox)
    rc, out, _ = run(cli, "hooks", "list")
    assert rc == 0
    *table, count = out.splitlines()
    assert table[0].split() == ["KEY", "EVENT", "STATUS", "URL"]
    assert [row.split()[0] for row in table[1:]] == [h.key for h in hooks]
    for column in ("EVENT", "STATUS", "URL"):
        start = table[0].index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in table)
    for hook, row in zip(hooks, table[1:], strict=True):
        assert row[table[0].index("URL") :] == hook.hook_url  # the url whole, unpadded
        assert row.split()[1:3] == [hook.event_key, hook.status]
    assert count == "3 subscriptions: 1 Unverified, 1 Verified, 1 Inactive."


def test_the_count_line_names_duplicates(sandbox: Sandbox, cli: Cli) -> None:
    url = sandbox.receiver_url + "/twice"
    sandbox.seed([("contact.add", url, "Verified")] * 3 + [("contact.edit", url, "Verified")])
    out = run(cli, "hooks", "list")[1]
    assert out.splitlines()[-1] == "4 subscriptions: 4 Verified; 2 duplicates (same event and url)."


def test_list_json_is_an_array_of_every_subscription(sandbox: Sandbox, cli: Cli) -> None:
    hooks = _seed(sandbox)
    assert run_json(cli, "hooks", "list") == [h.to_keap() for h in hooks]


@pytest.mark.parametrize("operation", ["list", "get", "create", "update", "verify"])
def test_json_output_uses_keap_field_names(sandbox: Sandbox, cli: Cli, operation: str) -> None:
    hook = _seed(sandbox)[0]
    url = sandbox.receiver_url + "/json"
    argv = {
        "list": ["list"],
        "get": ["get", hook.key],
        "create": ["create", "note.add", url],
        "update": ["update", hook.key, "note.edit", url],
        "verify": ["verify", hook.key],
    }[operation]
    result = run_json(cli, "hooks", *argv)
    assert isinstance(result, list) == (operation == "list")
    items = result if isinstance(result, list) else [result]
    assert items and all(set(item) == KEAP_FIELDS for item in items)
    live = {h.key: h.to_keap() for h in sandbox.hooks()}
    assert all(item == live[item["key"]] for item in items)


def _table_events(out: str) -> set[str]:
    return {line.split()[1] for line in out.splitlines()[1:-1]}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--status", "Inactive"], {"contact.edit"}),
        (["--status", "Verified"], {"contact.add"}),
        (["--event", "contact.*"], {"contact.add", "contact.edit"}),
        (["--url", "*/b"], {"order.add"}),
        (["--event", "contact.*", "--status", "Verified"], {"contact.add"}),
        (["--event", "*.ADD"], set()),  # globs are case-sensitive, as event keys are
        (["--url", "*/nowhere"], set()),
    ],
)
def test_list_filters(sandbox: Sandbox, cli: Cli, flags: list[str], expected: set[str]) -> None:
    _seed(sandbox)
    rc, out, _ = run(cli, "hooks", "list", *flags)
    assert rc == 0
    if expected:
        assert _table_events(out) == expected
        assert out.splitlines()[-1].startswith(f"{len(expected)} of 3 subscriptions: ")
    else:
        assert out.strip() == "No hook subscriptions match (3 in the account)."
    assert {h["eventKey"] for h in run_json(cli, "hooks", "list", *flags)} == expected


def test_empty_list_says_so(cli: Cli) -> None:
    rc, out, _ = run(cli, "hooks", "list")
    assert (rc, out) == (0, "No hook subscriptions.\n")
    assert run_json(cli, "hooks", "list") == []


def test_a_url_with_control_characters_cannot_garble_the_terminal(
    sandbox: Sandbox, cli: Cli
) -> None:
    [hook] = sandbox.seed([("contact.add", "https://x.example.com/\x1b[2J\r", "Verified")])
    out = run(cli, "hooks", "get", hook.key)[1]
    assert "\x1b" not in out and "\r" not in out
    assert "\\x1b[2J\\r" in out
    assert run_json(cli, "hooks", "get", hook.key)["hookUrl"] == hook.hook_url


# -- each operation ----------------------------------------------------------------------------


def test_get_shows_one_subscription(sandbox: Sandbox, cli: Cli) -> None:
    hook = _seed(sandbox)[1]
    rc, out, _ = run(cli, "hooks", "get", hook.key)
    assert rc == 0
    header, row = out.splitlines()
    assert header.split() == ["KEY", "EVENT", "STATUS", "URL"]
    assert row.split() == [hook.key, hook.event_key, "Inactive", hook.hook_url]
    assert run_json(cli, "hooks", "get", hook.key) == hook.to_keap()


def test_create_subscribes_and_runs_the_handshake(sandbox: Sandbox, cli: Cli) -> None:
    url = sandbox.receiver_url + "/created"
    created = run_json(cli, "hooks", "create", "contact.add", url)
    [live] = sandbox.hooks()
    assert (live.key, live.pair, live.status) == (created["key"], ("contact.add", url), "Verified")
    assert created["status"] == "Verified"
    rc, out, err = run(cli, "hooks", "create", "order.add", url)
    assert rc == 0 and "order.add" in out and url in out
    assert err == ""
    assert len(sandbox.hooks()) == 2


def test_a_create_left_unverified_says_what_to_do(sandbox: Sandbox, cli: Cli) -> None:
    url = sandbox.receiver_url + "/delayed/warn"
    rc, out, err = run(cli, "hooks", "create", "contact.add", url, "--format", "json")
    assert rc == 0
    key = json.loads(out)["key"]  # stdout stays pure JSON; the advice goes to stderr
    assert f"subscription {key} is Unverified" in err
    assert f"hookctl hooks verify {key} --secret-env VAR" in err
    assert len(err.strip().splitlines()) == 1


def test_update_points_a_subscription_elsewhere(sandbox: Sandbox, cli: Cli) -> None:
    hook = _seed(sandbox)[0]
    url = sandbox.receiver_url + "/moved"
    assert run_json(cli, "hooks", "update", hook.key, "contact.delete", url)["key"] == hook.key
    assert {h.key: h for h in sandbox.hooks()}[hook.key].pair == ("contact.delete", url)
    rc, out, _ = run(cli, "hooks", "update", hook.key, "contact.add", url)
    assert rc == 0 and out.splitlines()[1].split()[:2] == [hook.key, "contact.add"]
    assert {h.key: h for h in sandbox.hooks()}[hook.key].pair == ("contact.add", url)


def test_delete_with_yes_deletes(sandbox: Sandbox, cli: Cli) -> None:
    first, second, third = _seed(sandbox)
    rc, out, _ = run(cli, "hooks", "delete", first.key, "--yes")
    assert (rc, out) == (0, f"Deleted {first.key}.\n")
    assert run_json(cli, "hooks", "delete", second.key, "--yes") is None
    assert [h.key for h in sandbox.hooks()] == [third.key]


def test_delete_without_yes_and_no_terminal_refuses(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _seed(sandbox)[0]
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # piped input is not an answer
    sandbox.reset_stats()
    rc, out, err = run(cli, "hooks", "delete", hook.key)
    assert (rc, out) == (1, "")
    assert "--yes" in _one_error_line(err) and len(err.strip().splitlines()) == 1
    assert hook.key in {h.key for h in sandbox.hooks()}
    assert sandbox.stats()["calls"] == {}


def test_delete_refuses_in_a_real_process_without_a_terminal(
    sandbox: Sandbox, api_key: str
) -> None:
    hook = _seed(sandbox)[0]
    done = subprocess.run(
        [sys.executable, "-m", "hookctl", "hooks", "delete", hook.key],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "KEAP_API_URL": sandbox.api_url, "KEAP_API_KEY": api_key},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "no terminal" in _one_error_line(done.stderr)
    assert hook.key in {h.key for h in sandbox.hooks()}


@pytest.mark.parametrize(("answer", "deleted"), [("yes\n", True), ("y\n", False), ("", False)])
def test_delete_on_a_terminal_shows_the_hook_and_asks(
    sandbox: Sandbox,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    deleted: bool,
) -> None:
    hook = _seed(sandbox)[2]
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    rc, out, err = run(cli, "hooks", "delete", hook.key)
    assert hook.hook_url in err and "Unverified" in err  # what would go, before the question
    assert f"Delete subscription {hook.key}? Only 'yes' is accepted" in err
    assert (hook.key not in {h.key for h in sandbox.hooks()}) == deleted
    assert (rc, out) == ((0, f"Deleted {hook.key}.\n") if deleted else (1, ""))
    assert deleted or "Cancelled." in err


def test_verify_reactivates_an_inactive_hook(sandbox: Sandbox, cli: Cli) -> None:
    hook = _seed(sandbox)[1]
    assert run_json(cli, "hooks", "verify", hook.key)["status"] == "Verified"
    sandbox.set_status(hook.key, "Inactive")
    rc, out, err = run(cli, "hooks", "verify", hook.key)
    assert rc == 0 and out.splitlines()[1].split()[2] == "Verified" and err == ""
    assert {h.key: h.status for h in sandbox.hooks()}[hook.key] == "Verified"


def _delayed(sandbox: Sandbox, cli: Cli) -> tuple[str, str]:
    """A subscription whose receiver does not echo the secret, so it stays Unverified."""
    url = sandbox.receiver_url + "/delayed/x"
    created = run_json(cli, "hooks", "create", "contact.add", url)
    assert created["status"] == "Unverified"
    secret = sandbox.last_secret(url)
    assert secret
    return created["key"], secret


def _status(sandbox: Sandbox, key: str) -> str:
    return {h.key: h.status for h in sandbox.hooks()}[key]


def test_verify_with_secret_completes_delayed_verification(sandbox: Sandbox, cli: Cli) -> None:
    key, secret = _delayed(sandbox, cli)
    rc, out, err = run(cli, "hooks", "verify", key, "--secret", secret)
    assert rc == 0 and "Verified" in out and err == ""
    assert _status(sandbox, key) == "Verified"


def test_verify_with_secret_from_stdin(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    key, secret = _delayed(sandbox, cli)
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert run_json(cli, "hooks", "verify", key, "--secret", "-")["status"] == "Verified"
    assert _status(sandbox, key) == "Verified"


def test_verify_with_secret_from_a_terminal_does_not_echo_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    key, secret = _delayed(sandbox, cli)
    monkeypatch.setattr("sys.stdin", Terminal(""))
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return secret

    monkeypatch.setattr("getpass.getpass", getpass)
    rc, out, err = run(cli, "hooks", "verify", key, "--secret", "-")
    assert rc == 0 and prompts == ["X-Hook-Secret: "]
    assert secret not in out + err
    assert _status(sandbox, key) == "Verified"


def test_verify_with_secret_env_keeps_it_out_of_argv(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    key, secret = _delayed(sandbox, cli)
    monkeypatch.setenv("HOOK_SECRET", secret)
    verified = run_json(cli, "hooks", "verify", key, "--secret-env", "HOOK_SECRET")
    assert verified["status"] == "Verified"


def test_verify_with_a_wrong_secret_fails_without_echoing_it(sandbox: Sandbox, cli: Cli) -> None:
    key, _ = _delayed(sandbox, cli)
    rc, out, err = run(cli, "hooks", "verify", key, "--secret", "not-the-secret-123")
    assert rc == 1 and out == ""
    _one_error_line(err)
    assert "not-the-secret-123" not in err
    assert _status(sandbox, key) == "Unverified"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--secret-env", "HOOK_SECRET"], "", "$HOOK_SECRET is not set"),
        (["--secret", "-"], "\n", "no secret on stdin"),
    ],
)
def test_a_missing_secret_fails_before_calling_keap(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str,
    message: str,
    cli: Cli,
) -> None:
    key, _ = _delayed(sandbox, cli)
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    sandbox.reset_stats()
    rc, _, err = run(cli, "hooks", "verify", key, *args)
    assert rc == 1 and message in _one_error_line(err)
    assert sandbox.stats()["calls"] == {}


# -- errors: one line, exit 1 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "999999"],
        ["update", "999999", "contact.add", "https://hooks.example.com/x"],
        ["delete", "999999", "--yes"],
        ["verify", "999999"],
        ["verify", "999999", "--secret", "s3cr3t-value"],
    ],
    ids=["get", "update", "delete", "verify", "delayed-verify"],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_an_unknown_key_is_one_line_and_exit_1(cli: Cli, argv: list[str], fmt: str) -> None:
    rc, out, err = run(cli, "hooks", *argv, "--format", fmt)
    assert (rc, out) == (1, "")
    line = _one_error_line(err)
    assert "999999" in line and "not found" in line
    assert len(err.strip().splitlines()) == 1
    assert "s3cr3t-value" not in err


def test_a_wrong_api_key_names_the_variable_to_check(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", "wrong-key-xyz")
    rc, out, err = run(cli, "hooks", "list")
    assert (rc, out) == (1, "")
    line = _one_error_line(err)
    assert "401" in line and "$KEAP_API_KEY" in line
    assert "wrong-key-xyz" not in err


def test_a_wrong_access_token_names_its_variable(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(SandboxSettings(api_key=None, access_token="right-token")) as sandbox:
        monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
        monkeypatch.delenv("KEAP_API_KEY")
        monkeypatch.setenv("KEAP_ACCESS_TOKEN", "wrong-token-abc")
        rc, _, err = run(cli, "hooks", "list")
        assert rc == 1 and "$KEAP_ACCESS_TOKEN" in _one_error_line(err)
        assert "wrong-token-abc" not in err
        monkeypatch.setenv("KEAP_ACCESS_TOKEN", "right-token")
        assert run_json(cli, "hooks", "list") == []


def test_no_credentials_at_all_names_both_variables_and_calls_nothing(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEAP_API_KEY")
    sandbox.reset_stats()
    rc, _, err = run(cli, "hooks", "types")
    line = _one_error_line(err)
    assert rc == 1 and "$KEAP_API_KEY" in line and "$KEAP_ACCESS_TOKEN" in line
    assert sandbox.stats()["calls"] == {}


@pytest.mark.usefixtures("fast_retries")
def test_an_unreachable_api_is_one_error_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    rc, out, err = run(cli, "hooks", "list")
    assert (rc, out) == (1, "")
    line = _one_error_line(err)
    assert "cannot connect" in line and CLOSED_PORT in line and "--api-url" in line


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    ("faults", "status", "calls"),
    [
        (Faults(error_rate=1.0), "HTTP 500", 1),  # not one of the statuses Keap's clients retry
        (Faults(html_error_rate=1.0), "HTTP 502", RetryPolicy().attempts),  # a gateway's page
    ],
)
def test_a_failing_server_is_one_error_line(
    sandbox: Sandbox, cli: Cli, faults: Faults, status: str, calls: int
) -> None:
    hook = _seed(sandbox)[0]
    sandbox.set_faults(faults)
    sandbox.reset_stats()
    rc, out, err = run(cli, "hooks", "get", hook.key)
    assert (rc, out) == (1, "")
    assert status in _one_error_line(err)
    assert "<html" not in err.lower()
    assert sandbox.stats()["calls"] == {"GET /hooks/{key}": calls}


def test_api_url_flag_overrides_the_environment(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(sandbox)
    # A closed port: only --api-url can make this list succeed.
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    assert len(run_json(cli, "hooks", "list", "--api-url", sandbox.api_url)) == 3


# -- the Python API, as the README shows it -----------------------------------------------------


def _readme_python_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README's Python API section has no python example"
    return match.group(1)


def test_the_readme_python_example_runs_as_written(sandbox: Sandbox) -> None:
    base = sandbox.receiver_url
    hooks = sandbox.seed(
        [
            ("contact.add", f"{base}/a", "Inactive"),
            ("contact.edit", f"{base}/a", "Verified"),
            ("order.add", f"{base}/b", "Inactive"),
        ]
    )
    exec(compile(_readme_python_example(), "README.md", "exec"), {})
    assert {h.key: h.status for h in sandbox.hooks()} == dict.fromkeys(
        (h.key for h in hooks), "Verified"
    )


def test_the_python_api_has_every_operation_the_readme_lists(sandbox: Sandbox) -> None:
    from hookctl import Hook as PublicHook
    from hookctl import Keap

    url = sandbox.receiver_url + "/api"
    with Keap() as keap:
        assert set(KNOWN_EVENT_KEYS) <= set(keap.event_types())
        created = keap.create("contact.add", url)
        assert isinstance(created, PublicHook) and created.status == "Verified"
        assert keap.get(created.key) == created
        assert keap.list() == [created]
        moved = keap.update(created.key, "contact.edit", url + "/2")
        assert (moved.key, moved.pair) == (created.key, ("contact.edit", url + "/2"))
        assert keap.verify(created.key).status == "Verified"
        delayed = keap.create("order.add", sandbox.receiver_url + "/delayed/api")
        secret = sandbox.last_secret(delayed.hook_url)
        assert delayed.status == "Unverified" and secret is not None
        assert keap.delayed_verify(delayed.key, secret).status == "Verified"
        keap.delete(created.key)
        assert [h.key for h in keap.list()] == [delayed.key]
    readme = README.read_text(encoding="utf-8")
    for name in ("event_types", "list", "get", "create", "update", "delete", "verify"):
        assert f"`{name}(" in readme
    assert "`delayed_verify(key, secret)`" in readme


def test_verify_fails_when_the_hook_stays_unverified(sandbox: Sandbox, cli: Cli) -> None:
    [hook] = sandbox.seed([("contact.add", "http://127.0.0.1:9/gone", "Unverified")])
    result = cli.run("hooks", "verify", hook.key, status=1)
    captured = result
    assert "Unverified" in captured.out and f"subscription {hook.key} is Unverified" in captured.err


def test_status_filter_takes_any_case_and_a_usage_error_is_not_changes_found(
    sandbox: Sandbox, cli: Cli
) -> None:
    sandbox.seed(
        [
            ("contact.add", f"{sandbox.receiver_url}/a", "Inactive"),
            ("contact.edit", f"{sandbox.receiver_url}/b", "Verified"),
        ]
    )
    listed = cli.run("hooks", "list", "--status", "inactive", "--format", "json")
    assert [h["status"] for h in json.loads(listed.out)] == ["Inactive"]
    # 2 means "changes found" (plan --detailed-exitcode, drift): usage errors are EX_USAGE.
    refused = cli.run("hooks", "list", "--status", "gone", status=64)
    assert "Verified, Unverified or Inactive" in refused.err
    cli.run(status=64)  # no command at all
    helped = cli.run("--help")
    assert "64   a command line hookctl cannot read" in helped.out


def test_hooks_with_a_file_use_its_account_and_name_them_when_there_are_several(
    sandbox: Sandbox,
    api_key: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KEAP_API_KEY")
    monkeypatch.delenv("KEAP_API_URL")
    monkeypatch.setenv("ACME_KEY", api_key)
    [hook] = sandbox.seed([("contact.add", f"{sandbox.receiver_url}/a?token=t-1", "Verified")])
    account = f"api_url: {sandbox.api_url}\n    credentials: {{api_key_env: ACME_KEY}}"
    one = tmp_path / "acme.yaml"
    hooks = "hooks:\n  - name: a\n    url: ${HOOK_A_URL}\n    events: [contact.add]\n"
    one.write_text(f"version: 1\naccount:\n  {account.replace('    ', '  ')}\n{hooks}")
    result = cli.run("hooks", "get", hook.key, "--reveal", "-f", str(one))
    assert hook.hook_url in result.out

    several = tmp_path / "clients.yaml"
    several.write_text(
        f"version: 1\naccounts:\n  acme:\n    {account}\n  globex:\n    {account}\n{hooks}"
    )
    result = cli.run("hooks", "list", "-f", str(several), status=1)
    assert "several accounts (acme, globex): name one" in result.err
    cli.run("hooks", "list", "-f", str(several), "--account", "globex")


def test_hooks_list_event_glob_has_the_hooks_yaml_meaning(
    sandbox: Sandbox,
    api_key: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    base = sandbox.receiver_url
    sandbox.seed(
        [
            ("invoice.add", f"{base}/a", "Verified"),
            ("invoice.payment.add", f"{base}/a", "Verified"),
        ]
    )
    result = cli.run("hooks", "list", "--event", "invoice.*")
    out = result.out
    assert "invoice.add" in out
    assert "invoice.payment.add" not in out
    result = cli.run("hooks", "list", "--event", "invoice.**")
    assert "invoice.payment.add" in result.out
