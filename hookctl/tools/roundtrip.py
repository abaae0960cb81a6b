"""The one ruamel.yaml set-up for editing hooks files with their comments kept (`hookctl fmt`,
`hookctl import --update`): the layout hookctl writes, and quotes kept as the file has them.

ruamel.yaml is imported only here and only when a command edits a file, so that the other
commands do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruamel.yaml import YAML

__all__ = ["round_trip"]


def round_trip() -> YAML:
    """A round-trip YAML: 2-space mappings, list items indented under their key, lines never
    folded (a long url stays one line), quotes as they were."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1 << 16
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt
