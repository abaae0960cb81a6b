"""The command line, the only layer that prints: arguments, commands, and what a person sees.

May import: everything below it. `hookctl.cli:main` is the console script.
"""

from hookctl.cli.commands import main

__all__ = ["main"]
