"""The process's edges every layer shares: reading a file within a bound, writing one whole,
Ctrl-C reaching worker threads between writes.

May import: `hookctl.errors` only.
"""
