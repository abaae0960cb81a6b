"""The fleet health page (hookctl.formats.html): one self-contained file that loads nothing,
every value escaped and every url masked, a summary, and a row per account."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from html.parser import HTMLParser

from helpers.fleet import HOSTILE, SECRET, account, fleet
from helpers.plans import BASE, desired_state

from hookctl.domain.planner import ACTIONS, plan
from hookctl.formats.html import DETAILS_MAX_ROWS, AccountRow, page

WHEN = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


class Elements(HTMLParser):
    """Every element of a page with its attributes, and the text inside script and style."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.inline[self._in] = self.inline.get(self._in, "") + data


def parsed(text: str) -> Elements:
    elements = Elements()
    elements.feed(text)
    elements.close()
    return elements


def test_hostile_names_urls_and_keap_errors_show_as_text_and_never_as_markup() -> None:
    text = page(fleet(21, hostile=True), command="drift", generated_at=WHEN)
    elements = parsed(text)
    names = [tag for tag, _ in elements.tags]
    # Only the page's own script, and no image: the hostile <script> and <img> stayed text.
    assert names.count("script") == 1
    assert "img" not in names
    assert "alert(1)" not in elements.inline["script"]
    for _, attrs in elements.tags:
        assert not any(name.startswith("on") for name in attrs)
    assert "<script>alert" not in text
    assert "</td></tr><script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&quot;&#x27;&gt;&lt;/td&gt;" in text
    # Each hostile label is the text of exactly one button, as written.
    labels = [attrs for tag, attrs in elements.tags if tag == "button" and "aria-controls" in attrs]
    assert len(labels) == 21


def test_tokens_in_urls_and_error_texts_are_masked() -> None:
    text = page(fleet(21, hostile=True), command="drift", generated_at=WHEN)
    assert SECRET not in text
    assert "token=***(" in text


def test_the_page_loads_nothing_and_allows_only_its_own_style_and_script() -> None:
    text = page(fleet(5), command="plan", generated_at=WHEN)
    elements = parsed(text)
    for _, attrs in elements.tags:
        assert not {"src", "href", "action", "srcset", "data"} & attrs.keys()
    csp = next(
        attrs["content"]
        for tag, attrs in elements.tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp
    for kind in ("script", "style"):
        digest = hashlib.sha256(elements.inline[kind].encode()).digest()
        allowed = re.search(rf"{kind}-src ([^;]+)", csp)
        assert allowed is not None
        assert allowed.group(1).strip() == f"'sha256-{base64.b64encode(digest).decode()}'"
    assert "unsafe-inline" not in csp and "http" not in csp


def test_the_summary_counts_accounts_by_state_and_unhealthy_hooks() -> None:
    rows = fleet(21)
    text = page(rows, command="drift", generated_at=WHEN)
    failed = sum(1 for row in rows if row.error)
    drifted = sum(1 for row in rows if row.plan and row.plan.has_changes and not row.error)
    inactive = sum(len(row.unhealthy("Inactive")) for row in rows)
    unverified = sum(len(row.unhealthy("Unverified")) for row in rows)
    assert failed == 3 and 0 < drifted < 21 - failed and inactive and unverified
    summary = re.search(r'<section id="summary".*?</section>', text)
    assert summary is not None
    figures = dict(
        (name, int(n))
        for n, name in re.findall(r'<span class="n">(\d+)</span> ([^<]+)</div>', summary.group(0))
    )
    assert figures == {
        "in sync": 21 - failed - drifted,
        "drifted": drifted,
        "failed": failed,
        "hooks Inactive": inactive,
        "hooks Unverified": unverified,
    }


def test_each_account_is_one_row_with_its_counts_quota_duration_and_error() -> None:
    rows = [account(3), account(6), account(4)]
    text = page(rows, command="drift", generated_at=WHEN)
    bodies = re.findall(r'<tbody class="account".*?</tbody>', text, re.S)
    assert len(bodies) == 3
    drifted, failed, in_sync = bodies
    summary = rows[0].plan.summary() if rows[0].plan else {}
    sorts = re.findall(r'data-sort="(-?\d+)"', drifted)
    # Changes, create, update, verify, delete, Inactive, Unverified, quota left, duration.
    assert sorts[:5] == [
        str(len(rows[0].plan.changes) if rows[0].plan else 0),
        *(str(summary[a]) for a in ACTIONS),
    ]
    headers = re.findall(r'data-type="num">([^<]+)</button>', text)
    assert headers[1:5] == [a.capitalize() for a in ACTIONS]
    assert sorts[7] == "4997" and "4,997 / 5,000" in drifted
    assert 'data-state="drifted"' in drifted
    assert 'data-state="failed"' in failed and "Keap answered 500" in failed
    assert 'data-state="in sync"' in in_sync
    # Account 4 reported no quota: shown as unknown, sorted below every known figure.
    assert re.findall(r'data-sort="(-?\d+)"', in_sync)[7] == "-1"


def test_an_opened_row_lists_at_most_a_bounded_number_of_changes() -> None:
    many = DETAILS_MAX_ROWS + 50
    entries: dict[str, tuple[str, Iterable[str]]] = {
        f"e{n}": (f"{BASE}/e{n}", ["contact.add"]) for n in range(many)
    }
    row = AccountRow("big", "big.yaml", plan(desired_state(entries), []))
    text = page([row], command="plan", generated_at=WHEN)
    assert text.count("<td>create</td>") == DETAILS_MAX_ROWS
    assert "… and 50 more" in text


def test_the_page_names_the_command_and_the_time_given() -> None:
    text = page([], command="plan", generated_at=WHEN, version="9.9")
    assert "hookctl plan: 0 accounts" in text
    assert "2026-12-04 12:00:00 UTC" in text and "hookctl 9.9" in text
    assert HOSTILE not in text
