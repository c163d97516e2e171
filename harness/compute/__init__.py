"""What a cell computes: models and datasets from their registries, embeddings, and the suites that score them.

models/ (families: timm, open_clip, published, checkpoint, wheel), datasets/ (kinds and the paper's six layouts,
prepare, manifests), extract/ (embedding extraction with its content-addressed cache, the image cache, JPEG
decoding), retrieval/ (the exact backend and Milvus, the index catalogue, metrics), toptune/ (the
KerasTuner-searched head), finetune/ (the fine-tuning loop and its jobs), cost/ (timing, memory, FLOPs, prices),
compression/ (codecs), stats (bootstrap, paired test, Holm) and suites/ (each suite's run()). Nothing here opens
the results database (import-linter: compute does not import storage.store).
"""
