"""DuckDB half of scripts/bench-protect: the cell key method's p-table lookup as a
range join over the grid table's cells, timed (best of N), and checked against
statvault's output cell for cell. Prints the best time in seconds."""
import json
import sys
import time

import duckdb

table_path, ptable_path, protected_path, rounds = sys.argv[1:5]
table = json.load(open(table_path))
protected = json.load(open(protected_path))
db = duckdb.connect()
db.execute(
    "CREATE TABLE cells AS SELECT * FROM (SELECT unnest(?) AS id, unnest(?) AS n, unnest(?) AS key_sum)",
    [list(range(len(table["values"]))), table["values"], table["record_key_sums"]],
)
db.execute(f"CREATE TABLE ptable AS SELECT * FROM read_csv('{ptable_path}')")
top = db.execute("SELECT max(i) FROM ptable").fetchone()[0]
query = f"""
    SELECT c.id, c.n + p.v AS published
    FROM cells c JOIN ptable p
      ON p.i = least(c.n, {top})
     AND (c.key_sum % 4294967296) / 4294967296.0 >= p.p_int_lb
     AND (c.key_sum % 4294967296) / 4294967296.0 < p.p_int_ub
    ORDER BY c.id
"""
best = None
for _ in range(int(rounds)):
    start = time.perf_counter()
    rows = db.execute(query).fetchall()
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
mine = protected["values"]
differ = sum(1 for cell, value in rows if mine[cell] != value)
if len(rows) != len(mine) or differ:
    sys.exit(f"DuckDB and statvault disagree on {differ} of {len(mine)} cells")
print(f"{best:.4f}")
