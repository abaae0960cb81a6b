"""What the end-to-end CLI tests share besides conftest's fixtures: hookctl run in this process
(conftest's `cli` fixture), hooks.yaml files for a sandbox, seeded accounts, a fake terminal."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import hookctl.keap.transport
import hookctl.keap.waits
from hookctl.cli.commands import main
from hookctl.sandbox import Sandbox

_real_pause = hookctl.keap.waits.pause
# The longest a test lets hookctl really sleep in one wait (see Cli._pause).
LONGEST_WAIT = 20.0

ROOT = Path(__file__).resolve().parents[2]
# Nothing listens on port 9 (discard), so a connection there is refused at once.
CLOSED_PORT = "http://127.0.0.1:9/crm/rest/v1"

# url paths below the sandbox receiver, each with its event keys (write_config's `hooks`).
MANY = {f"managed/r{i}": ["contact.add", "contact.edit", "order.add"] for i in range(4)}
TWO = {"managed/contacts": ["contact.add", "contact.edit"], "managed/orders": ["order.add"]}


@dataclass(frozen=True)
class Result:
    """What one hookctl command printed and its exit status."""

    out: str
    err: str
    status: int
    # Every wait hookctl asked for (Retry-After, the pacer, --max-rate), in seconds: tests
    # bound these, not the wall time, so that a loaded machine cannot fail them.
    waits: tuple[float, ...] = ()

    @property
    def waited(self) -> float:
        return sum(self.waits)

    @property
    def shown(self) -> str:
        """Everything a person at the terminal saw (stdout, then stderr)."""
        return self.out + self.err

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("hookctl: error:")]


class Cli:
    """hookctl run in this process as the console script runs it: `run` returns what the
    command printed (only that command: earlier output is dropped) and its exit status, which
    it checks against `status` unless that is None."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys = capsys
        self._monkeypatch = monkeypatch
        self._waits: list[float] = []
        for module in (hookctl.keap.waits, hookctl.keap.transport):
            monkeypatch.setattr(module, "pause", self._pause)

    def _pause(self, seconds: float) -> None:
        # Recorded, then slept (Ctrl-C still ends it), but never past LONGEST_WAIT: a wait
        # that should not have been started fails the test's bound instead of hanging it.
        self._waits.append(seconds)
        _real_pause(min(seconds, LONGEST_WAIT))

    def run(self, *argv: str, status: int | None = 0, stdin: str | None = None) -> Result:
        """`stdin` is what the user types (None: leave sys.stdin as it is, e.g. a tty's)."""
        if stdin is not None:
            self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self._capsys.readouterr()
        self._waits.clear()
        try:
            got = main(list(argv))
        except SystemExit as stopped:  # usage errors and --help, as the console script ends
            # The exit status the interpreter would give: None is 0, a message is 1.
            code = stopped.code
            got = code if isinstance(code, int) else 0 if code is None else 1
        captured = self._capsys.readouterr()
        result = Result(captured.out, captured.err, got, tuple(self._waits))
        if status is not None:
            assert got == status, f"hookctl {' '.join(argv)} -> {got}:\n{result.shown}"
        return result


class Terminal(io.StringIO):
    """A stdin, stdout or stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Tty(Protocol):
    """conftest's tty fixture: puts a Terminal in place of sys.<stream> and returns it."""

    def __call__(self, stream: str, typed: str = "") -> Terminal: ...


# Every JSON Schema in schemas/, by name.
NAMES = ("hooks", "plan", "drift", "accounts", "report", "fixture")


def schema(name: str) -> dict[str, Any]:
    """schemas/NAME.schema.json, as the checkout has it."""
    loaded: dict[str, Any] = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    return loaded


def validator(name: str) -> Draft202012Validator:
    """A validator for schemas/NAME; the drift schema refers to the plan schema by its $id."""
    schema, plan = (
        json.loads((ROOT / "schemas" / n).read_text()) for n in (name, "plan.schema.json")
    )
    registry: Registry = Registry().with_resource(plan["$id"], Resource.from_contents(plan))
    return Draft202012Validator(schema, registry=registry)


def write_config(
    tmp_path: Path,
    sandbox: Sandbox,
    hooks: dict[str, list[str]],
    *,
    extra: str = "",
    name: str = "hooks.yaml",
) -> Path:
    """hooks.yaml managing everything under the sandbox receiver's /managed/ prefix; `hooks`
    maps a url path (below the receiver) to its event keys."""
    base = sandbox.receiver_url
    lines = [
        "version: 1",
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY",
        f"ownership:\n  url_prefixes: ['{base}/managed/']",
        extra,
    ]
    if hooks:
        lines.append("hooks:")
        for path, events in hooks.items():
            lines.append(
                f"  - name: {path.replace('/', '-')}\n    url: {base}/{path}\n"
                f"    events: [{', '.join(events)}]"
            )
    else:
        lines.append("hooks: []")
    config = tmp_path / name
    config.write_text("\n".join(line for line in lines if line) + "\n")
    return config


def writes(sandbox: Sandbox) -> dict[str, int]:
    return {call: n for call, n in sandbox.stats()["calls"].items() if not call.startswith("GET")}


def seed_every_kind_of_change(sandbox: Sandbox) -> dict[str, str]:
    """A live account against which TWO plans one change of each action; returns their keys."""
    base = f"{sandbox.receiver_url}/managed"
    moved, unverified, stale = sandbox.seed(
        [
            ("contact.add", f"{base}/old-contacts", "Verified"),  # receiver moved: update
            ("order.add", f"{base}/orders", "Unverified"),  # declared, not Verified: verify
            ("note.add", f"{base}/stale", "Verified"),  # no longer declared: delete
        ]
    )
    return {"update": moved.key, "verify": unverified.key, "delete": stale.key}


def seed_managed(sandbox: Sandbox, count: int) -> None:
    sandbox.seed(
        [("contact.add", f"{sandbox.receiver_url}/managed/n{i}", "Verified") for i in range(count)]
    )
