"""Orchestration: which files and accounts a run covers, planning and applying them, saved
plans, probe, notifications and metrics. Returns result objects; never prints.

May import: `formats`, `keap`, `config`, `domain`, `system`, `errors`, `version`.
"""
