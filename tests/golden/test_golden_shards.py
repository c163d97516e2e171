"""Shard round trip: checked-in shard files parse with today's reader and re-serialise byte for byte; their
per-query and neighbour side files read back to the arrays they were written from."""

from __future__ import annotations

import json

import golden_support as g
import numpy as np

from harness.storage.shards import Shard, ShardStore, read_shard
from harness.storage.sidefiles import load_neighbours, load_per_query, neighbours_path, per_query_path

FILES = sorted((g.SHARD_DIR / "shards").glob("*.json"))


def test_there_are_three_shards() -> None:
    assert [f.stem for f in FILES] == sorted(s.run_id for s in g.golden_shards())


def test_shards_round_trip_byte_for_byte() -> None:
    for file in FILES:
        data = file.read_bytes()
        assert read_shard(file).to_bytes() == data, file.name
        assert Shard.parse(json.loads(data), file.name).to_bytes() == data, file.name


def test_todays_shard_builder_still_writes_the_same_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ShardStore(tmp_path)
    for shard in g.golden_shards():
        assert store.write(shard).read_bytes() == (g.SHARD_DIR / "shards" / f"{shard.run_id}.json").read_bytes()


def test_the_store_reads_the_folder() -> None:
    shards = list(ShardStore(g.SHARD_DIR / "shards").all())
    assert [(s.run_id, s.status) for s in shards] == [
        ("00112233445566778899aabbccddeeff", "error"),
        ("0123456789abcdef0123456789abcdef", "ok"),
        ("fedcba9876543210fedcba9876543210", "ok"),
    ]
    assert shards[2].metrics["recall@1"] == 0.625
    assert shards[0].error == "RuntimeError: boom"


def test_side_files_read_back() -> None:
    shard = read_shard(g.SHARD_DIR / "shards" / "0123456789abcdef0123456789abcdef.json")
    query, values = load_per_query(per_query_path(g.SHARD_DIR, shard.details["per_query"]))
    want_query, want_values = g.per_query_arrays()
    np.testing.assert_array_equal(query, want_query)
    assert sorted(values) == sorted(want_values)
    np.testing.assert_array_equal(values["recall@1"], want_values["recall@1"])
    ids, dists = load_neighbours(neighbours_path(g.SHARD_DIR, shard.details["neighbours"]))
    want_ids, want_dists = g.neighbour_arrays()
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(dists, want_dists)
