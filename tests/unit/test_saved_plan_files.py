"""Saved plan files: round trip, 0600 and atomic writes, refusal of edited or foreign files,
the digest of the desired state, and the comparison with the plan apply makes again (staleness
against the config and the live account, and changes that are not the current plan's)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers.plans import BASE, CONTACTS, desired_state, hook, plan_schema, sample_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookctl.domain.models import Account, Hook, Safety
from hookctl.domain.planner import Plan, plan
from hookctl.engine import planfile
from hookctl.engine.planfile import (
    SavedPlan,
    desired_digest,
    ensure_fresh,
    fingerprint,
    read,
    write,
)
from hookctl.engine.selection import check_saved_account
from hookctl.errors import PlanError, StalePlanError
from hookctl.formats.documents import hook_to_dict, plan_document
from hookctl.version import __version__

API_URL = "http://127.0.0.1:8080/crm/rest/v1"
DIGEST = "3f" * 32


def save(path: Path, the_plan: Plan | None = None, **overrides: Any) -> Plan:
    the_plan = the_plan or sample_plan()
    options: dict[str, Any] = {
        "config_digest": DIGEST,
        "live_fingerprint": fingerprint(the_plan.live_hooks()),
        "source": "hooks.yaml",
        "api_url": API_URL,
        **overrides,
    }
    write(path, the_plan, **options)
    return the_plan


def rewrite(path: Path, edit: Callable[[dict[str, Any]], None], *, reseal: bool = False) -> None:
    document = json.loads(path.read_text())
    edit(document)
    if reseal:  # what someone who knows the format could do; the content checks still apply
        document.pop("checksum")
        document["checksum"] = planfile._checksum(document)
    path.write_text(json.dumps(document))


# -- round trip ---------------------------------------------------------------------------------


def test_a_saved_plan_reads_back_as_the_same_plan_with_its_context(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    strict = Safety(min_existing=3, max_update_ratio=0.5, max_delete_ratio=0.25)
    original = plan(
        desired_state(
            {"c": (CONTACTS, ["contact.add", "contact.edit"])},
            prefixes=(f"{BASE}/",),
            safety=strict,
        ),
        [hook(1, "contact.add", CONTACTS, "Inactive"), hook(2, "order.add", f"{BASE}/x")],
    )
    save(path, original)
    saved = read(path)
    assert list(saved.changes) == plan_document(original)["changes"]
    assert list(saved.seen) == [hook_to_dict(h) for h in original.live_hooks()]
    assert saved.summary == original.summary()
    assert (saved.config_digest, saved.source, saved.api_url, saved.path) == (
        DIGEST,
        "hooks.yaml",
        API_URL,
        str(path),
    )
    assert saved.live_fingerprint == fingerprint(original.live_hooks())
    assert saved.hookctl_version == __version__
    assert saved.created_at.endswith("Z")


def test_the_sample_plan_with_every_kind_of_change_round_trips(tmp_path: Path) -> None:
    original = save(tmp_path / "plan.json")
    saved = read(tmp_path / "plan.json")
    assert list(saved.changes) == plan_document(original)["changes"]
    # What it saw, the subscriptions its changes touch included, for explaining staleness.
    assert list(saved.seen) == [hook_to_dict(h) for h in original.live_hooks()]
    ensure_fresh(saved, original, DIGEST, original.live_hooks(), api_url=API_URL)


def test_a_plan_file_is_the_json_plan_plus_its_context(tmp_path: Path) -> None:
    import jsonschema

    save(tmp_path / "plan.json")
    document = json.loads((tmp_path / "plan.json").read_text())
    jsonschema.Draft202012Validator(plan_schema()).validate(document)
    assert document["format_version"] == 2
    assert document["checksum"].startswith("sha256:")


# -- how it is written --------------------------------------------------------------------------


def test_plan_files_are_readable_by_the_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    path.chmod(0o644)
    previous = os.umask(0)
    try:
        save(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_writing_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    save(tmp_path / "plan.json")
    save(tmp_path / "plan.json")
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_write_into_a_missing_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"missing-dir/plan\.json: cannot write the plan file"):
        save(tmp_path / "missing-dir" / "plan.json")


def test_a_failed_write_keeps_the_old_plan_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "plan.json"
    save(target)
    before = target.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PlanError, match=r"plan\.json: cannot write the plan file: No space left"):
        save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


@pytest.mark.parametrize(
    "api_url",
    [
        "https://user:hunter2@api.infusionsoft.com/crm/rest/v1",
        "https://api.infusionsoft.com/crm/rest/v1?access_token=hunter2",
    ],
)
def test_an_api_url_carrying_credentials_is_never_written(tmp_path: Path, api_url: str) -> None:
    with pytest.raises(PlanError) as refused:
        save(tmp_path / "plan.json", api_url=api_url)
    assert "hunter2" not in str(refused.value)
    assert not (tmp_path / "plan.json").exists()


def test_a_fingerprint_of_other_hooks_is_a_caller_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="live_fingerprint"):
        save(tmp_path / "plan.json", live_fingerprint=fingerprint([]))


# -- what is refused ----------------------------------------------------------------------------


def _edit_url(document: dict[str, Any]) -> None:
    document["changes"][0]["hook_url"] = "https://attacker.example.net/"


def _add_change(document: dict[str, Any]) -> None:
    document["changes"].append({**document["changes"][-1], "key": "99"})


def _drop_change(document: dict[str, Any]) -> None:
    del document["changes"][0]


def _raise_threshold(document: dict[str, Any]) -> None:
    document["safety"]["max_delete_ratio"] = 1.0


@pytest.mark.parametrize("edit", [_edit_url, _add_change, _drop_change, _raise_threshold])
def test_a_plan_edited_by_hand_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> None:
    path = tmp_path / "plan.json"
    save(path)
    rewrite(path, edit)
    with pytest.raises(
        PlanError, match=r"plan\.json: the plan file was changed after hookctl wrote it"
    ):
        read(path)


def test_even_a_reformatted_plan_is_accepted_as_long_as_its_content_is_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.json"
    original = save(path)
    rewrite(path, lambda document: None)  # compact, reordered whitespace
    ensure_fresh(read(path), original, DIGEST, original.live_hooks())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_add_change, "its summary does not match its changes"),
        (lambda d: d["changes"][0].update(action="explode"), r"not a valid plan file: changes/0"),
        (lambda d: d.update(managed_count="all"), "not a valid plan file: managed_count"),
    ],
)
def test_a_resealed_plan_must_still_add_up(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = tmp_path / "plan.json"
    save(path)
    rewrite(path, edit, reseal=True)
    with pytest.raises(PlanError, match=message):
        read(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not JSON: Expecting value at line 1 column 1"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"plan:\n  - yes\n", "not JSON"),
        (b"[1, 2]", r"not a hookctl plan file \(no format_version\)"),
        (b'{"format_version": "1"}', r"not a hookctl plan file \(format_version '1'\)"),
        (b'{"format_version": true}', r"not a hookctl plan file \(format_version 'True'\)"),
        (b"[" * 100_000 + b"]" * 100_000, "not a hookctl plan file"),
        (rb'{"format_version": 2, "checksum": "\u00e9\ud800"}', "checksum mismatch"),
        (
            b'{"format_version": 4, "hookctl_version": "9.0.0"}',
            r"written by hookctl 9\.0\.0 in plan format 4; this hookctl .* upgrade hookctl",
        ),
        (
            b'{"format_version": 4, "hookctl_version": "\\u001b]0;owned\\u0007"}',
            r"written by hookctl \\x1b\]0;owned\\x07 in plan format 4",
        ),
    ],
)
def test_files_that_are_not_plans_are_refused_with_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(PlanError, match=message) as refused:
        read(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert "\n" not in str(refused.value)


def test_json_output_of_plan_is_not_a_saved_plan(tmp_path: Path) -> None:
    from hookctl.formats.documents import plan_document

    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_document(sample_plan())))
    with pytest.raises(PlanError, match=r"not a saved plan \(no checksum\).*--out"):
        read(path)


def test_a_missing_or_oversized_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PlanError, match=r"nope\.json: cannot read the plan file: No such file"):
        read(tmp_path / "nope.json")
    path = tmp_path / "plan.json"
    save(path)
    monkeypatch.setattr(planfile, "MAX_BYTES", 100)
    with pytest.raises(PlanError, match="larger than 100 bytes"):
        read(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["format_version", "changes", "checksum", "summary", "x"]),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_reading_garbage_only_ever_raises_plan_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    with pytest.raises(PlanError):
        read(path)


# -- fingerprints and staleness -----------------------------------------------------------------


def test_the_fingerprint_ignores_order_but_not_content() -> None:
    live = [hook(1, "contact.add", CONTACTS), hook(2, "contact.edit", CONTACTS)]
    assert fingerprint(live) == fingerprint(live[::-1])
    assert fingerprint(live).startswith("hmac-sha256:")
    for changed in (
        [live[0]],
        [live[0], hook(2, "contact.edit", CONTACTS, "Inactive")],
        [live[0], hook(3, "contact.edit", CONTACTS)],
        [live[0], hook(2, "contact.edit", CONTACTS + "/")],
    ):
        assert fingerprint(changed) != fingerprint(live)


def _saved(tmp_path: Path) -> SavedPlan:
    save(tmp_path / "plan.json")
    return read(tmp_path / "plan.json")


def test_a_fresh_plan_passes(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    current = sample_plan()
    ensure_fresh(saved, current, DIGEST, list(current.live_hooks())[::-1], api_url=API_URL)


def test_a_plan_is_stale_when_the_config_or_its_environment_changed(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    current = sample_plan()
    with pytest.raises(
        StalePlanError,
        match=r"plan\.json: stale plan: hooks\.yaml or its environment changed since it was made",
    ):
        ensure_fresh(saved, current, "00" * 32, current.live_hooks())


def test_a_plan_is_stale_when_the_live_account_changed_and_says_how(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    live = [h for h in sample_plan().live_hooks() if h.key != "4"]
    live = [Hook(h.key, h.event_key, h.hook_url, "Inactive") if h.key == "1" else h for h in live]
    live.append(hook(40, "contact.add", CONTACTS))
    with pytest.raises(StalePlanError) as stale:
        ensure_fresh(saved, sample_plan(), DIGEST, live)
    message = str(stale.value)
    assert "the live subscriptions changed since it was made" in message
    assert "gone: 4; new: 40; changed: 1 status Verified -> Inactive" in message
    assert "hooks.yaml" not in message
    assert message.endswith("run `hookctl plan` again")


def test_the_stale_explanation_gives_a_few_examples_of_each_in_key_order(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    before = sample_plan().live_hooks()  # keys 1 to 6
    moved = [Hook(h.key, "order.edit", h.hook_url + "/v2", h.status) for h in before[1:]]
    live = [*moved, *(hook(k, "contact.add", CONTACTS) for k in range(100, 7, -1))]
    with pytest.raises(StalePlanError) as stale:
        ensure_fresh(saved, sample_plan(), DIGEST, live)
    message = str(stale.value)
    assert "gone: 1; new: 8, 9, 10, and 90 more; changed: 2 eventKey contact.edit -> " in message
    assert f"2 hookUrl {CONTACTS} -> {CONTACTS}/v2, 3 eventKey invoice.add -> " in message
    assert "and 7 more)" in message
    assert len(message) < 800


def test_a_listing_that_shares_no_key_with_the_plan_is_explained_key_by_key(
    tmp_path: Path,
) -> None:
    saved = _saved(tmp_path)
    live = [Hook(str(int(h.key) + 10), *h.pair, h.status) for h in sample_plan().live_hooks()]
    with pytest.raises(StalePlanError, match=r"\(gone: 1, 2, 3, and 3 more; new: 11, 12, 13, and"):
        ensure_fresh(saved, sample_plan(), DIGEST, live)


def test_a_plan_is_stale_against_another_account(tmp_path: Path) -> None:
    saved = _saved(tmp_path)
    current = sample_plan()
    with pytest.raises(StalePlanError, match=f"made against {API_URL}, not https://api"):
        ensure_fresh(
            saved,
            current,
            DIGEST,
            current.live_hooks(),
            api_url="https://api.infusionsoft.com/crm/rest/v1",
        )


def test_a_plan_names_its_account_and_is_stale_for_another(tmp_path: Path) -> None:
    save(tmp_path / "plan.json", account="staging")
    saved = read(tmp_path / "plan.json")
    current = sample_plan()
    live = current.live_hooks()
    assert saved.account == "staging"
    ensure_fresh(saved, current, DIGEST, live, api_url=API_URL)
    check_saved_account(saved, "staging")
    # Real Keap accounts share one API url: the name is what tells them apart.
    with pytest.raises(StalePlanError, match="made for account 'staging', not 'production'"):
        check_saved_account(saved, "production")


def test_a_plan_saved_by_an_older_hookctl_is_refused_with_one_line(tmp_path: Path) -> None:
    """Format 1 files (before hookctl compared a saved plan with the plan made again) have a
    digest of the raw hooks.yaml only: they cannot be checked, and are refused."""
    path = tmp_path / "plan.json"
    save(path)
    rewrite(path, lambda document: document.update(format_version=1), reseal=True)
    with pytest.raises(PlanError) as refused:
        read(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: made by an older hookctl (plan format 1;")
    assert message.endswith("plan again with `hookctl plan --out FILE`")
    assert "\n" not in message


# -- a saved plan is a record of intent, compared with the plan made again ----------------------


def _delete_an_unmanaged_hook(document: dict[str, Any]) -> None:
    """What issue 13 did: move an unmanaged hook into the changes, and fix the summary."""
    unmanaged = document["unmanaged"].pop()
    document["changes"].append(
        {"action": "delete", "name": None, **unmanaged, "reason": "not declared"}
    )
    document["summary"].update(
        delete=document["summary"]["delete"] + 1, unmanaged=document["summary"]["unmanaged"] - 1
    )


def _send_a_create_elsewhere(document: dict[str, Any]) -> None:
    document["changes"][0]["hook_url"] = "https://attacker.example.net/"


def _drop_a_delete(document: dict[str, Any]) -> None:
    dropped = document["changes"].pop()
    document["summary"]["delete"] -= 1
    document["unmanaged"].append(
        {k: dropped[k] for k in ("key", "event_key", "hook_url", "status")}
    )
    document["summary"]["unmanaged"] += 1


def _swap_two_changes(document: dict[str, Any]) -> None:
    changes = document["changes"]
    changes[0], changes[1] = changes[1], changes[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _delete_an_unmanaged_hook,
            r"refused: the plan file lists a change the current plan does not: "
            r"delete #6 contact\.add https://hooks\.zapier\.com/hooks/catch/1/abc; "
            r"nothing was applied: make a new plan",
        ),
        (
            _send_a_create_elsewhere,
            r"the plan file lists a change the current plan does not: "
            r"create contact\.delete https://attacker\.example\.net/;",
        ),
        (
            _drop_a_delete,
            r"the current plan has a change the plan file does not list: delete #5 contact\.add",
        ),
        (_swap_two_changes, "lists the current plan's changes in another order"),
    ],
)
def test_a_resealed_plan_that_lists_other_changes_than_the_current_plan_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = tmp_path / "plan.json"
    current = save(path)
    rewrite(path, edit, reseal=True)
    saved = read(path)  # it adds up, and the checksum is right: only the comparison sees it
    with pytest.raises(PlanError, match=message) as refused:
        ensure_fresh(saved, current, DIGEST, current.live_hooks(), api_url=API_URL)
    assert not isinstance(refused.value, StalePlanError)
    assert str(refused.value).startswith(f"{path}: refused: ")
    assert "\n" not in str(refused.value)


def test_a_changed_threshold_in_the_file_is_not_read(tmp_path: Path) -> None:
    """The file's safety is for the reviewer: editing it changes nothing apply checks (the
    runner checks the thresholds of the plan made again; test_edited_saved_plans shows it)."""
    path = tmp_path / "plan.json"
    current = save(path)
    rewrite(path, lambda d: d["safety"].update(max_delete_ratio=1.0), reseal=True)
    saved = read(path)
    assert not hasattr(saved, "safety")
    ensure_fresh(saved, current, DIGEST, current.live_hooks())


def test_a_plan_made_by_another_hookctl_version_says_so_when_its_changes_differ(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plan.json"
    current = save(path)

    def older(document: dict[str, Any]) -> None:
        document["hookctl_version"] = "0.9.0"
        document["changes"][0]["reason"] = "worded otherwise"

    rewrite(path, older, reseal=True)
    with pytest.raises(PlanError, match=r"\(it was made by hookctl 0\.9\.0\); nothing was"):
        ensure_fresh(read(path), current, DIGEST, current.live_hooks())


def test_text_from_the_plan_file_is_quoted_on_one_printable_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    current = save(path)
    hostile = "https://x.example/\x1b]0;owned\x07\n\x1b[2K" + "a" * 1000
    rewrite(path, lambda d: d["changes"][0].update(hook_url=hostile), reseal=True)
    with pytest.raises(PlanError) as refused:
        ensure_fresh(read(path), current, DIGEST, current.live_hooks())
    message = str(refused.value)
    assert "\\x1b]0;owned\\x07\\n\\x1b[2K" in message
    assert message.isprintable() and len(message) < 600


# -- the digest of the desired state -------------------------------------------------------------


def test_the_desired_digest_covers_every_interpolated_value() -> None:
    """What the loader made of hooks.yaml and the environment, not only the file's bytes: a
    token changed in the environment changes the digest, whatever the file says."""
    base = desired_state(
        {"c": (f"{CONTACTS}?token=tok-OLD", ["contact.add"])}, prefixes=(f"{BASE}/",)
    )
    digest = desired_digest(base)
    assert digest.startswith("hmac-sha256:") and len(digest) == len("hmac-sha256:") + 64
    new_token = desired_state({"c": (f"{CONTACTS}?token=tok-NEW", ["contact.add"])})
    ownership = base.ownership
    variants = [
        replace(base, digest="ab" * 32),  # the file's bytes
        replace(base, subscriptions=new_token.subscriptions),
        replace(base, ownership=replace(ownership, declared_urls=frozenset())),
        replace(base, ownership=replace(ownership, url_prefixes=())),
        replace(base, ownership=replace(ownership, ignore=("https://hooks.zapier.com/*",))),
        replace(base, ownership=replace(ownership, all=True)),
        replace(base, safety=Safety(max_delete_ratio=1.0)),
        replace(base, account=Account(name="staging")),
        replace(base, account=Account(api_url="https://staging.example/crm/rest/v1")),
        replace(base, account=Account(api_key_env="OTHER_KEY")),
        replace(base, account=Account(access_token_env="OTHER_TOKEN")),
    ]
    assert len({digest, *map(desired_digest, variants)}) == len(variants) + 1
    # Where it was read from is not what it asks for.
    assert desired_digest(replace(base, source="./hooks.yaml")) == digest
