"""The domain: values (`Hook`, `Subscription`, `Ownership`, results), the url and key rules
every layer shares, and the pure planner that compares two states.

May import: `hookctl.errors` only. No I/O.
"""
