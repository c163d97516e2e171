"""The bottom layer: leaf utilities every other layer may use, knowing nothing of cells, suites or models.

errors (the one exception users see), keys (content digests), io (durable atomic writes), locks, procs (worker
processes that die with their parent), progress, tomlfile (data files with one clear error), resources (files
shipped in the package), precision, machine (the hardware probe) and provenance (where a number came from).
"""
