"""One light declaration per suite (harness.spec.suites.Suite), kept apart from the suite's heavy ``run()`` so the
registry (harness.compute.suites.SUITES) lists every suite without importing torch, Milvus or Keras."""
