"""Extra copies of a declared pair are exempt from the safety brake only up to a bound: an
answer listing 20,000 copies of one pair is refused without --force, not 19,999 deletes."""

from __future__ import annotations

import pytest
from helpers.plans import CONTACTS, desired_state, hook

from hookctl.domain.planner import plan
from hookctl.errors import UnsafePlanError


def test_twenty_thousand_copies_of_one_pair_are_refused_without_force() -> None:
    desired = desired_state({"c": (CONTACTS, ["contact.add"])})
    live = [hook(key, "contact.add", CONTACTS) for key in range(1, 20_001)]
    the_plan = plan(desired, live)
    assert the_plan.count("delete") == 19_999
    with pytest.raises(UnsafePlanError, match="19999 extra copies of one"):
        the_plan.check_safety()
    the_plan.check_safety(force=True)


def test_a_copy_per_declared_subscription_after_racing_applies_still_passes() -> None:
    events = ["contact.add", "contact.edit", "contact.delete", "invoice.add"]
    desired = desired_state({"c": (CONTACTS, events)})
    live = [
        hook(2 * i + copy, event, CONTACTS) for i, event in enumerate(events) for copy in (1, 2)
    ]
    the_plan = plan(desired, live)
    assert the_plan.count("delete") == len(events)
    the_plan.check_safety()


def test_up_to_min_existing_copies_pass_and_one_more_is_refused() -> None:
    desired = desired_state({"c": (CONTACTS, ["contact.add"])})
    passes = plan(desired, [hook(key, "contact.add", CONTACTS) for key in range(1, 12)])
    assert passes.count("delete") == 10
    passes.check_safety()
    refused = plan(desired, [hook(key, "contact.add", CONTACTS) for key in range(1, 13)])
    with pytest.raises(UnsafePlanError, match="limit 10"):
        refused.check_safety()
