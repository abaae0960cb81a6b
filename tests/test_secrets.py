"""No command ever shows a credential or a hook secret: not on stdout, stderr, in logs or files."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from hookctl.cli import main
from hookctl.sandbox import Sandbox

API_KEY = "sk-SECRET-API-KEY-5e1d7a"
TOKEN = "oauth-SECRET-TOKEN-c04b9f"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["-vv", *argv])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_no_command_shows_the_key_the_token_or_a_hook_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with Sandbox(api_key=API_KEY, access_token=TOKEN) as sb:
        config = tmp_path / "hooks.yaml"
        config.write_text(
            "version: 1\naccount:\n  credentials:\n    api_key_env: KEAP_API_KEY\n"
            f"hooks:\n  - name: contacts\n    url: {sb.receiver_url}/contacts\n"
            "    events: [contact.add, contact.edit]\n"
        )
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv("KEAP_API_KEY", API_KEY)
        plan_file = tmp_path / "plan.json"
        delayed = f"{sb.receiver_url}/delayed/x"
        commands = [
            ["validate", "-f", str(config)],
            ["plan", "-f", str(config), "--out", str(plan_file)],
            ["apply", str(plan_file), "-f", str(config), "--auto-approve"],
            ["drift", "-f", str(config), "--format", "json"],
            ["hooks", "types"],
            ["hooks", "list", "--format", "json"],
            ["hooks", "create", "contact.delete", delayed],
            ["hooks", "get", "1"],
            ["hooks", "update", "1", "contact.add", f"{sb.receiver_url}/contacts"],
            ["hooks", "verify", "1"],
            ["hooks", "get", "999"],
        ]
        for argv in commands:
            seen.append(run(argv, capsys)[1])
        key = next(h.key for h in sb.hooks() if h.hook_url == delayed)
        secret = sb.last_secret(delayed)
        assert secret
        monkeypatch.setenv("HOOK_SECRET", secret)
        status, output = run(["hooks", "verify", key, "--secret-env", "HOOK_SECRET"], capsys)
        assert status == 0
        seen.append(output)
        status, output = run(["hooks", "verify", key, "--secret", "wrong-" + secret], capsys)
        assert status == 1
        seen.append(output)
        seen.append(run(["hooks", "delete", key, "--yes"], capsys)[1])
        seen.append(plan_file.read_text())
        assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600

        # Authentication failures, with a key and with a token...
        monkeypatch.setenv("KEAP_API_KEY", API_KEY + "-revoked")
        status, output = run(["plan", "-f", str(config)], capsys)
        assert status == 1 and "KEAP_API_KEY" in output
        seen.append(output)
        monkeypatch.delenv("KEAP_API_KEY")
        monkeypatch.setenv("KEAP_ACCESS_TOKEN", TOKEN + "-expired")
        status, output = run(["hooks", "list"], capsys)
        assert status == 1 and "KEAP_ACCESS_TOKEN" in output
        seen.append(output)
    # ...and a network failure.
    monkeypatch.setenv("KEAP_API_URL", "http://127.0.0.1:9/crm/rest/v1")
    monkeypatch.setenv("KEAP_API_KEY", API_KEY)
    status, output = run(["drift", "-f", str(config)], capsys)
    assert status == 1
    seen.append(output)

    everything = "\n".join(seen) + caplog.text
    # -vv sends the debug log to stderr, which is part of what was captured.
    assert "hookctl: DEBUG: GET /hooks -> 200" in everything
    for value in (API_KEY, TOKEN, secret):
        assert value not in everything
