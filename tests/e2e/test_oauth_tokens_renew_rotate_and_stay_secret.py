"""OAuth2 as Keap runs it, through the CLI against the sandbox's token endpoint: seeded once
from KEAP_REFRESH_TOKEN, kept in a 0600 token file, renewed on expiry or a 401 with the
rotated refresh token, one refresh between processes racing, and never a token shown."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers.cli import Cli
from helpers.clocks import ManualClock

from hookctl.cli.commands import main
from hookctl.keap.client import Keap
from hookctl.keap.oauth import OAuthAuth
from hookctl.sandbox import Sandbox


def _secrets(token_file: Path) -> list[str]:
    kept = json.loads(token_file.read_text()) if token_file.exists() else {}
    seed = os.environ.get("KEAP_REFRESH_TOKEN", "-" * 30)
    values = [seed, os.environ["KEAP_CLIENT_SECRET"]]
    return [*values, kept.get("access_token", "-" * 30), kept.get("refresh_token", "-" * 30)]


def _run(cli: Cli, token_file: Path, *argv: str) -> tuple[int, str]:
    result = cli.run(*argv, status=None)
    for value in _secrets(token_file):
        assert value[:8] not in result.shown
    return result.status, result.shown


def test_the_first_run_seeds_the_token_file_with_the_rotated_pair(
    sandbox: Sandbox, app: Path, cli: Cli
) -> None:
    seed = os.environ["KEAP_REFRESH_TOKEN"]
    # Every log line too: no token value at -vvv either.
    code, shown = _run(cli, app, "-vvv", "hooks", "list")
    assert code == 0
    assert "renewed" in shown
    assert sandbox.tokens.refreshes == 1
    assert stat.S_IMODE(app.stat().st_mode) == 0o600
    kept = json.loads(app.read_text())
    assert kept["refresh_token"] != seed
    assert kept["access_token"]


def test_the_next_run_uses_the_kept_access_token_without_refreshing(
    sandbox: Sandbox, app: Path, cli: Cli
) -> None:
    assert _run(cli, app, "hooks", "list")[0] == 0
    kept = app.read_text()
    assert _run(cli, app, "hooks", "list")[0] == 0
    assert sandbox.tokens.refreshes == 1
    assert app.read_text() == kept


def test_after_a_401_the_kept_refresh_token_renews_the_pair(
    sandbox: Sandbox, app: Path, cli: Cli
) -> None:
    assert _run(cli, app, "hooks", "list")[0] == 0
    first = json.loads(app.read_text())
    sandbox.tokens.expire_all()  # a day later, on Keap's clock
    assert _run(cli, app, "hooks", "list")[0] == 0
    second = json.loads(app.read_text())
    assert sandbox.tokens.refreshes == 2
    assert second["refresh_token"] != first["refresh_token"]
    assert sandbox.stats()["responses"]["401"] == 1


def test_an_expired_access_token_is_renewed_before_it_is_sent(sandbox: Sandbox, app: Path) -> None:
    # A day passes at once on both clocks, Keap's (it stops accepting the token) and the
    # client's (it sees the token expire): no sleep, and no run slow enough to outlive a token.
    keap_clock, our_clock = ManualClock(), ManualClock(start=time.time())
    sandbox.set_clock(keap_clock)
    seed = os.environ["KEAP_REFRESH_TOKEN"]
    token_url = os.environ["KEAP_TOKEN_URL"]
    credential = OAuthAuth(
        "sandbox-client", "sandbox-secret", app, token_url, seed, clock=our_clock
    )
    with Keap(sandbox.api_url, auth=credential) as keap:
        keap.list()
        lifetime = json.loads(app.read_text())["lifetime"]
        for clock in (keap_clock, our_clock):
            clock.advance(lifetime + 1)
        keap.list()
    assert sandbox.tokens.refreshes == 2
    assert "401" not in sandbox.stats()["responses"]


def test_a_spent_refresh_token_is_one_line_saying_how_to_get_a_new_one(
    sandbox: Sandbox, app: Path, cli: Cli
) -> None:
    assert _run(cli, app, "hooks", "list")[0] == 0
    app.unlink()  # the seed in the environment was spent by that first run
    code, shown = _run(cli, app, "hooks", "list")
    assert code == 1
    assert len(shown.strip().splitlines()) == 1
    assert "invalid_grant" in shown
    assert "spent" in shown
    assert "hookctl auth login" in shown
    assert "Traceback" not in shown


def test_two_processes_at_once_both_succeed_with_one_refresh(sandbox: Sandbox, app: Path) -> None:
    command = [sys.executable, "-m", "hookctl", "hooks", "list", "--format", "json"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert sandbox.tokens.refreshes == 1
    for _, out, err in results:
        for value in _secrets(app):
            assert value[:8] not in out + err


def test_an_api_key_comes_before_an_oauth_app(
    sandbox: Sandbox,
    app: Path,
    api_key: str,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    assert _run(cli, app, "hooks", "list")[0] == 0
    assert sandbox.tokens.refreshes == 0
    assert not app.exists()


def test_auth_login_status_and_refresh(
    sandbox: Sandbox,
    app: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    monkeypatch.delenv("KEAP_REFRESH_TOKEN")
    said = cli.run("auth", "status", status=1).err  # no app credentials to start from
    # A client id and secret alone: the app was never logged in, and that is the advice.
    assert "KEAP_REFRESH_TOKEN" in said and "run `hookctl auth login`" in said
    code = requests.post(sandbox.url + "/_sandbox/oauth/code", timeout=5).json()["code"]
    login, shown = _run(cli, app, "auth", "login", f"--code={code}")
    assert login == 0
    assert str(app) in shown
    assert code[:8] not in shown
    assert sandbox.tokens.refreshes == 0
    status, shown = _run(cli, app, "auth", "status")
    assert status == 0
    assert "valid" in shown and str(app) in shown
    before = json.loads(app.read_text())
    refreshed, shown = _run(cli, app, "auth", "refresh")
    assert refreshed == 0
    assert sandbox.tokens.refreshes == 1
    for value in before.values():
        assert str(value)[:8] not in shown
    assert _run(cli, app, "hooks", "list")[0] == 0
    # The code was good once.
    again, shown = _run(cli, app, "auth", "login", f"--code={code}")
    assert again == 1 and "invalid_grant" in shown


def test_auth_login_catches_the_redirect_on_a_loopback_port(
    sandbox: Sandbox, app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redirect = f"http://127.0.0.1:{port}/callback"
    code = requests.post(sandbox.url + "/_sandbox/oauth/code", timeout=5).json()["code"]
    result: list[int] = []
    login = threading.Thread(
        target=lambda: result.append(
            main(["auth", "login", "--redirect-uri", redirect, "--timeout", "20"])
        )
    )
    login.start()
    deadline = time.monotonic() + 10
    printed = ""
    while "state=" not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
        printed += capsys.readouterr().out
    state = printed.split("state=", 1)[1].split()[0]
    assert "accounts.infusionsoft.com" in printed
    for _ in range(50):
        try:
            requests.get(redirect, params={"code": code, "state": state}, timeout=5)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    login.join(timeout=30)
    assert result == [0]
    assert json.loads(app.read_text())["access_token"]


def test_hooks_yaml_names_the_oauth_variables_of_an_account(
    sandbox: Sandbox,
    api_key: str,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "shop-tokens.json"
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)  # the file names the app: the key is not used
    monkeypatch.setenv("KEAP_TOKEN_URL", sandbox.url + "/token")
    monkeypatch.setenv("SHOP_ID", "sandbox-client")
    monkeypatch.setenv("SHOP_SECRET", "sandbox-secret")
    monkeypatch.setenv("SHOP_REFRESH", sandbox.tokens.new_refresh_token())
    monkeypatch.setenv("SHOP_TOKENS", str(token_file))
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\naccount:\n  credentials:\n    oauth:\n      client_id_env: SHOP_ID\n"
        "      client_secret_env: SHOP_SECRET\n      refresh_token_env: SHOP_REFRESH\n"
        "      token_file_env: SHOP_TOKENS\n"
        f"ownership:\n  url_prefixes: ['{sandbox.receiver_url}/managed/']\nhooks: []\n"
    )
    cli.run("plan", "-f", str(config))
    assert sandbox.tokens.refreshes == 1
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    config.write_text(config.read_text().replace("client_id_env: SHOP_ID", "client_secret: x1"))
    result = cli.run("plan", "-f", str(config), status=1)
    err = result.err
    assert "hooks.yaml:5" in err and "client_secret" in err


def test_two_accounts_of_two_oauth_apps_on_one_url_are_not_taken_for_one(
    sandbox: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\naccounts:\n"
        f"  shop:\n    api_url: {sandbox.api_url}\n"
        "    credentials: {oauth: {client_id_env: SHOP_ID, token_file_env: SHOP_TOKENS}}\n"
        f"  blog:\n    api_url: {sandbox.api_url}\n"
        "    credentials: {oauth: {client_id_env: BLOG_ID, token_file_env: BLOG_TOKENS}}\n"
        "hooks: []\n"
    )
    result = cli.run("validate", "-f", str(config), "--offline")
    assert "same credentials" not in result.err
