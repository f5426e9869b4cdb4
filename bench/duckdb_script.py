"""The job as a quant would write it in an afternoon: one DuckDB SQL statement.

    python bench/duckdb_script.py RECORDING.db [--check]

Reads ``book`` and ``trades`` through DuckDB's sqlite extension (``sqlite_scan``,
from the ``duckdb-extension-sqlite-scanner`` wheel ``orderflow.query`` already
uses), decodes the sides with ``json_transform`` and reduces them with list
lambdas, takes CVD from a per-instrument running sum of trades joined to each
snapshot with an ASOF join, and writes the rows back into the recording
(``duck_metrics``). It handles the well-formed, integer-epoch-ms files the
benchmark generates, not metrics.md's edge cases; ``--check`` compares its rows
with the ``metrics`` table an ``orderflow-coord`` run left in the same file, by
metrics.md's equality rule, so the benchmark compares equal work.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import duckdb
import duckdb_extension_sqlite_scanner

__all__ = ["run_duckdb"]

JOB = """
CREATE TABLE out.duck_metrics AS
WITH sides AS (
    SELECT id, instrument, timestamp, CAST(timestamp AS BIGINT) AS ms,
           list_filter(json_transform(bids, '[["DOUBLE"]]'), l -> l[2] > 0) AS b,
           list_filter(json_transform(asks, '[["DOUBLE"]]'), l -> l[2] > 0) AS a
    FROM sqlite_scan($path, 'book')
), snapshots AS (
    SELECT id, instrument, timestamp, ms,
           list_max(list_transform(b, l -> l[1])) AS best_bid,
           list_min(list_transform(a, l -> l[1])) AS best_ask,
           coalesce(list_sum(list_transform(b, l -> l[2])), 0) AS bv,
           coalesce(list_sum(list_transform(a, l -> l[2])), 0) AS av
    FROM sides
), flow AS (
    SELECT instrument, CAST(timestamp AS BIGINT) AS ms,
           sum(CASE lower(side) WHEN 'buy' THEN size ELSE -size END) AS signed
    FROM sqlite_scan($path, 'trades')
    GROUP BY ALL
), running AS (
    SELECT instrument, ms, sum(signed) OVER (PARTITION BY instrument ORDER BY ms) AS cvd
    FROM flow
)
SELECT s.id AS snapshot_id, s.timestamp,
       CASE WHEN s.bv + s.av > 0 THEN (s.bv - s.av) / (s.bv + s.av) END AS obi,
       coalesce(r.cvd, 0) AS cvd, s.best_bid, s.best_ask
FROM snapshots AS s ASOF LEFT JOIN running AS r
  ON s.instrument = r.instrument AND s.ms >= r.ms
ORDER BY s.ms, s.id
"""


def _connect() -> duckdb.DuckDBPyConnection:
    """DuckDB with the sqlite extension from its wheel (as ``orderflow.query`` loads it,
    without importing that package, whose pandas import alone takes seconds)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    wheel = Path(duckdb_extension_sqlite_scanner.__file__).parent
    extension = wheel / "extensions" / f"v{duckdb.__version__}" / "sqlite_scanner.duckdb_extension"
    con.execute(f"LOAD '{str(extension).replace(chr(39), chr(39) * 2)}'")
    return con


def run_duckdb(path: str | Path) -> int:
    """Compute and store ``duck_metrics``; returns the number of rows written."""
    con = _connect()
    try:
        # ATTACH takes no bind parameter: the path goes in as a quoted literal.
        literal = str(Path(path).resolve()).replace("'", "''")
        con.execute(f"ATTACH '{literal}' AS out (TYPE sqlite)")
        con.execute("DROP TABLE IF EXISTS out.duck_metrics")
        con.execute(JOB, {"path": str(path)})
        return con.execute("SELECT count(*) FROM out.duck_metrics").fetchone()[0]
    finally:
        con.close()


def check(path: str | Path) -> str | None:
    """None when ``duck_metrics`` equals ``metrics`` by metrics.md's rule, else why not.

    The CVD tolerance uses each instrument's total traded size over the file, an
    upper bound of metrics.md's V (traded size up to the snapshot)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        select = "SELECT snapshot_id, best_bid, best_ask, obi, cvd, instrument FROM"
        ours = {r[0]: r[1:] for r in conn.execute(f"{select} metrics")}
        theirs = {
            r[0]: r[1:5]
            for r in conn.execute(
                "SELECT m.snapshot_id, best_bid, best_ask, obi, cvd FROM duck_metrics AS m"
            )
        }
        volume = dict(
            conn.execute("SELECT instrument, sum(abs(size)) FROM trades GROUP BY instrument")
        )
    if ours.keys() != theirs.keys():
        return f"snapshot ids differ: {len(ours)} vs {len(theirs)}"
    for sid, (bid, ask, obi, cvd, instrument) in ours.items():
        d_bid, d_ask, d_obi, d_cvd = theirs[sid]
        if (bid, ask) != (d_bid, d_ask):
            return f"snapshot {sid}: best prices {bid, ask} vs {d_bid, d_ask}"
        if (obi is None) != (d_obi is None) or (obi is not None and abs(obi - d_obi) > 1e-12):
            return f"snapshot {sid}: obi {obi} vs {d_obi}"
        if abs(cvd - d_cvd) > 1e-9 * max(1.0, volume.get(instrument, 0.0)):
            return f"snapshot {sid}: cvd {cvd} vs {d_cvd}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recording", type=Path)
    p.add_argument("--check", action="store_true", help="compare with the metrics table")
    args = p.parse_args(argv)
    print(run_duckdb(args.recording))
    if args.check:
        problem = check(args.recording)
        if problem is not None:
            print(f"duckdb_script: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
