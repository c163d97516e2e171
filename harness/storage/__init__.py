"""Every byte on disk, knowing no suite.

workdir (every folder of ``--workdir`` named once), shards (one JSON file per computed cell), sidefiles (a cell's
per-query values and neighbour lists beside its shard), store (results.duckdb: DDL, ingest, queries; the one
writer is ingest, never a worker) and prune.
"""
