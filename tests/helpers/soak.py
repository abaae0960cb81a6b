"""Accounts under hand-made changes, for the soak, crash and concurrency tests."""

from __future__ import annotations

import contextlib
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from helpers.cli import Cli
from hookctl.domain.models import Hook
from hookctl.keap.client import Keap, RetryPolicy
from hookctl.sandbox import Sandbox, SandboxSettings

API_KEY = "reliability-key-0c5e"
EVENTS = ("contact.add", "contact.edit", "contact.delete", "invoice.add", "order.add", "task.add")
# Other integrations' hooks: another host, another team's path on our host, and hooks under our
# own prefix that hooks.yaml tells hookctl to leave alone (ownership.ignore).
FOREIGN_URLS = (
    "https://hooks.zapier.com/hooks/catch/{n}/",
    "{receiver}/other-team/{n}",
    "{base}/legacy/{n}",
)


def write_config(path: Path, base: str, entries: int) -> frozenset[tuple[str, str]]:
    """hooks.yaml with `entries` hooks of one to three events; returns the declared pairs."""
    lines = [
        "version: 1",
        "ownership:",
        f"  url_prefixes: ['{base}/']",
        f"  ignore: ['{base}/legacy/*']",
        "hooks:",
    ]
    wanted = set()
    for i in range(entries):
        events = [EVENTS[(i + j) % len(EVENTS)] for j in range(1 + i % 3)]
        lines += [f"  - name: e{i}", f"    url: {base}/e{i}", f"    events: [{', '.join(events)}]"]
        wanted |= {(event, f"{base}/e{i}") for event in events}
    path.write_text("\n".join(lines) + "\n")
    return frozenset(wanted)


def _pick(account: Account, rng: random.Random, managed: bool) -> Hook | None:
    hooks = [h for h in account.hooks() if account.managed(h.hook_url) == managed]
    return rng.choice(hooks) if hooks else None


def _foreign_url(account: Account, rng: random.Random) -> str:
    receiver = account.sandbox.receiver_url
    n = rng.randint(0, 10**6)
    return rng.choice(FOREIGN_URLS).format(n=n, receiver=receiver, base=account.base)


def _delete(account: Account, rng: random.Random) -> bool:
    hook = _pick(account, rng, managed=True)
    if hook is not None:
        account.hand.delete(hook.key)
    return hook is not None


def _move(account: Account, rng: random.Random) -> bool:
    """Someone points a hook at another url of ours by hand (a PUT)."""
    hook = _pick(account, rng, managed=True)
    if hook is not None:
        url = f"{account.base}/moved-{rng.randint(0, 99)}"
        account.hand.update(hook.key, hook.event_key, url)
    return hook is not None


def _retarget(account: Account, rng: random.Random) -> bool:
    """Someone changes a hook's event by hand (a PUT)."""
    hook = _pick(account, rng, managed=True)
    if hook is not None:
        account.hand.update(hook.key, rng.choice(EVENTS), hook.hook_url)
    return hook is not None


def _disown(account: Account, rng: random.Random) -> bool:
    """Someone repoints one of our hooks at another tool: from then on it is not ours."""
    hook = _pick(account, rng, managed=True)
    if hook is not None:
        account.hand.update(hook.key, hook.event_key, _foreign_url(account, rng))
    return hook is not None


def _duplicate(account: Account, rng: random.Random) -> bool:
    hook = _pick(account, rng, managed=True)
    if hook is None:
        return False
    if rng.random() < 0.5:
        account.hand.create(hook.event_key, hook.hook_url)
    else:
        status = rng.choice(("Verified", "Unverified", "Inactive"))
        account.sandbox.seed([(hook.event_key, hook.hook_url, status)])
    return True


def _deactivate(account: Account, rng: random.Random) -> bool:
    """What Keap does after failed deliveries (a status no API call can set)."""
    hook = _pick(account, rng, managed=True)
    if hook is not None:
        account.sandbox.set_status(hook.key, rng.choice(("Inactive", "Unverified")))
    return hook is not None


def _stale(account: Account, rng: random.Random) -> bool:
    """A hook of ours that hooks.yaml does not declare."""
    account.hand.create(rng.choice(EVENTS), f"{account.base}/old-{rng.randint(0, 99)}")
    return True


def _foreign(account: Account, rng: random.Random) -> bool:
    account.hand.create(rng.choice(EVENTS), _foreign_url(account, rng))
    return True


def _foreign_edit(account: Account, rng: random.Random) -> bool:
    """Another integration changes its own hook."""
    hook = _pick(account, rng, managed=False)
    if hook is not None:
        account.hand.update(hook.key, rng.choice(EVENTS), _foreign_url(account, rng))
    return hook is not None


