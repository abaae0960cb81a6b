"""A fleet of hooks files in several layouts, and a reader of hooks files that holds a file
back until something has happened (bounded), to show what a run does while it still reads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import hookctl.config
from hookctl.config import Document
from hookctl.sandbox import Sandbox

# The longest a held file waits: far beyond what a listed account takes on loopback, so no
# load on this machine decides a test, and short enough that the old behaviour (nothing sent
# before every file is read) fails the test in seconds instead of hanging it.
HOLD_BOUND = 10.0


def one_account_file(
    path: Path, sandbox: Sandbox, entry: str, variable: str, name: str | None = None
) -> Path:
    """A hooks file of one account with one entry of its own (`name`: the account names
    itself)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    named = f"  name: {name}\n" if name else ""
    path.write_text(
        f"version: 1\naccount:\n{named}  api_url: {sandbox.api_url}\n"
        f"  credentials: {{api_key_env: {variable}}}\n"
        f"hooks:\n  - name: {entry}\n    url: {sandbox.receiver_url}/{entry}\n"
        "    events: [contact.add]\n"
    )
    return path


def clients(
    root: Path, sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> Path:
    """root/clients/cNN.yaml: `count` one-account files, each with its own key variable."""
    folder = root / "clients"
    for index in range(count):
        variable = f"KEY_C{index:02d}"
        monkeypatch.setenv(variable, api_key)
        one_account_file(folder / f"c{index:02d}.yaml", sandbox, f"c{index:02d}-contacts", variable)
    return folder


def mixed_fleet(
    root: Path, sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Every kind of file among several, as -f arguments: files named by their stem, two
    named by their directory that clash until a directory above is added (their names wait
    for every file), a file that names its account and one of `accounts:`."""
    for variable in ("KEY_ACME", "KEY_GLOBEX", "KEY_A", "KEY_B", "KEY_OWN", "KEY_EU", "KEY_US"):
        monkeypatch.setenv(variable, api_key)
    one_account_file(root / "clients/acme.yaml", sandbox, "acme-contacts", "KEY_ACME")
    one_account_file(root / "clients/globex.yaml", sandbox, "globex-contacts", "KEY_GLOBEX")
    one_account_file(root / "envs/a/staging/hooks.yaml", sandbox, "a-staging", "KEY_A")
    one_account_file(root / "envs/b/staging/hooks.yaml", sandbox, "b-staging", "KEY_B")
    one_account_file(root / "own/hooks.yaml", sandbox, "own-contacts", "KEY_OWN", name="named")
    (root / "regions.yaml").write_text(
        "version: 1\naccounts:\n"
        f"  eu: {{api_url: '{sandbox.api_url}', credentials: {{api_key_env: KEY_EU}}}}\n"
        f"  us: {{api_url: '{sandbox.api_url}', credentials: {{api_key_env: KEY_US}}}}\n"
        f"hooks:\n  - name: regions\n    url: {sandbox.receiver_url}/regions\n"
        "    events: [contact.add]\n"
    )
    paths = ("clients", "envs", "own", "regions.yaml")
    return [arg for path in paths for arg in ("-f", str(root / path))]


class HeldReads:
    """hooks files read through hookctl.config.read as always, except that the file whose
    name is `held` waits, before it is read, until `until()` is true (at most `bound`
    seconds). `happened` says whether it was, and `paths` every path read, in order."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        held: str,
        until: Callable[[], bool],
        bound: float = HOLD_BOUND,
    ) -> None:
        self.held = held
        self.until = until
        self.bound = bound
        self.happened: bool | None = None
        self.paths: list[str] = []
        self._read = hookctl.config.read
        self._lock = threading.Lock()
        monkeypatch.setattr(hookctl.config, "read", self.read)

    def read(
        self,
        path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        *,
        placeholders: bool = False,
    ) -> Document:
        with self._lock:
            self.paths.append(os.fspath(path))
        if os.path.basename(path) == self.held:
            deadline = time.monotonic() + self.bound
            while not self.until() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.happened = self.until()
        return self._read(path, env, placeholders=placeholders)


def listed(sandbox: Sandbox) -> Callable[[], bool]:
    """Whether the sandbox has been asked for an account's hooks."""
    return lambda: sandbox.stats()["calls"].get("GET /hooks", 0) > 0
