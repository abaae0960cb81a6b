"""hookctl: infrastructure as code for Keap REST hook subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookctl.version import __version__

__all__ = ["Hook", "Keap", "__version__"]

if TYPE_CHECKING:
    from hookctl.domain.models import Hook
    from hookctl.keap.client import Keap


def __getattr__(name: str) -> Any:
    # Lazy, so that `hookctl --version` imports neither requests nor jsonschema.
    if name == "Keap":
        from hookctl.keap.client import Keap

        return Keap
    if name == "Hook":
        from hookctl.domain.models import Hook

        return Hook
    raise AttributeError(f"module 'hookctl' has no attribute {name!r}")
