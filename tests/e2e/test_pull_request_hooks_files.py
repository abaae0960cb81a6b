"""A pull request's hooks.yaml is hostile input read next to the account's credentials: it
cannot interpolate a credential or any variable outside HOOK_*/HOOKS_*, every value it does
interpolate is hidden wherever it lands (path, host, event, query), fingerprints are keyed, and
no plan artifact holds a plain hash of a secret-derived value."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.witness import API_KEY, Witness

from hookctl.sandbox import Sandbox, SandboxSettings

PATH_TOKEN = "pathtok-739105"
HOST_LABEL = "hosttok-5521"
EVENT_VALUE = "eventtok-8812"
QUERY_TOKEN = "4821"


def _hostile(path: Path, receiver: str, extra: str = "") -> Path:
    path.write_text(
        "version: 1\n"
        f"ownership:\n  url_prefixes: ['{receiver}/']\n"
        "hooks:\n"
        "  - name: path\n"
        f"    url: {receiver}/slack/${{HOOK_PATH}}/x?key=${{HOOK_QUERY}}\n"
        "    events: [contact.add]\n" + extra
    )
    return path


def test_interpolated_values_never_show_in_path_host_event_or_query(
    witness: Witness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file, summary = tmp_path / "plan.json", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("HOOK_PATH", PATH_TOKEN)
    monkeypatch.setenv("HOOK_QUERY", QUERY_TOKEN)
    monkeypatch.setenv("HOOK_HOST", HOST_LABEL)
    monkeypatch.setenv("HOOK_EVENT", EVENT_VALUE)
    with Sandbox(SandboxSettings(api_key=API_KEY)) as sb:
        witness.sandbox = sb
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv("KEAP_API_KEY", API_KEY)
        config = str(_hostile(tmp_path / "hooks.yaml", sb.receiver_url))
        run = witness.run
        run(0, "validate", "-f", config)
        run(0, "plan", "-f", config, "--out", str(plan_file))
        run(0, "plan", "-f", config, "--format", "markdown")
        run(0, "plan", "-f", config, "--format", "json")
        run(0, "plan", "-f", config, "--probe", "--format", "markdown")
        run(0, "probe", "-f", config)
        run(0, "apply", str(plan_file), "--auto-approve")
        run(0, "hooks", "list")
        # An event and a host built from variables: refused or shown, never in clear.
        bad_event = _hostile(
            tmp_path / "event.yaml",
            sb.receiver_url,
            "  - name: e\n    url: http://${HOOK_HOST}.localhost:9/x\n"
            "    events: ['${HOOK_EVENT}']\n",
        )
        run(1, "validate", "--offline", "-f", str(bad_event))
        run(1, "plan", "-f", str(bad_event), "--format", "markdown")
        witness.assert_nothing_shows(
            plan_file, summary, also=(PATH_TOKEN, HOST_LABEL, EVENT_VALUE, "key=4821")
        )


@pytest.mark.parametrize(
    ("where", "body"),
    [
        ("url path", "url: http://127.0.0.1:9/collect/${KEAP_API_KEY}\n    events: [contact.add]"),
        ("event", "url: http://127.0.0.1:9/a\n    events: ['${KEAP_API_KEY}']"),
        ("default", "url: http://127.0.0.1:9/${KEAP_API_KEY:-x}\n    events: [contact.add]"),
        ("named credential", "url: http://127.0.0.1:9/${HOOK_KEY}\n    events: [contact.add]"),
        ("other variable", "url: http://127.0.0.1:9/${GITHUB_TOKEN}\n    events: [contact.add]"),
    ],
)
def test_a_credential_or_a_variable_outside_hook_prefixes_is_refused_and_never_shown(
    where: str, body: str, witness: Witness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEAP_API_KEY", API_KEY)
    monkeypatch.setenv("HOOK_KEY", API_KEY)
    monkeypatch.setenv("GITHUB_TOKEN", API_KEY)
    credentials = "account:\n  credentials:\n    api_key_env: HOOK_KEY\n"
    config = tmp_path / "hooks.yaml"
    config.write_text(f"version: 1\n{credentials}hooks:\n  - name: a\n    {body}\n")
    out = witness.run(1, "validate", "--offline", "-f", str(config))
    assert re.search(r"hooks\.yaml:\d+:\d+: hooks\[0\]\.(url|events)", out), out
    assert "credential" in out or "HOOK_* or HOOKS_*" in out
    assert API_KEY not in out


def test_fingerprints_are_keyed_and_a_saved_plan_holds_no_plain_hash_of_a_value(
    env: Sandbox, witness: Witness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_PATH", PATH_TOKEN)
    monkeypatch.setenv("HOOK_QUERY", QUERY_TOKEN)
    config = _hostile(tmp_path / "hooks.yaml", env.receiver_url)
    plan_file = tmp_path / "plan.json"
    shown = witness.run(0, "plan", "-f", str(config), "--out", str(plan_file))
    plain = hashlib.sha256(QUERY_TOKEN.encode()).hexdigest()
    assert "key=***(" in shown
    assert f"***({plain[:6]})" not in shown
    saved = plan_file.read_text()
    url = f"{env.receiver_url}/slack/{PATH_TOKEN}/x?key={QUERY_TOKEN}"
    for value in (QUERY_TOKEN, PATH_TOKEN, url):
        digest = hashlib.sha256(value.encode()).hexdigest()
        assert digest[:6] not in saved, value
    document = json.loads(saved)
    assert document["config_digest"].startswith("hmac-sha256:")
    assert document["live_fingerprint"].startswith("hmac-sha256:")
    # Another key (another repository's credentials) gives other fingerprints.
    monkeypatch.setenv("HOOKCTL_FINGERPRINT_KEY", "another repository")
    again = witness.run(0, "plan", "-f", str(config))
    fingerprints = re.findall(r"\*\*\*\(([0-9a-f]{6})\)", shown)
    assert fingerprints and not set(fingerprints) & set(
        re.findall(r"\*\*\*\(([0-9a-f]{6})\)", again)
    )


def test_the_api_url_pinned_outside_the_file_wins_over_the_pull_requests(
    env: Sandbox, witness: Witness, tmp_path: Path
) -> None:
    # The file's api_url is a closed loopback port: had the key gone there, plan would fail.
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\naccount:\n  api_url: http://127.0.0.1:9/steal\n"
        f"hooks:\n  - name: a\n    url: {env.receiver_url}/a\n    events: [contact.add]\n"
    )
    witness.run(0, "plan", "-f", str(config))
    witness.run(0, "plan", "-f", str(config), "--api-url", env.api_url)


def test_a_saved_plan_made_in_one_process_applies_in_another_with_its_own_key(
    env: Sandbox, api_key: str, tmp_path: Path
) -> None:
    """The digests are keyed with the account's own credential, whatever its variable is
    called, so plan and apply agree across processes; another key makes the plan stale."""
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\naccount:\n  credentials:\n    api_key_env: CLIENT_KEY\n"
        f"hooks:\n  - name: a\n    url: {env.receiver_url}/a?token=${{HOOK_TOKEN}}\n"
        "    events: [contact.add]\n"
    )
    plan_file = tmp_path / "plan.json"
    child = {**os.environ, "CLIENT_KEY": api_key, "HOOK_TOKEN": "739105"}
    child.pop("KEAP_API_KEY", None)

    def hookctl(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hookctl", *argv],
            env={**child, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert hookctl("plan", "-f", str(config), "--out", str(plan_file)).returncode == 0
    other = hookctl("apply", str(plan_file), "--auto-approve", HOOKCTL_FINGERPRINT_KEY="x")
    assert other.returncode == 1 and "stale plan" in other.stderr
    applied = hookctl("apply", str(plan_file), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert len(env.hooks()) == 1
