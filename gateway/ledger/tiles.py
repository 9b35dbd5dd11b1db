"""The log's Merkle tree as hash tiles: what to write after an append, how to read nodes back.

Storage keeps the tree the way C2SP ``tlog-tiles`` lays it out: a tile at tile level ``T`` and
index ``k`` holds up to 256 consecutive node hashes of tree level ``8·T`` (nodes ``256·k`` to
``256·k + 255``), concatenated; a partial tile is rewritten as it fills. Levels in between are
not stored: a node at level ``8·T + r`` is the root of ``2**r`` consecutive stored hashes of one
tile and costs ``2**r - 1`` hashes to rebuild. One append of ``n`` leaves therefore writes about
``n / 256`` rows instead of ``2·n`` node rows, which is what keeps the write path near the raw
insert rate, and any proof needs a handful of tile reads.

Pure functions over bytes: no I/O, no clock (STYLE 15). The ledger reads and writes the tiles
through the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from creditlink.sdk.tlog import HASH_SIZE, NodeId, NodeRun

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileId",
    "nodes_from_tiles",
    "partial_tiles_before",
    "tile_updates",
    "tiles_for_nodes",
]

#: Tree levels per tile level.
TILE_HEIGHT = 8
#: Hashes per full tile.
TILE_WIDTH = 1 << TILE_HEIGHT

#: ``(tile level, tile index)``.
TileId = tuple[int, int]

_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def partial_tiles_before(size: int, added: int) -> list[TileId]:
    """Tiles an append of ``added`` leaves to a tree of ``size`` extends (they must be read).

    On each stored level the next new node lands in the tile holding node ``size >> level``;
    if that tile already holds some nodes (index not a multiple of 256) its current content is
    needed to write the extended tile. Only levels that gain nodes matter.
    """
    tiles: list[TileId] = []
    level = 0
    while (size + added) >> level:
        before, after = size >> level, (size + added) >> level
        if after > before and before % TILE_WIDTH:
            tiles.append((level // TILE_HEIGHT, before // TILE_WIDTH))
        level += TILE_HEIGHT
    return tiles


def tile_updates(runs: Sequence[NodeRun], existing: Mapping[TileId, bytes]) -> dict[TileId, bytes]:
    """Tiles to upsert after an append that produced ``runs`` (from ``Frontier.extend``).

    ``existing`` holds the current content of the partial tiles the append extends (see
    :func:`partial_tiles_before`); a missing entry is read as an empty tile, which is only right
    when the tile really is new. Returns the full new content of every tile that changed.
    """
    out: dict[TileId, bytes] = {}
    for run in runs:
        if run.level % TILE_HEIGHT:
            continue
        tile_level = run.level // TILE_HEIGHT
        index, data = run.start, run.hashes
        while data:
            tile_index, offset = divmod(index, TILE_WIDTH)
            take = min(TILE_WIDTH - offset, len(data) // HASH_SIZE)
            prefix = existing.get((tile_level, tile_index), b"") if offset else b""
            if len(prefix) != offset * HASH_SIZE:
                raise ValueError(
                    f"tile {tile_level}/{tile_index} holds {len(prefix) // HASH_SIZE} hashes, "
                    f"the append expects {offset}"
                )
            out[(tile_level, tile_index)] = prefix + data[: take * HASH_SIZE]
            index += take
            data = data[take * HASH_SIZE :]
    return out


def _tile_span(node: NodeId) -> tuple[TileId, int, int]:
    level, index = node
    rest = level % TILE_HEIGHT
    first = index << rest  # first stored node under this node, at level level - rest
    tile_index, offset = divmod(first, TILE_WIDTH)
    return (level // TILE_HEIGHT, tile_index), offset, 1 << rest


def tiles_for_nodes(nodes: Sequence[NodeId]) -> list[TileId]:
    """The tiles holding the stored hashes under ``nodes`` (each node lies in one tile)."""
    seen: dict[TileId, None] = {}
    for node in nodes:
        seen.setdefault(_tile_span(node)[0], None)
    return list(seen)


def nodes_from_tiles(nodes: Sequence[NodeId], tiles: Mapping[TileId, bytes]) -> list[bytes]:
    """Hashes of the complete ``nodes``, rebuilt from the tiles that hold them."""
    out: list[bytes] = []
    for node in nodes:
        tile, offset, count = _tile_span(node)
        data = tiles.get(tile)
        end = (offset + count) * HASH_SIZE
        if data is None or len(data) < end:
            raise LookupError(f"tile {tile[0]}/{tile[1]} does not hold node {node}")
        layer = [data[i : i + HASH_SIZE] for i in range(offset * HASH_SIZE, end, HASH_SIZE)]
        while len(layer) > 1:
            it = iter(layer)
            layer = [
                _sha256(_NODE_PREFIX + left + right).digest()
                for left, right in zip(it, it, strict=True)
            ]
        out.append(layer[0])
    return out
