"""Pure renderers and JSON documents: plan text and markdown, reports, chat text, and every
JSON document hookctl writes or reads. Functions return strings or dicts; nothing prints.

May import: `domain`, `system`, `errors`, `version`, and `hookctl.schemas` (data).
"""
