"""The plan renderers: text for people, markdown for pull requests, JSON per its schema."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import jsonschema
import pytest
from helpers.plans import BASE, CONTACTS, ZAPIER, desired_state, hook, plan_schema, sample_plan

from hookctl.domain.planner import Update, plan
from hookctl.domain.urls import mask_url
from hookctl.formats.documents import plan_document
from hookctl.formats.markdown import plan_markdown
from hookctl.formats.render import plan_text, render_plan
from hookctl.formats.text import markdown_text, mask_text, summary_line


def test_json_output_validates_against_the_plan_schema() -> None:
    document = plan_document(sample_plan())
    jsonschema.Draft202012Validator(plan_schema()).validate(document)
    assert document["format_version"] == 1
    assert document["summary"] == {
        "create": 1,
        "update": 1,
        "verify": 1,
        "delete": 2,
        "unchanged": 1,
        "unmanaged": 1,
    }
    assert [c["action"] for c in document["changes"]] == [
        "create",
        "update",
        "verify",
        "delete",
        "delete",
    ]
    update = document["changes"][1]
    assert update["old_hook_url"] == f"{BASE}/old/billing"
    assert update["diff"] == [
        {"field": "hook_url", "old": f"{BASE}/old/billing", "new": f"{BASE}/keap/billing"}
    ]
    assert document["unmanaged"] == [
        {"key": "6", "event_key": "contact.add", "hook_url": ZAPIER, "status": "Verified"}
    ]


def test_the_schema_refuses_what_the_renderer_never_writes() -> None:
    validator = jsonschema.Draft202012Validator(plan_schema())
    document = plan_document(sample_plan())
    for broken in (
        {**document, "changes": [{**document["changes"][0], "action": "explode"}]},
        {**document, "changes": [{**document["changes"][0], "key": "12"}]},  # a create has none
        {**document, "summary": {**document["summary"], "create": -1}},
        {**document, "extra": True},
        {**document, "checksum": "sha256:" + "0" * 64},  # a saved plan needs its other fields
    ):
        assert not validator.is_valid(broken)


def test_every_property_in_the_plan_schema_has_a_description() -> None:
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{where}/{name}")
            for name, sub in node.items():
                walk(sub, f"{where}/{name}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                walk(sub, f"{where}/{index}")

    walk(plan_schema(), "")
    assert missing == []


def test_text_shows_each_change_with_its_reason_and_the_summary() -> None:
    result = sample_plan()
    text = plan_text(result, verbose=True)
    for change in result.changes:
        assert change.reason in text
        assert change.hook_url in text
        if change.key is not None:
            assert f"#{change.key}" in text
    assert f"hook_url: {BASE}/old/billing -> {BASE}/keap/billing" in text
    assert text.rstrip().endswith(
        "1 to create, 1 to update, 1 to verify, 2 to delete; 1 unchanged, 1 unmanaged"
    )
    assert "\033[" not in text


def test_text_is_coloured_only_when_asked() -> None:
    coloured = plan_text(sample_plan(), color=True, verbose=True)
    assert "\033[32m+ create" in coloured and "\033[31m- delete" in coloured
    assert plan_text(sample_plan(), color=False).count("\033") == 0


def test_an_empty_plan_says_there_is_nothing_to_do() -> None:
    result = plan(
        desired_state({"c": (CONTACTS, ["contact.add"])}), [hook(1, "contact.add", CONTACTS)]
    )
    assert plan_text(result) == "No changes; 1 unchanged, 0 unmanaged\n"
    assert summary_line(result) in plan_markdown(result)
    assert "|" not in plan_markdown(result)


def test_markdown_has_a_summary_a_row_per_change_and_collapsed_unmanaged_hooks() -> None:
    result = sample_plan()
    markdown = plan_markdown(result, title="hooks.yaml")
    assert markdown.startswith("### hooks.yaml\n")
    assert f"**{summary_line(result)}**" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    # The table of entries (header, rule, a row each), each entry's table (header, rule, a row
    # per change), then the unmanaged table: header, rule, row
    entries = {change.name for change in result.changes}
    assert len(rows) == 2 + len(entries) + 2 * len(entries) + len(result.changes) + 3
    for change in result.changes:
        assert any(f"| {change.action} |" in row and change.hook_url in row for row in rows)
    update = next(c for c in result.changes if isinstance(c, Update))
    assert f"`{update.old_hook_url}` → `{update.hook_url}`" in markdown
    assert "<details>\n<summary>1 unmanaged subscription (never changed)</summary>" in markdown
    assert ZAPIER in markdown.split("<details>")[-1]


def test_markdown_tables_are_cut_for_pull_request_comments() -> None:
    live = [hook(k, "order.add", f"{BASE}/x{k}") for k in range(1, 8)]
    result = plan(desired_state({}, prefixes=(f"{BASE}/",)), live)
    markdown = plan_markdown(result, max_rows=5)
    assert markdown.count("| 🔴 | delete |") == 5
    assert "… and 2 more" in markdown


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/x\033[2J\033[1;1Hforged",  # terminal escapes
        f"{BASE}/x\n+ create forged",  # a line of its own
        f"{BASE}/a|b<script>`c`",  # table syntax, html, code fences
    ],
)
def test_hostile_urls_from_keap_cannot_forge_output(url: str) -> None:
    def rendered(hook_url: str) -> tuple[str, str]:
        result = plan(desired_state({}, all=True), [hook(1, "order.add", hook_url)])
        return plan_text(result), plan_markdown(result)

    text, markdown = rendered(url)
    benign_text, benign_markdown = rendered(f"{BASE}/x")
    assert "\033" not in text and "\033" not in markdown
    assert len(text.splitlines()) == len(benign_text.splitlines())
    assert len(markdown.splitlines()) == len(benign_markdown.splitlines())
    # Inside a code span html is shown as text; outside it must be escaped.
    assert "<script>" not in re.sub(r"``.*?``|`[^`]*`", "", markdown)
    row = next(line for line in markdown.splitlines() if "| delete |" in line)
    assert row.replace("\\|", "").count("|") == 8, "the url stays inside its cell"


def test_render_plan_gives_each_format_as_text() -> None:
    result = sample_plan()
    assert json.loads(render_plan(result, "json")) == plan_document(result)
    assert render_plan(result, "markdown") == plan_markdown(result)
    assert render_plan(result, "text", color=True) == plan_text(result, color=True)


def test_a_url_in_free_text_is_masked_once_and_the_sentence_kept() -> None:
    url = f"{BASE}/k?token=s3cret&x=1"
    for text in (
        f"changed since the plan was made (now order.add {url}); plan again",
        f"moved: {mask_url(url)}, then (to {mask_url(url)}).",
        f"POST /hooks -> HTTP 400: {url}\x1b[2J",
    ):
        masked = mask_text(text)
        assert "s3cret" not in masked and "token=***(" in masked
        assert mask_text(masked) == masked
    assert mask_text(f"(now {url}); plan") == f"(now {mask_url(url)}); plan"
    assert mask_text(f"(now {mask_url(url)})).") == f"(now {mask_url(url)}))."


def test_markdown_text_has_no_mention_reference_link_or_html() -> None:
    shown = markdown_text("@octocat #12 [x](https://phish.example) www.phish.example <b>a|b</b>")
    assert not re.search(r"@\w|#\d|https?://\w|www\.\w|<b>|(?<!\\)[|\[\]]", shown)
    assert shown.replace("\u2060", "").replace("\\", "") == (
        "@octocat #12 [x](https://phish.example) www.phish.example &lt;b&gt;a|b&lt;/b&gt;"
    )
    assert len(markdown_text("x" * 10_000)) == 200


def test_markdown_that_even_folded_is_too_long_is_cut_but_names_every_entry() -> None:
    # 400 entries of 3 creates each, every url long and its own: nothing folds across entries.
    events: Iterable[str] = ["contact.add", "contact.edit", "note.add"]
    entries = {f"entry-{i}": (f"{BASE}/{'p' * 150}/{i}", events) for i in range(400)}
    result = plan(desired_state(entries), [])
    markdown = plan_markdown(result)
    assert len(markdown) <= 65_536
    for name in entries:
        assert f"| {name} | 3 | 0 | 0 | 0 |" in markdown
    assert markdown.rstrip().endswith("lists every change.")
    assert "`hookctl plan --format json` (the plan artifact)" in markdown
    # Folded: one row per entry, its events listed compactly.
    assert "`contact.{add,edit}, note.add`" in markdown


def test_grouped_text_folds_identical_changes_and_lists_events_compactly() -> None:
    result = plan(
        desired_state({"svc": (CONTACTS, ["contact.add", "contact.edit", "note.add"])}), []
    )
    text = plan_text(result)
    assert text.splitlines()[0] == "svc: 3 to create"
    assert f"+ create  3 \u00d7 {CONTACTS}  contact.{{add,edit}}, note.add" in text
