"""Workflows that compose the layers below into one command: bench-full (the paper's whole study), audit
(re-run a sample of finished cells and compare), and the datasets commands (prepare, info)."""
