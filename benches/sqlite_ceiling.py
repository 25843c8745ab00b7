"""Cross-check of the benchmark's SQLite ceiling (benches/countersign/ceilings.rs) with
Python's own sqlite3 module: one connection, one 2,048-byte TEXT row per
BEGIN IMMEDIATE ... COMMIT, back to back, with the same pragmas (WAL,
synchronous=FULL, the writer's cache size, SQLite's automatic checkpoints).

    python3 benches/sqlite_ceiling.py [COMMITS] [DIR]

DIR is where the database goes (default: the system temp directory, where the
benchmark puts its own): use the same disk as the benchmark.
"""

import os
import sqlite3
import sys
import tempfile
import time

ROW_BYTES = 2048
PRAGMAS = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_size_limit = 67108864",
    "PRAGMA cache_size = -16384",
]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory(dir=sys.argv[2] if len(sys.argv) > 2 else None) as d:
        # isolation_level=None: the module sends our BEGIN/COMMIT and none of its own.
        db = sqlite3.connect(os.path.join(d, "ceiling.db"), isolation_level=None)
        for pragma in PRAGMAS:
            db.execute(pragma).fetchall()
        db.execute("CREATE TABLE ceiling (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT")
        body = "x" * ROW_BYTES
        latencies = []
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO ceiling (body) VALUES (?)", (body,))
            db.execute("COMMIT")
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        db.close()
    latencies.sort()

    # Nearest rank, as the Rust harness computes it.
    def ms(p):
        return latencies[min(max(-(-p * n // 100), 1), n) - 1] * 1e3

    print(
        f"python sqlite3 {sqlite3.sqlite_version}: {n} commits of {ROW_BYTES}-byte rows, "
        f"{n / elapsed:.0f} rows/s, commit p50 {ms(50):.2f} ms, p99 {ms(99):.2f} ms, "
        f"max {latencies[-1] * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
