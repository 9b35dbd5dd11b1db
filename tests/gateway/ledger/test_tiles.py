"""Tiles written by appends rebuild exactly the nodes the reference tree store holds.

The reference is ``creditlink.sdk.tlog.MemoryNodeStore`` fed by the same ``Frontier.extend``
runs; the check covers every complete node of trees grown in uneven batches across several
tile boundaries and tile levels, and proofs built from tiles verify. Covers CXP-LOG-010.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlink.gateway.ledger.tiles import (
    TILE_WIDTH,
    TileId,
    nodes_from_tiles,
    partial_tiles_before,
    tile_updates,
    tiles_for_nodes,
)
from creditlink.sdk.tlog import (
    Frontier,
    MemoryNodeStore,
    NodeId,
    inclusion_nodes,
    leaf_hash,
    verify_inclusion,
)


def _grow(batches: list[int]) -> tuple[Frontier, MemoryNodeStore, dict[TileId, bytes], int]:
    frontier, reference, tiles, reads = Frontier(), MemoryNodeStore(), {}, 0
    for n in batches:
        leaves = [
            leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())
            for i in range(frontier.size, frontier.size + n)
        ]
        needed = partial_tiles_before(frontier.size, n)
        reads += len(needed)
        existing = {t: tiles[t] for t in needed}
        frontier, runs = frontier.extend(leaves)
        reference.add_runs(runs)
        tiles.update(tile_updates(runs, existing))
    return frontier, reference, tiles, reads


def _complete_nodes(size: int) -> list[NodeId]:
    nodes: list[NodeId] = []
    level = 0
    while size >> level:
        nodes.extend((level, i) for i in range(size >> level))
        level += 1
    return nodes


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=6))
def test_tiles_rebuild_every_complete_node(batches: list[int]) -> None:
    frontier, reference, tiles, _ = _grow(batches)
    nodes = _complete_nodes(frontier.size)
    assert nodes_from_tiles(nodes, tiles) == reference.get_nodes(nodes)


def test_crossing_tile_levels_and_proofs_verify() -> None:
    # 70,000 leaves: three tile levels (8 * 2 = 16 < log2(70,000) ~ 16.1).
    frontier, _, tiles, reads = _grow([1, 255, 256, 3000, 65_000, 1488])
    assert frontier.size == 70_000
    assert {level for level, _ in tiles} == {0, 1, 2}
    assert reads <= 6 * 3  # at most one partial tile per stored level per append
    root = frontier.root()
    for index in (0, 255, 256, 65_535, 69_999):
        spec = inclusion_nodes(index, frontier.size)
        assert len(tiles_for_nodes(spec.ids)) <= len(spec.ids)
        proof = spec.rehash(nodes_from_tiles(spec.ids, tiles))
        data = hashlib.sha256(index.to_bytes(8, "big")).digest()
        verify_inclusion(
            leaf_hash=leaf_hash(data), index=index, tree_size=frontier.size, proof=proof, root=root
        )


def test_full_tiles_hold_256_hashes_and_partial_ones_grow() -> None:
    _, _, tiles, _ = _grow([TILE_WIDTH + 10])
    assert len(tiles[(0, 0)]) == TILE_WIDTH * 32
    assert len(tiles[(0, 1)]) == 10 * 32
    assert len(tiles[(1, 0)]) == 1 * 32


def test_missing_partial_tile_is_an_error_not_silent_corruption() -> None:
    frontier, _, _, _ = _grow([10])
    leaves = [leaf_hash(b"x")] * 5
    _, runs = frontier.extend(leaves)
    with pytest.raises(ValueError, match="holds 0 hashes"):
        tile_updates(runs, {})


def test_reading_a_node_beyond_the_tiles_fails() -> None:
    _, _, tiles, _ = _grow([10])
    with pytest.raises(LookupError):
        nodes_from_tiles([(0, 11)], tiles)
