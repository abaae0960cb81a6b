"""`hookctl trigger` and `hookctl deliveries` against a live sandbox: the change behind an event,
Keap's delivery rules on the compressed clock, the delivery log, its live tail and resend."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
import requests
from helpers.cli import Cli

from hookctl.cli.commands import main
from hookctl.domain.models import KNOWN_EVENT_KEYS
from hookctl.receiver import OBJECT_COLLECTIONS
from hookctl.sandbox import Sandbox


def _events(sandbox: Sandbox) -> list[Any]:
    return [r.body for r in sandbox.received() if r.kind == "event"]


def _hooks_file(tmp_path: Path, sandbox: Sandbox, hooks: dict[str, str]) -> Path:
    """hooks.yaml owning everything under the sandbox's receiver; `hooks` maps a path below it
    (its first segment picks the receiver's behaviour) to one event key."""
    base = sandbox.receiver_url
    lines = [
        "version: 1",
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY",
        f"ownership:\n  url_prefixes: ['{base}/']",
        "hooks:",
    ]
    for path, event in hooks.items():
        name = path.replace("/", "-")
        lines.append(f"  - name: {name}\n    url: {base}/{path}\n    events: [{event}]")
    config = tmp_path / "hooks.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_a_triggered_contact_is_delivered_and_its_api_url_answers_with_the_hooks_credentials(
    env: Sandbox, api_key: str, cli: Cli
) -> None:
    env.seed([("contact.add", env.receiver_url + "/ok?token=s3cr3t-in-url", "Verified")])
    result = cli.run("trigger", "contact.add", "--set", "email=ada@example.com", status=None)
    code = result.status
    out = result.out
    assert code == 0
    assert "Triggered contact.add for 1 object" in out and "delivered after 1 attempt" in out
    assert "s3cr3t-in-url" not in out
    (payload,) = _events(env)
    (key,) = payload["object_keys"]
    assert key["apiUrl"] == f"{env.api_url}/contacts/{key['id']}"
    answer = requests.get(key["apiUrl"], headers={"X-Keap-API-Key": api_key}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["email_addresses"][0]["email"] == "ada@example.com"
    assert requests.get(key["apiUrl"], timeout=5).status_code == 401


@pytest.mark.parametrize("noun", sorted(OBJECT_COLLECTIONS))
def test_every_event_nouns_api_url_answers_with_its_object(
    sandbox: Sandbox, api_key: str, noun: str
) -> None:
    event_key = next(key for key in KNOWN_EVENT_KEYS if key.rsplit(".", 1)[0] == noun)
    sandbox.seed([(event_key, sandbox.receiver_url + "/any", "Verified")])
    sandbox.trigger(event_key, [{"name": "Made by the test"}])
    (payload,) = _events(sandbox)
    url = payload["object_keys"][0]["apiUrl"]
    answer = requests.get(url, headers={"X-Keap-API-Key": api_key}, timeout=5)
    assert answer.status_code == (404 if event_key.endswith(".delete") else 200)


def test_the_field_shape_has_an_empty_api_url_integer_ids_and_seconds(
    env: Sandbox, cli: Cli
) -> None:
    env.seed([("task.complete", env.receiver_url + "/tasks", "Verified")])
    cli.run("trigger", "task.complete", "--shape", "field", "--set", "priority:=3")
    (payload,) = _events(env)
    assert payload["api_url"] == ""
    (key,) = payload["object_keys"]
    assert key["apiUrl"] == "" and isinstance(key["id"], int)
    assert len(key["timestamp"]) == len("2018-03-29T10:55:37Z")
    assert env.objects.get("tasks", key["id"])["priority"] == 3  # type: ignore[index]


def test_count_makes_that_many_objects_delivered_in_batches_of_1000(env: Sandbox, cli: Cli) -> None:
    env.seed([("note.add", env.receiver_url + "/notes", "Verified")])
    cli.run("trigger", "note.add", "--count", "1500", "--format", "json")
    sizes = sorted(len(payload["object_keys"]) for payload in _events(env))
    assert sizes == [500, 1000]
    assert len(env.objects.list("notes")) == 1500


def test_a_fixture_file_of_ones_own_is_used_and_a_bad_one_is_one_line(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    env.seed([("company.add", env.receiver_url + "/companies", "Verified")])
    fixture = tmp_path / "company.yaml"
    fixture.write_text(
        "event: company.add\nobjects:\n  - company_name: One\n  - company_name: Two\n"
    )
    cli.run("trigger", "company.add", "--fixture", str(fixture))
    names = sorted(c["company_name"] for c in env.objects.list("companies"))
    assert names == ["One", "Two"]
    fixture.write_text("fields:\n  company_name: One\nobjects: []\nextra: 1\n")
    result = cli.run("trigger", "company.add", "--fixture", str(fixture), status=1)
    err = result.err
    assert f"{fixture}:3" in err and "Traceback" not in err
    assert len(env.objects.list("companies")) == 2


def test_410_deactivates_after_one_attempt_500_after_four_drift_says_so_and_apply_reverifies(
    env: Sandbox, tmp_path: Path, cli: Cli
) -> None:
    config = _hooks_file(tmp_path, env, {"gone-1/a": "contact.add", "flaky-4/b": "contact.edit"})
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert {h.status for h in env.hooks()} == {"Verified"}
    cli.run("trigger", "contact.add")
    cli.run("trigger", "contact.edit")
    attempts = {
        event: [r.status for r in env.deliveries.after(0) if r.event_key == event]
        for event in ("contact.add", "contact.edit")
    }
    assert attempts == {"contact.add": [410], "contact.edit": [500, 500, 500, 500]}
    assert {h.event_key: h.status for h in env.hooks()} == {
        "contact.add": "Inactive",
        "contact.edit": "Inactive",
    }
    result = cli.run("drift", "-f", str(config), status=2)
    drift = result.out
    assert "contact.add" in drift and "contact.edit" in drift
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert {h.status for h in env.hooks()} == {"Verified"}
    cli.run("drift", "-f", str(config))


def test_contact_group_applied_waits_keaps_five_to_ten_minutes_before_its_first_attempt(
    sandbox: Sandbox,
) -> None:
    sandbox.seed(
        [
            ("contactGroup.applied", sandbox.receiver_url + "/tags", "Verified"),
            ("contact.add", sandbox.receiver_url + "/contacts", "Verified"),
        ]
    )
    sandbox.trigger("contactGroup.applied", [{"name": "VIP"}])
    sandbox.trigger("contact.add", [{"given_name": "Ada"}])
    first = {r.event_key: r.delay_s for r in sandbox.deliveries.after(0) if r.attempt == 1}
    assert 300 <= first["contactGroup.applied"] <= 600
    assert 30 <= first["contact.add"] <= 60


def test_deliveries_lists_filters_and_resend_delivers_the_same_body_again(
    env: Sandbox, cli: Cli
) -> None:
    env.seed(
        [
            ("contact.add", env.receiver_url + "/ok", "Verified"),
            ("order.add", env.receiver_url + "/flaky-1/orders", "Verified"),
        ]
    )
    cli.run("trigger", "contact.add")
    cli.run("trigger", "order.add")
    result = cli.run("deliveries", "--failed", "--format", "json")
    (failed,) = json.loads(result.out)
    assert failed["event_key"] == "order.add" and failed["status"] == 500
    result = cli.run("deliveries", "--event", "contact.*")
    lines = result.out.splitlines()
    assert len(lines) == 2 and "contact.add" in lines[1]
    before = len(_events(env))
    result = cli.run("deliveries", "resend", str(failed["id"]))
    out = result.out
    assert f"(resend of {failed['id']})" in out and " 200 " in out
    assert len(_events(env)) == before + 1
    assert _events(env)[-1] == failed["body"]


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_deliveries_follow_is_woken_by_a_new_attempt_not_by_polling(
    sandbox: Sandbox, api_key: str
) -> None:
    sandbox.seed([("contact.add", sandbox.receiver_url + "/followed", "Verified")])
    environ = {**os.environ, "KEAP_API_URL": sandbox.api_url, "KEAP_API_KEY": api_key}
    follower = subprocess.Popen(
        [sys.executable, "-m", "hookctl", "deliveries", "--follow", "--format", "json"],
        stdout=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        assert follower.stdout is not None
        lines = _lines(follower.stdout)
        # The follower's first look finds nothing; it then waits in a long poll.
        for _ in range(3000):
            if sandbox.deliveries.polls or follower.poll() is not None:
                break
            threading.Event().wait(0.01)
        assert follower.poll() is None and sandbox.deliveries.polls > 0
        sandbox.trigger("contact.add", [{"given_name": "Followed"}])
        record = json.loads(lines.get(timeout=30))
        assert record["event_key"] == "contact.add" and record["status"] == 200
        # The poll it was waiting in was ended by the attempt: it shows as soon as it is made.
        assert sandbox.deliveries.woken == 1
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_sandbox_help_names_the_receiver_where_it_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a receiver at /_sandbox/receiver" in text and "at /receiver" not in text
    assert "--time-scale" in text and "/_sandbox/deliveries" in text


def test_more_than_10000_objects_at_once_are_refused_in_one_line_and_nothing_changes(
    env: Sandbox, cli: Cli
) -> None:
    result = cli.run("trigger", "contact.add", "--count", "10001", status=1)
    err = result.err
    assert "at most 10000 objects" in err and "Traceback" not in err
    assert env.objects.list("contacts") == []


def test_the_delivery_log_drops_its_oldest_attempts_past_its_bounds(sandbox: Sandbox) -> None:
    sandbox.seed([("contact.edit", sandbox.receiver_url + "/ok", "Verified")])
    for _ in range(11):
        sandbox.fire_event("contact.edit", list(range(10_000)))  # 10 batches of 1,000 each
    records = sandbox.deliveries.after(0)
    held = sum(len(r.body["object_keys"]) for r in records)
    assert held <= 100_000 and records[-1].id == 110
    assert records[0].id > 1
