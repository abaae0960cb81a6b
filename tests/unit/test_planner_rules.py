"""The planner's rules, one example each (properties over random states are in
test_planner_properties.py). The builders at the top are shared with the render and planfile
tests."""

from __future__ import annotations

import random

import pytest
from helpers.plans import (
    BASE,
    BILLING,
    CONTACTS,
    ZAPIER,
    desired_state,
    hook,
    sample_plan,
    sample_state,
)

from hookctl.domain.models import (
    DesiredState,
    Hook,
    Ownership,
    Safety,
    Status,
    Subscription,
    key_order,
)
from hookctl.domain.planner import (
    Create,
    Delete,
    Update,
    Verify,
    plan,
)
from hookctl.errors import PlanError, UnsafePlanError
from hookctl.formats.documents import change_from_dict, change_to_dict

# -- create, verify, unchanged -----------------------------------------------------------------


def test_a_declared_pair_keap_does_not_have_is_created() -> None:
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), [])
    assert result.changes == (
        Create(
            "contact-sync",
            "declared by 'contact-sync' and not in Keap",
            None,
            Subscription("contact.add", CONTACTS, "contact-sync"),
        ),
    )
    assert result.changes[0].key is None
    assert result.summary()["create"] == 1


def test_a_verified_declared_pair_is_unchanged_and_the_plan_empty() -> None:
    live = [hook(7, "contact.add", CONTACTS)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    assert not result.has_changes
    assert result.unchanged == tuple(live)
    assert result.summary() == {
        "create": 0,
        "update": 0,
        "verify": 0,
        "delete": 0,
        "unchanged": 1,
        "unmanaged": 0,
    }


@pytest.mark.parametrize("status", ["Unverified", "Inactive"])
def test_a_declared_pair_that_is_not_verified_is_verified(status: Status) -> None:
    live = [hook(7, "contact.add", CONTACTS, status)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    (change,) = result.changes
    assert isinstance(change, Verify)
    assert (change.name, change.key, change.status) == ("contact-sync", "7", status)
    assert change.reason.startswith(f"{status}:")
    assert result.unchanged == ()


# -- updates ------------------------------------------------------------------------------------


def test_a_receiver_that_moved_is_updated_in_place_not_deleted_and_created() -> None:
    new_url = f"{BASE}/v2/contacts"
    live = [hook(7, "contact.add", CONTACTS)]
    result = plan(
        desired_state({"contact-sync": (new_url, ["contact.add"])}, prefixes=(f"{BASE}/",)), live
    )
    (change,) = result.changes
    assert isinstance(change, Update)
    assert (change.key, change.event_key, change.hook_url) == ("7", "contact.add", new_url)
    assert (change.old_event_key, change.old_hook_url) == ("contact.add", CONTACTS)
    assert change.diff == (("hook_url", CONTACTS, new_url),)
    assert change.reason.startswith("receiver moved")


def test_an_event_changed_on_the_same_url_is_updated_in_place() -> None:
    live = [hook(7, "contact.add", CONTACTS)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.edit"])}), live)
    (change,) = result.changes
    assert isinstance(change, Update)
    assert change.diff == (("event_key", "contact.add", "contact.edit"),)
    assert change.reason.startswith("event changed")


def test_same_event_pairing_comes_before_same_url_pairing() -> None:
    # The orphan (contact.add, old) could become (contact.add, CONTACTS) by its event or
    # (contact.edit, old) by its url; the event wins, and the other pair is created.
    old = f"{BASE}/old"
    desired = desired_state(
        {"contact-sync": (CONTACTS, ["contact.add"]), "legacy": (old, ["contact.edit"])}
    )
    result = plan(desired, [hook(7, "contact.add", old)])
    assert [(c.action, c.key, c.event_key, c.hook_url) for c in result.changes] == [
        ("create", None, "contact.edit", old),
        ("update", "7", "contact.add", CONTACTS),
    ]


def test_update_pairing_takes_the_oldest_key_first_whatever_the_list_order() -> None:
    desired = desired_state(
        {"a": (f"{BASE}/a", ["contact.add"]), "b": (f"{BASE}/b", ["contact.add"])},
        prefixes=(f"{BASE}/",),
    )
    live = [hook(10, "contact.add", f"{BASE}/old1"), hook(9, "contact.add", f"{BASE}/old2")]
    results = {plan(desired, order) for order in (live, live[::-1])}
    assert len(results) == 1
    (result,) = results
    # Keys sort numerically: 9 is older than 10 and takes the first declared pair.
    assert [(c.key, c.hook_url) for c in result.changes] == [
        ("9", f"{BASE}/a"),
        ("10", f"{BASE}/b"),
    ]


@pytest.mark.parametrize("status", ["Unverified", "Inactive"])
def test_an_updated_hook_gets_no_separate_verify(status: Status) -> None:
    live = [hook(7, "contact.add", CONTACTS, status)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.edit"])}), live)
    assert [c.action for c in result.changes] == ["update"]
    assert result.changes[0].status == status


def test_an_unmanaged_hook_is_never_taken_for_an_update() -> None:
    live = [hook(7, "contact.add", ZAPIER)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    assert [c.action for c in result.changes] == ["create"]
    assert result.unmanaged == tuple(live)


# -- deletes ------------------------------------------------------------------------------------


def test_an_undeclared_event_on_a_declared_url_is_deleted_naming_the_entry() -> None:
    live = [hook(7, "contact.add", CONTACTS), hook(8, "contact.delete", CONTACTS)]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    (change,) = result.changes
    assert isinstance(change, Delete)
    assert (change.name, change.key) == (None, "8")
    assert "'contact-sync'" in change.reason


def test_an_undeclared_hook_under_a_managed_prefix_is_deleted() -> None:
    live = [hook(8, "order.add", f"{BASE}/gone")]
    result = plan(desired_state({"c": (CONTACTS, ["contact.add"])}, prefixes=(f"{BASE}/",)), live)
    assert [(c.action, c.key) for c in result.changes] == [("create", None), ("delete", "8")]
    assert f"prefix {BASE}/" in result.changes[1].reason


def test_with_ownership_all_every_undeclared_hook_is_deleted_but_ignored_ones() -> None:
    live = [hook(8, "order.add", "https://elsewhere.example.net/x"), hook(9, "order.add", ZAPIER)]
    desired = desired_state(
        {"c": (CONTACTS, ["contact.add"])}, all=True, ignore=("https://hooks.zapier.com/*",)
    )
    result = plan(desired, live)
    deletes = [c for c in result.changes if isinstance(c, Delete)]
    assert [c.key for c in deletes] == ["8"]
    assert "ownership.all" in deletes[0].reason
    assert result.unmanaged == (live[1],)


def test_duplicates_keep_the_verified_copy_and_delete_the_rest() -> None:
    live = [
        hook(1, "contact.add", CONTACTS, "Unverified"),
        hook(2, "contact.add", CONTACTS, "Verified"),
        hook(3, "contact.add", CONTACTS, "Verified"),
    ]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    assert result.unchanged == (live[1],)
    assert [(c.action, c.key, c.name) for c in result.changes] == [
        ("delete", "1", "contact-sync"),
        ("delete", "3", "contact-sync"),
    ]
    assert all("duplicate of key 2" in c.reason for c in result.changes)


def test_duplicates_without_a_verified_copy_keep_the_oldest_and_verify_it() -> None:
    live = [
        hook(10, "contact.add", CONTACTS, "Unverified"),
        hook(9, "contact.add", CONTACTS, "Inactive"),
    ]
    result = plan(desired_state({"contact-sync": (CONTACTS, ["contact.add"])}), live)
    assert [(c.action, c.key) for c in result.changes] == [("verify", "9"), ("delete", "10")]


# -- unmanaged ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options"),
    [
        (ZAPIER, {}),  # another integration's url, no ownership section
        (f"{BASE}/other", {}),  # same host, but neither declared nor under a prefix
        (f"{BASE}/other", {"prefixes": (f"{BASE}/keap/",)}),
        (f"{BASE}/keap/manual", {"prefixes": (f"{BASE}/",), "ignore": ("*/manual",)}),
        (ZAPIER, {"all": True, "ignore": ("https://hooks.zapier.com/*",)}),
    ],
)
def test_unmanaged_hooks_are_reported_and_never_changed(
    url: str, options: dict[str, object]
) -> None:
    live = [hook(5, "contact.add", url, "Inactive"), hook(6, "contact.add", url, "Inactive")]
    result = plan(desired_state({"c": (CONTACTS, ["contact.add"])}, **options), live)  # type: ignore[arg-type]
    assert result.unmanaged == tuple(live)
    assert {c.key for c in result.changes} == {None}
    assert result.managed_count == 0


def test_a_declared_url_is_managed_even_if_ownership_does_not_list_it() -> None:
    desired = DesiredState(frozenset({Subscription("contact.add", CONTACTS, "c")}), Ownership())
    result = plan(desired, [hook(1, "contact.add", CONTACTS), hook(2, "contact.edit", CONTACTS)])
    assert [(c.action, c.key) for c in result.changes] == [("delete", "2")]
    assert result.managed_count == 2


# -- safety ------------------------------------------------------------------------------------


def _prefix_state(declared: int, safety: Safety | None = None) -> DesiredState:
    return desired_state(
        {f"h{i}": (f"{BASE}/h{i}", ["contact.add"]) for i in range(declared)},
        prefixes=(f"{BASE}/",),
        safety=safety,
    )


def _live(count: int) -> list[Hook]:
    return [hook(i, "contact.add", f"{BASE}/h{i}") for i in range(count)]


def test_deleting_more_than_30_percent_of_managed_hooks_is_refused_without_force() -> None:
    result = plan(_prefix_state(6), _live(10))
    assert result.summary()["delete"] == 4
    with pytest.raises(UnsafePlanError) as refused:
        result.check_safety()
    message = str(refused.value)
    assert "delete 4 of 10 managed subscriptions (40%, limit 30%)" in message
    assert "--force" in message and "\n" not in message
    result.check_safety(force=True)


def test_deleting_exactly_30_percent_is_allowed() -> None:
    plan(_prefix_state(7), _live(10)).check_safety()


def test_updating_more_than_30_percent_is_refused_without_force() -> None:
    desired = desired_state(
        {
            f"h{i}": (f"{BASE}/h{i}", ["contact.edit" if i < 4 else "contact.add"])
            for i in range(10)
        },
        prefixes=(f"{BASE}/",),
    )
    result = plan(desired, _live(10))
    assert result.summary()["update"] == 4
    with pytest.raises(UnsafePlanError, match=r"update 4 of 10 .*\(40%, limit 30%\)"):
        result.check_safety()
    result.check_safety(force=True)


def test_both_ratios_are_named_when_both_are_exceeded() -> None:
    desired = desired_state(
        {f"h{i}": (f"{BASE}/h{i}", ["contact.edit"]) for i in range(4)}, prefixes=(f"{BASE}/",)
    )
    with pytest.raises(UnsafePlanError, match=r"delete 6 of 10 .* and update 4 of 10"):
        plan(desired, _live(10)).check_safety()


def test_below_min_existing_the_ratios_are_not_checked() -> None:
    result = plan(_prefix_state(1), _live(9))
    assert result.summary()["delete"] == 8
    result.check_safety()


def test_thresholds_come_from_the_desired_state() -> None:
    strict = Safety(min_existing=2, max_delete_ratio=0.1, max_update_ratio=0.1)
    with pytest.raises(UnsafePlanError, match=r"delete 1 of 4 .*\(25%, limit 10%\)"):
        plan(_prefix_state(3, strict), _live(4)).check_safety()
    lenient = Safety(max_delete_ratio=1.0)
    plan(_prefix_state(1, lenient), _live(20)).check_safety()


def test_an_empty_desired_state_deletes_nothing_without_allow_empty_even_with_force() -> None:
    result = plan(_prefix_state(0), _live(3))
    assert result.summary()["delete"] == 3
    for force in (False, True):
        with pytest.raises(UnsafePlanError, match="declares no hooks at all; use --allow-empty"):
            result.check_safety(force=force)
    result.check_safety(allow_empty=True)


def test_an_empty_desired_state_with_nothing_to_delete_is_fine() -> None:
    plan(_prefix_state(0), [hook(1, "contact.add", ZAPIER)]).check_safety()


# -- ordering and determinism -------------------------------------------------------------------


def test_changes_come_in_apply_order_each_group_by_key() -> None:
    result = sample_plan()
    assert [(c.action, c.key) for c in result.changes] == [
        ("create", None),  # contact.delete on CONTACTS
        ("update", "3"),  # invoice.add moved to BILLING
        ("verify", "2"),
        ("delete", "4"),
        ("delete", "5"),
    ]
    assert result.unchanged == (hook(1, "contact.add", CONTACTS),)
    assert result.unmanaged == (hook(6, "contact.add", ZAPIER),)
    assert (result.managed_count, result.declared_count) == (5, 4)


def test_keys_sort_numerically_within_a_group() -> None:
    live = [hook(k, "order.add", f"{BASE}/x{k}") for k in (100, 9, 10)]
    result = plan(desired_state({}, prefixes=(f"{BASE}/",)), live)
    assert [c.key for c in result.changes] == ["9", "10", "100"]


def test_the_plan_does_not_depend_on_the_order_keap_lists_hooks() -> None:
    reference = sample_plan()
    live = list(reference.live_hooks())
    desired = desired_state(
        {
            "contact-sync": (CONTACTS, ["contact.add", "contact.edit", "contact.delete"]),
            "billing": (BILLING, ["invoice.add"]),
        },
        prefixes=(f"{BASE}/",),
    )
    rng = random.Random(4)
    for _ in range(5):
        rng.shuffle(live)
        assert plan(desired, live) == reference


def test_key_order_is_numeric_for_integer_keys_and_total_otherwise() -> None:
    keys = ["10", "abc", "9", "0010", "1" * 5000, "2", "B", "٣"]
    # Equal numbers (10 and 0010) fall back to the text, so the order stays total.
    assert sorted(keys, key=key_order) == ["2", "9", "0010", "10", "1" * 5000, "B", "abc", "٣"]


# -- inputs the loader should have refused ------------------------------------------------------


def test_a_pair_declared_by_two_entries_is_refused() -> None:
    desired = DesiredState(
        frozenset(
            {Subscription("contact.add", CONTACTS, "a"), Subscription("contact.add", CONTACTS, "b")}
        ),
        Ownership(),
    )
    with pytest.raises(PlanError, match="declared twice, by 'a' and 'b'"):
        plan(desired, [])


def test_a_declared_url_that_ownership_ignores_is_refused() -> None:
    desired = desired_state({"c": (CONTACTS, ["contact.add"])}, ignore=(f"{BASE}/*",))
    with pytest.raises(PlanError, match=r"ownership\.ignore matches it"):
        plan(desired, [])


def test_a_key_listed_twice_by_keap_is_refused() -> None:
    with pytest.raises(PlanError, match="key '7' twice"):
        plan(desired_state({}), [hook(7, "contact.add", ZAPIER), hook(7, "contact.edit", ZAPIER)])


# -- the plan as data ---------------------------------------------------------------------------


def test_live_hooks_gives_back_every_hook_the_plan_was_made_from() -> None:
    result = sample_plan()
    assert [h.key for h in result.live_hooks()] == ["1", "2", "3", "4", "5", "6"]
    assert hook(3, "invoice.add", f"{BASE}/old/billing", "Unverified") in result.live_hooks()


def test_each_change_carries_the_live_hook_it_touches_and_the_pair_it_makes_true() -> None:
    desired, live = sample_state()
    create, update, verify, moved, duplicate = plan(desired, live).changes
    declared = {sub.pair: sub for sub in desired.subscriptions}
    assert create.existing is None
    assert create.desired is declared[("contact.delete", CONTACTS)]
    assert update.existing is live[2] and update.desired is declared[("invoice.add", BILLING)]
    assert verify.existing is live[1] and verify.desired is declared[("contact.edit", CONTACTS)]
    assert (moved.existing, moved.desired, moved.name) == (live[3], None, None)
    # A duplicate copy names the entry that declares its pair but makes nothing true.
    assert (duplicate.existing, duplicate.desired) == (live[4], None)
    assert duplicate.name == "contact-sync"
    # The attributes the JSON documents show are read from the two states.
    assert isinstance(update, Update)
    assert (update.key, update.status, update.old_hook_url) == ("3", "Unverified", live[2].hook_url)
    assert (update.event_key, update.hook_url) == ("invoice.add", BILLING)
    assert (moved.key, moved.event_key, moved.hook_url) == ("4", *live[3].pair)
    assert (create.key, create.status) == (None, None)


def test_every_change_survives_its_dict_round_trip() -> None:
    changes = sample_plan().changes
    assert {c.action for c in changes} == {"create", "update", "verify", "delete"}
    assert tuple(change_from_dict(change_to_dict(c)) for c in changes) == changes


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"action": "rename"}, "unknown action"),
        ({"status": "Gone"}, "unknown status"),
        ({"diff": []}, "does not match its fields"),
    ],
)
def test_a_change_dict_that_does_not_add_up_is_refused(
    edit: dict[str, object], message: str
) -> None:
    update = next(c for c in sample_plan().changes if isinstance(c, Update))
    with pytest.raises(ValueError, match=message):
        change_from_dict({**change_to_dict(update), **edit})


