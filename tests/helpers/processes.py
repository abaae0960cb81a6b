"""Child processes that a test stops with Ctrl-C."""

from __future__ import annotations

import signal


def ctrl_c_reaches_the_child() -> None:
    """A Popen `preexec_fn`: SIGINT back to its default in the child. A shell without job
    control starts background jobs with SIGINT ignored, the child inherits that, and Python then
    installs no KeyboardInterrupt handler: Ctrl-C would never reach hookctl, whatever it does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
