"""From a suite file to the cells to run, without loading a model or reading an image.

grid (suite files as data -> cells), identity (the one rule for a cell's key and the sub-jobs it consumes), plan
(every cell with its status and sub-jobs), estimate (device time, price, disk), readiness (what a grid needs
before it can run) and dryrun (the estimate as ``plan`` and ``bench-full --dry-run`` print it).
"""
