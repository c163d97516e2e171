"""The embedding cache's sidecar records the row order, so an outside checker can align rows with items."""

import hashlib
import json
from pathlib import Path

from harness.compute.datasets import resolve_dataset
from support import run_cli


def test_sidecar_records_the_item_order(tmp_path: Path) -> None:
    dataset = "digits[per_class=10]"
    done = run_cli("run", "--model", "pixels:8", "--dataset", dataset, "--backend", "exact", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = resolve_dataset(dataset).manifest()
    sidecars = [json.loads(p.read_text()) for p in (tmp_path / ".ecombench" / "embeddings").rglob("*.json")]
    assert {s["split"] for s in sidecars} >= {"test"}
    for sidecar in sidecars:
        keys = [manifest.items[i].key for i in manifest.indices(sidecar["split"])]
        assert sidecar["shape"][0] == len(keys)
        assert sidecar["item_keys_sha256"] == hashlib.sha256("\n".join(keys).encode()).hexdigest()
