"""Commands that write hooks files rather than Keap: `import`, `import --update`, `fmt`, and
the one-subscription `hooks` operations.

May import: `formats`, `keap`, `config`, `domain`, `system`, `errors`, `version`.
"""