# -- url tokens: rotation, and never stripped by accident -------------------------------------


def test_a_url_differing_only_in_its_token_is_a_rotation_of_the_same_entry() -> None:
    # Without any ownership section: the live url with the old token is still this entry's.
    live = [hook(3, "invoice.add", f"{BILLING}?token=old&v=2")]
    result = plan(desired_state({"billing": (f"{BILLING}?token=new&v=2", ["invoice.add"])}), live)
    [change] = result.changes
    assert isinstance(change, Update) and change.rotation
    assert change.reason.startswith("rotate token: ")
    assert "old" not in change.reason.replace("***", "") and result.summary()["unmanaged"] == 0


def test_another_query_parameter_or_path_is_not_a_rotation() -> None:
    live = [hook(3, "invoice.add", f"{BILLING}?key=old"), hook(4, "invoice.add", f"{CONTACTS}?t=1")]
    result = plan(desired_state({"billing": (f"{BILLING}?token=new", ["invoice.add"])}), live)
    assert [c.action for c in result.changes] == ["create"]
    assert result.summary()["unmanaged"] == 2


@pytest.mark.parametrize("declared", [f"{BILLING}?token=", BILLING, f"{BILLING}?token=x#"])
def test_an_update_that_removes_or_empties_a_live_token_is_refused(declared: str) -> None:
    live = [hook(3, "invoice.add", f"{BILLING}?token=live#frag")]
    desired = desired_state({"billing": (declared, ["invoice.add"])}, prefixes=(BASE,))
    result = plan(desired, live)
    with pytest.raises(UnsafePlanError, match="entry 'billing'"):
        result.check_safety()
    result.check_safety(force=True)  # --force lets it through
    allowed = Safety(url_stripping=frozenset({"billing"}))
    plan(
        desired_state({"billing": (declared, ["invoice.add"])}, prefixes=(BASE,), safety=allowed),
        live,
    ).check_safety()


def test_the_refusal_names_the_variables_the_url_is_built_with() -> None:
    live = [hook(3, "invoice.add", f"{BILLING}?token=live")]
    safety = Safety(url_variables=(("billing", ("HOOK_BILLING_TOKEN",)),))
    desired = desired_state({"billing": (f"{BILLING}?token=", ["invoice.add"])}, safety=safety)
    with pytest.raises(UnsafePlanError, match="HOOK_BILLING_TOKEN") as refused:
        plan(desired, live).check_safety()
    assert "live" not in str(refused.value).replace("live url", "")


def test_an_emptied_token_is_not_shown_as_a_rotation() -> None:
    live = [hook(3, "invoice.add", f"{BILLING}?token=live")]
    [change] = plan(
        desired_state({"billing": (f"{BILLING}?token=", ["invoice.add"])}), live
    ).changes
    assert isinstance(change, Update) and not change.rotation
    assert change.reason.startswith("token removed: ")
