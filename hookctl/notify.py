"""Drift notifications: POST the drift report (hookctl/documents.py builds it) to a webhook.

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

logger = logging.getLogger(__name__)


class NotifyError(HookctlError):
    """The drift report could not be delivered."""


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
