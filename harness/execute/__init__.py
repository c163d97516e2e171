"""Running planned cells: the worker (one cell: load, resolve, run the suite, write the shard), the executors
(serial, pool, container, Ray), the runner (hand cells out, ingest every shard), containers and preflight."""
