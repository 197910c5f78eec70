"""Planner statistics: the row counts and value spreads the query planner picks plans by.

The reports' plans depend on them. SQLite gathers none by itself: a database that has never
been analyzed is planned on guesses, and one analyzed with a sample can be planned worse than
on guesses. Measured on the large demo org (1M deals, 4.4M history rows): with statistics from
`PRAGMA analysis_limit = 1000` the velocity report took 0.67 s against 0.13 s with full ones
(the open-deal count read a covering index by skip-scan instead of a range); with none at all
the MRR report took 2.6 s against 1.8 s. A full ANALYZE of that database takes about 6 s on
SQLite and 8 s on PostgreSQL. PostgreSQL's autovacuum analyzes a table once a tenth of it
changed, but only when it next comes by; analyzing right after a bulk write saves the reports
run meanwhile.

So Topline analyzes in full after it writes in bulk (demo builds and restores:
`topline.demo.loader`), after an import that wrote a tenth of a table's rows (`analyze_stale`),
after a migration of a database that held data (`topline.storage.migrate`; on PostgreSQL
with a VACUUM, `refresh_after_migration`), and on demand
(`topline db analyze`). On SQLite, a connection already open elsewhere (a running server's
pool) keeps planning with the statistics it loaded until it reconnects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from topline.storage.db import write_transaction

# A table whose rows changed by this share of its rows at its last analysis has stale
# statistics: PostgreSQL autovacuum's default (`autovacuum_analyze_scale_factor`).
STALE_SHARE = 0.1


def analyze(connection: Connection, tables: Sequence[str] = ()) -> None:
    """Gather full planner statistics for `tables` (every table when empty), in the
    connection's transaction; the caller commits."""
    quote = connection.dialect.identifier_preparer.quote
    if connection.dialect.name == "sqlite":
        # Read every index entry: this connection may have sampled before.
        connection.exec_driver_sql("PRAGMA analysis_limit = 0")
    targets = [quote(table) for table in tables] or [""]
    for target in targets:
        connection.exec_driver_sql(f"ANALYZE {target}".rstrip())


def refresh(session: Session, tables: Sequence[str] = ()) -> None:
    """`analyze` in a transaction of its own, committed (on SQLite as a writer, queued behind
    the others)."""
    with write_transaction(session):
        analyze(session.connection(), tables)
        session.commit()


def refresh_after_migration(engine: Engine) -> None:
    """Full statistics for every table after a migration; on PostgreSQL every table vacuumed
    too (`VACUUM (ANALYZE)`).

    A migration that fills a column in for the rows already there (the stays' latest stage,
    `b5d2e8f4a1c7`; the history's subscription fields, `c9e2f5a1d7b3`) writes a new version
    of every row. Until VACUUM marks the table's pages all-visible again, PostgreSQL's
    index-only scans look each entry up in the table, and autovacuum comes by only when it
    next gets round to it (on 1M deals, vacuuming the rewritten stays took 6 s).
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")
        return
    with Session(engine) as session:
        refresh(session)


def analyzed_rows(connection: Connection, table: str) -> float | None:
    """The rows `table` held when its statistics were last gathered, or None if they never
    were. (PostgreSQL also updates this count on VACUUM and CREATE INDEX.)"""
    if connection.dialect.name == "sqlite":
        has_statistics = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).first()
        if has_statistics is None:
            return None
        # Each row's `stat` starts with the rows of the table (idx null) or of one index; a
        # partial index holds fewer, so the largest is the table's.
        stats = connection.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = :table"), {"table": table}
        ).scalars()
        counts = [int(stat.split()[0]) for stat in stats if stat and stat.split()[0].isdigit()]
        return float(max(counts)) if counts else None
    rows = connection.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"), {"table": table}
    ).scalar()
    # PostgreSQL 14 and later say -1 for never analyzed; earlier ones 0.
    return None if rows is None or rows <= 0 else float(rows)


def stale_tables(connection: Connection, written: Mapping[str, int]) -> list[str]:
    """Of the tables `written` maps to the rows just written to them, those whose statistics
    are stale: never gathered, or the rows written are at least `STALE_SHARE` of the rows the
    table held when they were."""
    stale = []
    for table, rows in sorted(written.items()):
        if rows <= 0:
            continue
        before = analyzed_rows(connection, table)
        if before is None or rows >= STALE_SHARE * before:
            stale.append(table)
    return stale


def analyze_stale(connection: Connection, written: Mapping[str, int]) -> list[str]:
    """Analyze, in the connection's transaction, the tables whose statistics `written` (rows
    just written, per table) made stale; returns them."""
    tables = stale_tables(connection, written)
    if tables:
        analyze(connection, tables)
    return tables
