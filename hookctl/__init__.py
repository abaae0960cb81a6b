"""hookctl: infrastructure as code for Keap REST hook subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one place the version is written: pyproject reads it ([tool.setuptools.dynamic]), and
# `hookctl --version` shows the installed distribution's, which is this one once built.
__version__ = "0.2.0"
__all__ = ["Hook", "Keap", "__version__"]

if TYPE_CHECKING:
    from hookctl.keap import Keap
    from hookctl.models import Hook


def __getattr__(name: str) -> Any:
    # Lazy, so that `hookctl --version` imports neither requests nor jsonschema.
    if name == "Keap":
        from hookctl.keap import Keap

        return Keap
    if name == "Hook":
        from hookctl.models import Hook

        return Hook
    raise AttributeError(f"module 'hookctl' has no attribute {name!r}")
