"""Drift reports: the document `hookctl drift --format json` prints and `--notify` posts.

A notification URL (a Slack incoming webhook, say) is itself a credential: it never appears in
a log line or an error, only its host does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hookctl import __version__
from hookctl.errors import HookctlError
from hookctl.planner import Plan, change_to_dict
from hookctl.urls import public_url

logger = logging.getLogger(__name__)

DRIFT_FORMAT_VERSION = 1
# Slack shows at most a few dozen lines usefully; the JSON body still carries every change.
TEXT_MAX_CHANGES = 20


class NotifyError(HookctlError):
    """The drift report could not be delivered."""


def ci_run_url(env: Mapping[str, str]) -> str | None:
    """A link to the CI run this is part of, when the environment says which one."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("BUILD_URL") or None


def drift_report(
    plan: Plan, *, account: str, api_url: str, source: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """The drift document, described by schemas/drift.schema.json."""
    drifted = plan.has_changes
    run_url = ci_run_url(env)
    summary = plan.summary()
    lines = [
        f"hookctl drift: account '{account}' "
        + ("has drifted from " if drifted else "matches ")
        + source
    ]
    if drifted:
        counts = ", ".join(f"{summary[a]} to {a}" for a in ("create", "update", "verify", "delete"))
        lines.append(counts)
        lines += [
            f"• {c.action} {c.name or '-'} {c.event_key} {c.hook_url}: {c.reason}"
            for c in plan.changes[:TEXT_MAX_CHANGES]
        ]
        if len(plan.changes) > TEXT_MAX_CHANGES:
            lines.append(f"… and {len(plan.changes) - TEXT_MAX_CHANGES} more")
    if run_url:
        lines.append(f"CI run: {run_url}")
    return {
        "format_version": DRIFT_FORMAT_VERSION,
        "hookctl_version": __version__,
        "drifted": drifted,
        "account": account,
        "api_url": public_url(api_url),
        "source": source,
        "run_url": run_url,
        "summary": summary,
        "changes": [change_to_dict(change) for change in plan.changes],
        "text": "\n".join(lines),
    }


def post(url: str, report: Mapping[str, Any], *, timeout: float = 10.0) -> None:
    """POST the report as JSON. Raises NotifyError naming only the receiver's host."""
    import requests

    host = urlsplit(url).hostname or "the notification url"
    if urlsplit(url).scheme not in ("http", "https"):
        raise NotifyError("--notify needs an http(s) url")
    try:
        response = requests.post(
            url,
            json=report,
            timeout=(5.0, timeout),
            allow_redirects=False,
            headers={"User-Agent": f"hookctl/{__version__}"},
        )
    except requests.RequestException as exc:
        raise NotifyError(f"could not notify {host}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"could not notify {host}: HTTP {response.status_code}")
    logger.info("drift report sent to %s", host)
