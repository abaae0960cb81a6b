"""Integration platforms that subscribe to Keap's hooks on their users' behalf (Zapier, Make,
...): the one list of them. `hookctl import` leaves their subscriptions to them, under
`ownership.ignore`, since deleting or re-pointing one breaks someone's zap or scenario.

A platform is known by the host of its hook urls; a leading `*.` stands for any subdomain.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["PLATFORMS", "Platform", "platform_of"]


@dataclass(frozen=True, slots=True)
class Platform:
    """An integration platform and the hosts its hook urls use."""

    name: str
    hosts: tuple[str, ...]

    def host_of(self, url: str) -> str | None:
        """Which of the platform's hosts `url` is on (as listed, `*.` kept), or None."""
        try:
            hostname = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return None
        for host in self.hosts:
            if host.startswith("*."):
                if hostname.endswith(host[1:]) and len(hostname) > len(host) - 1:
                    return host
            elif hostname == host:
                return host
        return None


PLATFORMS: tuple[Platform, ...] = (
    Platform("Zapier", ("hooks.zapier.com",)),
    Platform("Make", ("hook.make.com", "*.make.com", "hook.integromat.com", "*.integromat.com")),
    Platform("n8n cloud", ("*.app.n8n.cloud",)),
    Platform("Pipedream", ("*.m.pipedream.net",)),
    Platform("HubSpot", ("api.hubapi.com", "*.hubspot.com")),
    Platform("IFTTT", ("maker.ifttt.com",)),
    Platform("Pabbly Connect", ("connect.pabbly.com",)),
    Platform("Integrately", ("webhooks.integrately.com",)),
    Platform("Power Automate", ("*.logic.azure.com",)),
    Platform("Workato", ("webhooks.workato.com",)),
)


def platform_of(url: str) -> tuple[Platform, str] | None:
    """The platform whose host `url` is on, with that host as listed; None for other urls."""
    for platform in PLATFORMS:
        host = platform.host_of(url)
        if host is not None:
            return platform, host
    return None
