"""Drift notifications: POST the drift report (hookctl/documents.py builds it) to a webhook.

A notification URL (a Slack incoming webhook, say) is itself a credential: it never appears in
a log line or an error, only its host does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hookctl.domain.urls import UrlProblem, UrlProblemKind, parse_url
from hookctl.errors import HookctlError
from hookctl.version import __version__

logger = logging.getLogger(__name__)


class NotifyError(HookctlError):
    """The drift report could not be delivered."""


def post(url: str, report: Mapping[str, Any], *, timeout: float = 10.0) -> None:
    """POST the report as JSON. Raises NotifyError naming only the receiver's host, for a url
    that is not a usable http(s) url as for one that cannot be reached."""
    import requests

    host = check(url)
    try:
        response = requests.post(
            url,
            json=report,
            timeout=(5.0, timeout),
            allow_redirects=False,
            headers={"User-Agent": f"hookctl/{__version__}"},
        )
    except (requests.RequestException, ValueError) as exc:
        # ValueError: urllib3 refuses some urls (a host label too long, say) with its own
        # LocationParseError, before requests sees them.
        raise NotifyError(f"could not notify {host}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"could not notify {host}: HTTP {response.status_code}")
    logger.info("drift report sent to %s", host)


def check(url: str) -> str:
    """The host of a usable notification url, for messages; NotifyError, in one line and
    without the url (a credential), when it is not one. A webhook's own user:password is
    allowed: it goes where the url points, never into a message."""
    parts = parse_url(url, userinfo=True)
    if isinstance(parts, UrlProblem):
        raise NotifyError(_PROBLEMS[parts.kind])
    host = parts.hostname or ""
    return host if len(host) <= 80 else host[:77] + "..."


_PROBLEMS: dict[UrlProblemKind, str] = {
    "malformed": "--notify: not a valid url",
    "not absolute": "--notify needs an http(s) url",
    "credentials": "--notify needs an http(s) url",  # not asked for: userinfo is allowed
    "port": "--notify: not a valid url",
    "characters": "--notify: the url holds spaces or control characters",
}
