"""Builders of desired states, live hooks and plans, for the planner, render and planfile tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from hookctl.domain.models import (
    DesiredState,
    Hook,
    Ownership,
    Safety,
    Status,
    Subscription,
)
from hookctl.domain.planner import (
    Plan,
    plan,
)

BASE = "https://hooks.example.com"
CONTACTS = f"{BASE}/keap/contacts"
BILLING = f"{BASE}/keap/billing"
ZAPIER = "https://hooks.zapier.com/hooks/catch/1/abc"


def desired_state(
    entries: dict[str, tuple[str, Iterable[str]]],
    *,
    prefixes: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
    all: bool = False,
    safety: Safety | None = None,
) -> DesiredState:
    """A desired state as the loader builds it: {name: (url, events)}."""
    subs = frozenset(
        Subscription(event, url, name)
        for name, (url, events) in entries.items()
        for event in events
    )
    ownership = Ownership(
        declared_urls=frozenset(url for url, _ in entries.values()),
        url_prefixes=prefixes,
        ignore=ignore,
        all=all,
    )
    return DesiredState(subs, ownership, safety=safety or Safety())


def hook(key: str | int, event: str, url: str, status: Status = "Verified") -> Hook:
    return Hook(str(key), event, url, status)


def sample_state() -> tuple[DesiredState, list[Hook]]:
    """The desired state and live hooks `sample_plan` is made from."""
    desired = desired_state(
        {
            "contact-sync": (CONTACTS, ["contact.add", "contact.edit", "contact.delete"]),
            "billing": (BILLING, ["invoice.add"]),
        },
        prefixes=(f"{BASE}/",),
    )
    live = [
        hook(1, "contact.add", CONTACTS),
        hook(2, "contact.edit", CONTACTS, "Inactive"),
        hook(3, "invoice.add", f"{BASE}/old/billing", "Unverified"),
        hook(4, "order.add", f"{BASE}/old/orders"),
        hook(5, "contact.add", CONTACTS, "Unverified"),
        hook(6, "contact.add", ZAPIER),
    ]
    return desired, live


def sample_plan() -> Plan:
    """A plan with every kind of change, an unchanged and an unmanaged hook."""
    return plan(*sample_state())


def plan_schema() -> dict[str, Any]:
    text = resources.files("hookctl.schemas").joinpath("plan.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
