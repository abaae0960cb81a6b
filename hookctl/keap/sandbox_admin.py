"""A small client for the sandbox's own admin paths (/_sandbox/...), which Keap does not have:
make the change behind an event (`hookctl trigger`), read the delivery log and resend a
delivery (`hookctl deliveries`). They take no credentials; every call is bounded in time and
in the size of what it reads."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from hookctl.domain.urls import public_url
from hookctl.errors import HookctlError
from hookctl.version import __version__

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sandbox"
DEFAULT_SANDBOX_API = "http://127.0.0.1:8787/crm/rest/v1"
# A trigger that waits may take Keap's whole retry schedule on the sandbox's clock.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 5.0


class SandboxAdminError(HookctlError):
    """The sandbox's admin path refused a call, or there is no sandbox at the url."""


@dataclass(frozen=True, slots=True)
class SandboxAdmin:
    """The admin paths of the sandbox whose Keap API is at `api_url`."""

    api_url: str
    timeout: float = 30.0

    @property
    def root(self) -> str:
        parts = urlsplit(self.api_url)
        path = parts.path.rstrip("/")
        # The sandbox serves Keap's API at /crm/rest/v1 and its admin paths at the root.
        root = path.removesuffix("/rest/v1").removesuffix("/crm")
        return urlunsplit((parts.scheme, parts.netloc, root, "", ""))

    def trigger(
        self,
        event_key: str,
        objects: list[dict[str, Any]],
        *,
        count: int = 1,
        shape: str | None,
        wait: bool,
        timeout: float,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_key": event_key,
            "objects": objects,
            "count": count,
            "wait": wait,
        }
        if shape is not None:
            body["shape"] = shape
        answer: dict[str, Any] = self._call("POST", "/trigger", body, timeout=timeout)
        return answer

    def deliveries(self, after: int = 0, *, limit: int = 1000, wait: float = 0.0) -> list[Any]:
        """Logged attempts with an id above `after`; `wait` seconds of long poll at most."""
        query = f"?after={after}&limit={limit}&wait_ms={int(wait * 1000)}"
        answer: list[Any] = self._call("GET", "/deliveries" + query, timeout=self.timeout + wait)
        return answer

    def resend(self, delivery_id: int) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("POST", f"/deliveries/{delivery_id}/resend")
        return answer

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        url = self.root + ADMIN_PREFIX + path
        shown = public_url(self.root)
        try:
            with requests.Session() as session:
                # No proxy, no ~/.netrc: the sandbox is local and its admin paths take nothing.
                session.trust_env = False
                response = session.request(
                    method,
                    url,
                    json=body,
                    headers={"User-Agent": f"hookctl/{__version__}"},
                    timeout=(CONNECT_TIMEOUT, timeout or self.timeout),
                    stream=True,
                )
                raw = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        except requests.ReadTimeout:
            raise SandboxAdminError(
                f"{method} {ADMIN_PREFIX}{path.split('?')[0]} took longer than "
                f"{timeout or self.timeout:g} s (a waiting trigger lasts as long as Keap's "
                "retries on the sandbox's clock): use --no-wait and `hookctl deliveries --follow`"
            ) from None
        except requests.RequestException as error:
            raise SandboxAdminError(
                f"no sandbox answered at {shown} ({type(error).__name__}); start one with "
                "`hookctl sandbox` or point --api-url at it"
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise SandboxAdminError(f"{method} {ADMIN_PREFIX}{path}: answer too large")
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if response.status_code == 404 and data is None:
            raise SandboxAdminError(f"{shown} is not a hookctl sandbox (no {ADMIN_PREFIX} paths)")
        if not 200 <= response.status_code < 300:
            message = data.get("message") if isinstance(data, dict) else None
            raise SandboxAdminError(
                f"the sandbox refused {method} {ADMIN_PREFIX}{path.split('?')[0]}: "
                f"{str(message or response.status_code)[:300]}"
            )
        return data
