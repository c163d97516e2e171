"""Unpack the locked ``milvus`` wheel's server and write its configuration, at image build time.

    python configure.py BIN_ROOT DATA_DIR

BIN_ROOT gets ``bin/`` (the binary and its libraries) and ``configs/milvus.yaml`` (read from the working
directory by the binary); DATA_DIR (the image's volume) holds etcd, rocksmq and segment data at run time. Ports
are the defaults (proxy 19530), checked free here; logs go to stdout (``docker logs``); the extra settings are
the host server's (harness.compute.retrieval.milvus_server), so both servers answer alike.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import milvus

from harness.compute.retrieval.milvus_server import _EXTRA_CONFIG

PROXY_PORT = 19530


def main(bin_root: Path, data_dir: Path) -> None:
    config = milvus.MilvusServerConfig(data_dir=str(data_dir), proxy_port=PROXY_PORT)
    for key, value in _EXTRA_CONFIG.items():
        config.set(key, value)
    config.resolve()  # binds each port once to check it is free, writes DATA_DIR/configs/milvus.yaml
    config.set("system_log_path", "")  # no log files: the binary logs to stdout
    config.set("etcd_log_path", "stdout")
    config.write_config()
    milvus._initialize_data_files(str(bin_root))
    shutil.rmtree(bin_root / "configs", ignore_errors=True)
    shutil.move(str(data_dir / "configs"), str(bin_root / "configs"))
    shutil.rmtree(data_dir / "logs", ignore_errors=True)
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    for stale in (bin_root / "bin").glob("*.lzma.md5"):
        stale.unlink()
    print(f"milvus {milvus.__version__}: {bin_root / 'bin' / 'milvus'}, data in {data_dir}, proxy port {PROXY_PORT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
