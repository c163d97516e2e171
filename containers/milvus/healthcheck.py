"""The sidecar's HEALTHCHECK: healthy once /healthz says OK and a client call on the proxy port succeeded.

The client call (pymilvus: about a second of CPU) runs only until it first succeeds (the proxy can lag
/healthz at start); then a marker in /tmp records it, and later checks read /healthz alone, so the check
takes next to nothing from the cell running beside the sidecar.
"""

import sys
import urllib.request
from pathlib import Path

READY = Path("/tmp/milvus-proxy-ready")

try:
    with urllib.request.urlopen("http://127.0.0.1:9091/healthz", timeout=3) as resp:
        if "OK" not in resp.read().decode("utf-8", "replace"):
            sys.exit(1)
    if not READY.exists():
        from pymilvus import MilvusClient

        MilvusClient(uri="http://127.0.0.1:19530", timeout=5).list_collections()
        READY.touch()
except Exception as exc:  # any failure is "not healthy yet"
    print(exc)
    sys.exit(1)
