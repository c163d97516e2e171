"""Regenerate the golden fixtures under tests/golden/fixtures/ from the code as it is now.

DO NOT run this to make a failing golden test pass. The fixtures pin today's observable behaviour (cell,
sub-job and cache keys, shard and cell-spec bytes, every ``--help`` text, the database DDL, an old database
that must stay readable); a refactor must leave them unchanged. Re-run this only on purpose, when a change
of key, format, schema or command line is intended, and say so in the commit that updates the fixtures.

    KERAS_BACKEND=torch python tests/golden/regenerate.py   (from the repository root)

The hand-written inputs (keys_suite.toml, keys_suite_crosstop.toml, plan_suite.toml) are not regenerated.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import golden_support as g


def main() -> None:
    os.environ["KERAS_BACKEND"] = "torch"
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        # 1. keys
        g.KEYS_JSON.write_text(g.dump(g.all_keys(tmp / "keys")))
        g.CACHE_KEYS_JSON.write_text(g.dump(g.cache_keys()))
        # 2. a shard with its side files
        shutil.rmtree(g.SHARD_DIR, ignore_errors=True)
        g.write_workdir(g.SHARD_DIR)
        # 3. plan --json
        (tmp / "plan").mkdir()
        g.PLAN_LINE.write_text("\n".join(g.plan_lines(tmp / "plan")) + "\n")
        # 4. --help
        shutil.rmtree(g.HELP_DIR, ignore_errors=True)
        g.HELP_DIR.mkdir()
        for name, text in g.help_texts().items():
            (g.HELP_DIR / name).write_text(text)
        # 5. DDL of a fresh database
        (tmp / "fresh").mkdir()
        g.DDL_TXT.write_text(g.fresh_ddl(tmp / "fresh"))
        # 6. an old database with its workdir, and what today's code reads from it
        shutil.rmtree(g.OLD_DB_DIR, ignore_errors=True)
        g.build_old_db(g.OLD_DB_DIR)
        g.OLD_DB_EXPECTED.write_text(g.dump(g.read_old_db(g.OLD_DB_DIR / "results.duckdb")))
    print("fixtures written under tests/golden/fixtures")


if __name__ == "__main__":
    main()
