"""A Keap-compatible hooks server for tests and demos (`hookctl sandbox`)."""

from __future__ import annotations

from hookctl.sandbox.faults import Faults
from hookctl.sandbox.receiver import Received
from hookctl.sandbox.server import DEFAULT_PORT, Sandbox, SandboxSettings, serve

__all__ = ["DEFAULT_PORT", "Faults", "Received", "Sandbox", "SandboxSettings", "serve"]
