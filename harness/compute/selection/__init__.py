"""Choosing a backbone without running the grid: class-stratified samples (:mod:`.sampling`), racing by
successive halving with paired tests (:mod:`.racing`), cheap transferability signals on frozen embeddings
(:mod:`.signals`) and the scores of a ranking against a finished grid's (:mod:`.scoring`).

Pure numpy/scipy over arrays: no model is loaded and nothing is read from disk here; the recommend workflow
(harness.workflows.recommend) feeds it embeddings and per-query values.
"""