_CHANGES: dict[str, Callable[[Account, random.Random], bool]] = {
    "delete": _delete,
    "move": _move,
    "retarget": _retarget,
    "disown": _disown,
    "duplicate": _duplicate,
    "deactivate": _deactivate,
    "stale": _stale,
    "foreign": _foreign,
    "foreign-edit": _foreign_edit,
}
_ACTIONS = tuple(_CHANGES)


def spend_throttle_budget(account: Account) -> None:
    """Another integration on the same Keap tenant uses up the budget: the next call is 429."""
    with requests.Session() as neighbour:
        neighbour.headers["X-Keap-API-Key"] = API_KEY
        for _ in range(200):
            if neighbour.get(account.sandbox.api_url + "/hooks", timeout=5).status_code == 429:
                return
    raise AssertionError("the throttle never answered 429")


SLOW = bool(os.environ.get("HOOKCTL_SLOW"))
SLOW_ONLY = (pytest.mark.slow, pytest.mark.skipif(not SLOW, reason="long run: HOOKCTL_SLOW=1"))


@dataclass
class Account:
    """A sandbox account, the hooks.yaml that manages part of it, and a `hand` that changes
    it the way people and other integrations do (through Keap's API, never through faults)."""

    sandbox: Sandbox
    config: Path
    base: str
    wanted: frozenset[tuple[str, str]]
    hand: Keap
    cli: Cli

    def apply(self, *extra: str) -> int:
        """`hookctl apply` of the account's hooks.yaml, in this process; its exit status."""
        # --force: random hand-made changes may exceed the 30% safety ratio; the soak is about
        # convergence, and the thresholds have tests of their own.
        argv = ["apply", "-f", str(self.config), "--auto-approve", "--force", *extra]
        return self.cli.run(*argv, status=None).status

    def managed(self, url: str) -> bool:
        """The ownership rule of the config, written out here rather than asked of hookctl."""
        return url.startswith(self.base + "/") and not url.startswith(self.base + "/legacy/")

    def hooks(self) -> list[Hook]:
        return self.sandbox.hooks()

    def unmanaged(self) -> frozenset[Hook]:
        return frozenset(h for h in self.hooks() if not self.managed(h.hook_url))

    def declared_counts(self) -> Counter[tuple[str, str]]:
        return Counter(h.pair for h in self.hooks() if h.pair in self.wanted)

    def assert_no_harm(
        self, unmanaged: frozenset[Hook], counts: Counter[tuple[str, str]], when: str
    ) -> None:
        """What must hold after any run, even one that failed or was killed."""
        assert self.unmanaged() == unmanaged, f"{when}: an unmanaged subscription was touched"
        grown = {pair: n for pair, n in self.declared_counts().items() if n > max(counts[pair], 1)}
        assert not grown, f"{when}: hookctl added a duplicate of {grown}"

    def assert_converged(self, unmanaged: frozenset[Hook], when: str) -> None:
        managed = [h for h in self.hooks() if self.managed(h.hook_url)]
        counts = Counter(h.pair for h in managed)
        assert set(counts) == self.wanted, f"{when}: managed pairs differ from hooks.yaml"
        duplicates = {pair: n for pair, n in counts.items() if n > 1}
        assert not duplicates, f"{when}: duplicates survived: {duplicates}"
        assert all(h.status == "Verified" for h in managed), f"{when}: not all Verified"
        assert self.unmanaged() == unmanaged, f"{when}: an unmanaged subscription was touched"


@contextlib.contextmanager
def open_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, name: str, entries: int = 6
) -> Iterator[Account]:
    """A fresh sandbox holding the converged hooks.yaml plus a few foreign subscriptions."""
    with Sandbox(SandboxSettings(api_key=API_KEY)) as sb:
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv("KEAP_API_KEY", API_KEY)
        base = f"{sb.receiver_url}/{name}"
        config = tmp_path / "hooks.yaml"
        wanted = write_config(config, base, entries)
        fast = RetryPolicy(attempts=3, backoff_base=0.01, total_seconds=5)
        with Keap(sb.api_url, env={"KEAP_API_KEY": API_KEY}, retry=fast) as hand:
            account = Account(sb, config, base, wanted, hand, cli)
            for n, status in enumerate(("Verified", "Inactive", "Unverified")):
                url = FOREIGN_URLS[n].format(n=n, receiver=sb.receiver_url, base=base)
                sb.seed([("contact.add", url, status)])
            assert account.apply() == 0
            yield account


def hand_made_changes(account: Account, rng: random.Random, count: int) -> list[str]:
    """`count` random changes of the kinds people and other tools make; returns their names.
    The first one always deletes a declared subscription, so every round has a create to do."""
    done = []
    for i in range(count):
        action = "delete" if i == 0 else rng.choice(_ACTIONS)
        if _CHANGES[action](account, rng):
            done.append(action)
    return done
