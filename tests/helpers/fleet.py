"""Fleets for the fleet page's tests: many accounts' results made by the real planner from
generated desired states and live hooks, without a server per account."""

from __future__ import annotations

from collections.abc import Iterable

from helpers.plans import BASE, desired_state, hook
from hookctl.domain.models import Hook, Status
from hookctl.domain.planner import plan
from hookctl.formats.html import AccountRow

SECRET = "tok-FLEET-SECRET-9f2c"
HOSTILE = "\"'></td></tr><script>alert(1)</script><img src=x onerror=alert(2)>"
STATUSES: tuple[Status, ...] = ("Verified", "Inactive", "Unverified")


def account(index: int, *, hostile: bool = False) -> AccountRow:
    """Account `index` of a fleet: every 7th failed, every 3rd drifted by `index % 5 + 1`
    changes (creates and a delete, and a verify of each of its Inactive or Unverified
    hooks), the rest in sync; urls carry a token in the query. `hostile`: the label, urls and
    error hold markup that must show as text."""
    tag = HOSTILE if hostile else ""
    label = f"client-{index:03d}{tag}"
    source = f"clients/client-{index:03d}.yaml"
    if index % 7 == 6:
        error = f"Keap answered 500: {tag}upstream said no for {BASE}/x?token={SECRET}"
        return AccountRow(label, source, None, error=error, seconds=0.1 + index / 1000)
    url = f"{BASE}/c{index}{tag}?token={SECRET}"
    drift = index % 5 + 1 if index % 3 == 0 else 0
    entries: dict[str, tuple[str, Iterable[str]]] = {
        f"e{n}": (f"{url}&n={n}", ["contact.add"]) for n in range(3 + drift)
    }
    desired = desired_state(entries, prefixes=(f"{BASE}/",))
    live: list[Hook] = [
        hook(f"{index}-{n}", "contact.add", f"{url}&n={n}", _status(index, n, drift))
        for n in range(3)
    ]
    if drift:
        live.append(hook(f"{index}-gone", "order.add", f"{BASE}/gone{index}{tag}"))
    return AccountRow(
        label,
        source,
        plan(desired, live),
        live=tuple(live),
        quota_available=None if index % 4 == 0 else 5000 - index,
        quota_limit=None if index % 4 == 0 else 5000,
        seconds=0.05 + (index % 11) / 100,
    )


def _status(index: int, n: int, drift: int) -> Status:
    # Unhealthy hooks are verified by the plan, so only drifted accounts have them.
    return STATUSES[(index + n) % 3] if drift and n else "Verified"


def fleet(count: int, *, hostile: bool = False) -> list[AccountRow]:
    return [account(index, hostile=hostile) for index in range(count)]
