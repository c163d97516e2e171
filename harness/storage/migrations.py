"""The results database's schema version and the forward migrations between versions.

Version 1 is the schema as written before versions existed: a database without a recorded version is
version 1. Each migration takes a database from version ``n`` to ``n + 1``; the writer (``store.connect``
without ``read_only``) applies the missing ones in order, in one transaction with the new version's stamp,
so a crash leaves the old version whole. Readers never migrate (they cannot write): they accept any version up
to this code's, which holds as long as a migration only adds (columns, tables, corrected values) and never
removes what an older reader selects. A database newer than this code is refused by readers and writers alike.

Where the version lives: DuckDB has no ``PRAGMA user_version``, and a version table would change the pinned
catalogue of every database (the DDL golden fixture), so the version is the comment of the ``runs`` table: it
is part of the catalogue, transactional, survives ``ALTER TABLE`` and travels with the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from harness.core.errors import HarnessError

#: the table whose comment holds the version (every database has it: the first table of the schema)
VERSIONED_TABLE = "runs"
COMMENT = "ecombench results schema {version}"
_COMMENT = re.compile(r"ecombench results schema (\d+)")


@dataclass(frozen=True)
class Migration:
    """What version ``n + 1`` changes: ``apply`` runs inside the writer's migration transaction."""

    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _seed_from_params(con: duckdb.DuckDBPyConnection) -> None:
    # the rule of store.run_seed: an integer ``seed`` parameter, else NULL
    con.execute(
        "UPDATE runs SET seed = CASE WHEN json_type(params->'seed') IN ('BIGINT', 'UBIGINT')"
        " THEN TRY_CAST(params->>'seed' AS INTEGER) END"
    )


#: MIGRATIONS[i] takes a database from version i + 1 to i + 2
MIGRATIONS: list[Migration] = [
    Migration(
        "runs.seed is the cell's seed parameter (NULL where the cell trains nothing); it was always 0",
        _seed_from_params,
    ),
    # the table itself is created by the writer's schema (CREATE TABLE IF NOT EXISTS, in the same transaction);
    # the version says whether a reader may expect it
    Migration("the shortcut_scores table (ecombench recommend --evaluate)", lambda con: None),
]


def current_version() -> int:
    """The version this code writes and reads up to."""
    return len(MIGRATIONS) + 1


def stored_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The database's schema version; None for a database without the results tables (a new file)."""
    row = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [VERSIONED_TABLE]
    ).fetchone()
    if row is None:
        return None
    match = _COMMENT.fullmatch(row[0] or "")
    return int(match[1]) if match else 1  # no stamp: written before versions existed


def check_readable(version: int | None, where: str) -> None:
    """Refuse a database this code does not know how to read."""
    if version is not None and version > current_version():
        raise HarnessError(
            f"results database '{where}' was written by a newer ecombench (schema {version}, this one reads up to"
            f" {current_version()}): upgrade ecombench, or write to another --db"
        )


def stamp(con: duckdb.DuckDBPyConnection, version: int) -> None:
    # COMMENT ON takes a literal, not a bound parameter; the text is built from an int only
    con.execute(f"COMMENT ON TABLE {VERSIONED_TABLE} IS '{COMMENT.format(version=int(version))}'")


def migrate(con: duckdb.DuckDBPyConnection, version: int) -> list[str]:
    """Apply the migrations after ``version`` in order (the caller holds the transaction); returns what each did."""
    done = []
    for index in range(version - 1, len(MIGRATIONS)):
        MIGRATIONS[index].apply(con)
        done.append(f"{index + 1} -> {index + 2}: {MIGRATIONS[index].description}")
    return done
