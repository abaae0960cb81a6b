"""The fleet health page in a real browser: Debian's Chromium driven by Playwright. A page of
300 accounts (made by the real planner, tests/helpers/fleet.py) shows 300 rows, filters to
one, sorts by changes, opens a row onto its changes, runs no markup it was given, asks the
network for nothing, and leaves the screenshot the README shows (docs/fleet.png)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.fleet import account, fleet

from hookctl.formats.html import page

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Dialog, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HOOKCTL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ACCOUNTS = 300
# Every 50th account's label, urls and error hold markup that must stay text.
HOSTILE = range(5, ACCOUNTS, 50)


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Page]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            browser.close()


def test_a_300_account_page_filters_sorts_and_opens_rows_in_chromium(
    browser_page: Page, tmp_path: Path
) -> None:
    rows = fleet(ACCOUNTS)
    for index in HOSTILE:
        rows[index] = account(index, hostile=True)
    when = datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc)
    path = tmp_path / "fleet.html"
    path.write_text(page(rows, command="drift", generated_at=when, version="0.0.0"))
    requests: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []
    tab = browser_page

    def dialog(opened: Dialog) -> None:
        dialogs.append(opened.message)
        opened.dismiss()

    def console(message: ConsoleMessage) -> None:
        # A CSP violation (a blocked style or script) is a console error too.
        if message.type == "error":
            errors.append(message.text)

    tab.on("request", lambda request: requests.append(request.url))
    tab.on("dialog", dialog)
    tab.on("console", console)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(path.as_uri())

    accounts = tab.locator("tbody.account")
    assert accounts.count() == ACCOUNTS
    assert tab.locator("#shown").inner_text() == f"{ACCOUNTS} of {ACCOUNTS} accounts"

    # Filter to one account.
    tab.fill("#filter", "client-123")
    assert tab.locator("tbody.account:visible").count() == 1
    assert tab.locator("#shown").inner_text() == f"1 of {ACCOUNTS} accounts"
    assert "client-123" in tab.locator("tbody.account:visible .open").inner_text()
    tab.fill("#filter", "")
    assert tab.locator("tbody.account:visible").count() == ACCOUNTS

    # Sort by the number of changes, most first, then the other way.
    most = max(len(row.plan.changes) for row in rows if row.plan is not None)
    changes = tab.locator("#fleet thead button", has_text="Changes")
    changes.click()
    first = tab.locator("tbody.account").first
    assert first.locator("td.num").first.inner_text() == str(most)
    shown = [
        int(n)
        for n in tab.locator("tbody.account td.num:nth-child(3)").evaluate_all(
            "cells => cells.map(cell => cell.getAttribute('data-sort'))"
        )
    ]
    assert shown == sorted(shown, reverse=True)
    assert tab.locator("th:has(> button[data-col='2'])").get_attribute("aria-sort") == "descending"
    changes.click()
    assert (
        tab.locator("tbody.account").first.locator("td.num").first.get_attribute("data-sort")
        == "-1"
    )  # a failed account, which has no plan, sorts first going up
    changes.click()

    # Open the top row onto its changes.
    opener = first.locator("button.open")
    details = first.locator("tr.details")
    assert not details.is_visible()
    opener.click()
    assert opener.get_attribute("aria-expanded") == "true"
    assert details.is_visible()
    assert details.locator("table.changes").first.locator("tbody tr").count() == most
    assert "create" in details.inner_text()

    # The hostile accounts' markup stayed text: no dialog, no element, shown as written.
    tab.fill("#filter", "<script>alert(1)</script>")
    assert tab.locator("tbody.account:visible").count() == len(HOSTILE)
    assert tab.locator("tbody.account img").count() == 0
    tab.fill("#filter", "")
    assert dialogs == [] and errors == []
    assert all(url.startswith("file://") for url in requests), requests

    tab.screenshot(path=str(ROOT / "docs" / "fleet.png"))
