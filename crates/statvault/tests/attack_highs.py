"""An independent attack on suppressed tables, written from docs/protection.md and the
table file formats, solved with HiGHS (scipy.optimize.linprog). Usage:

    attack_highs.py DIR SAMPLES SEED [TABLE_ID]

DIR holds <id>.protected.json with <id>.table.json beside each. The tables protected
by suppression are attacked together: one unknown per cell, a cell of one table the
same unknown as the cell of another table that counts the same records (same unit,
measure, number of records and sum of record keys); within one table cells are never
the same unknown. The attacker knows every published cell, every sum and bound the
files state, and, where zeros are published, that a hidden count is at least 1. Up to
SAMPLES primary cells (1 <= records < threshold) of each table are drawn with SEED and attacked both
ways: the largest value must reach v + P*v/r, the least must reach v - down, where down
is P*v/r, or less where the zeros and the sums alone already tell the cell is at least
L (the least with every nonzero cell hidden). As many secondary cells of each table are checked to be
uncertain by at least 1. With TABLE_ID, only that table's cells are drawn (the others
still count as the attacker's knowledge). Prints one line per finding and a summary;
exits 1 on any.
"""

import glob
import json
import math
import random
import sys

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

directory, samples, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
only = sys.argv[4] if len(sys.argv) > 4 else None

tables = []
for path in sorted(glob.glob(f"{directory}/*.protected.json")):
    published = json.load(open(path, encoding="utf-8"))
    if published["protection"]["method"] != "suppress":
        continue
    original = json.load(open(path.replace(".protected.json", ".table.json"), encoding="utf-8"))
    tables.append((published, original))
assert tables, "no suppressed tables"
parameters = tables[0][0]["protection"]["parameters"]
threshold = parameters["threshold"]
protection = parameters["protection"]
zeros_published = not parameters["suppress_zeros"]

# Unknowns.
truth, records, count, known = [], [], [], {}
by_identity = {}
table_vars = []
for number, (published, original) in enumerate(tables):
    ids = []
    for c, value in enumerate(original["values"]):
        n = original["records"][c]
        var = None
        if n > 0:
            identity = (original["unit"], original["measure"], n, original["record_key_sums"][c])
            users = by_identity.setdefault(identity, [])
            for candidate, tables_using in users:
                if number not in tables_using:
                    var = candidate
                    tables_using.add(number)
                    break
            if var is None:
                var = len(truth)
                users.append((var, {number}))
        else:
            var = len(truth)
        if var == len(truth):
            truth.append(value)
            records.append(n)
            count.append(original["measure"] == "count")
        if published["values"][c] is not None:
            known[var] = published["values"][c]
        ids.append(var)
    table_vars.append(ids)
unknowns = len(truth)

# Sums (equations) and bounds (inequalities), per dimension and combination of the others.
eq_rows, ub_rows = [], []
for (published, original), ids in zip(tables, table_vars):
    dims = original["dimensions"]
    shape = [len(d["categories"]) for d in dims]
    strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
    for d, dim in enumerate(dims):
        index = {cat["code"]: i for i, cat in enumerate(dim["categories"])}
        bases = [c for c in range(math.prod(shape)) if (c // strides[d]) % shape[d] == 0]
        for base in bases:
            at = lambda code: ids[base + index[code] * strides[d]]
            for s in dim.get("sums", []):
                row = {}
                for var, k in [(at(s["total"]), -1)] + [(at(p), 1) for p in s["parts"]]:
                    row[var] = row.get(var, 0) + k
                eq_rows.append(row)
            for b in dim.get("bounds", []):
                row = {}
                for var, k in [(at(p), 1) for p in b["parts"]] + [(at(w), -1) for w in b["within"]]:
                    row[var] = row.get(var, 0) + k
                ub_rows.append(row)


def matrix(rows):
    r, c, v = [], [], []
    for i, row in enumerate(rows):
        for var, k in row.items():
            if k:
                r.append(i)
                c.append(var)
                v.append(k)
    return coo_matrix((v, (r, c)), shape=(max(len(rows), 1), unknowns)).tocsr()


A_eq, A_ub = matrix(eq_rows), matrix(ub_rows)
b_eq, b_ub = np.zeros(A_eq.shape[0]), np.zeros(A_ub.shape[0])


def floor(var):
    return 1.0 if zeros_published and count[var] else 0.0


def attacker_bounds(everything_hidden=False):
    bounds = []
    for var in range(unknowns):
        if everything_hidden:
            hidden = not (zeros_published and truth[var] == 0 and records[var] == 0)
        else:
            hidden = var not in known
        if hidden:
            bounds.append((floor(var), None))
        else:
            value = truth[var] if everything_hidden else known[var]
            bounds.append((value, value))
    return bounds


published_bounds = attacker_bounds()
alone_bounds = attacker_bounds(everything_hidden=True)


def extreme(var, maximise, bounds):
    c = np.zeros(unknowns)
    c[var] = -1.0 if maximise else 1.0
    result = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if result.status == 3:
        return math.inf if maximise else -math.inf
    assert result.status == 0, result.message
    return -result.fun if maximise else result.fun


rng = random.Random(seed)
primary, secondary = [], []
for (published, _), ids in zip(tables, table_vars):
    if only is not None and published["id"] != only:
        continue
    hidden = sorted({v for v in ids if v not in known})
    for chosen, wanted in [(primary, lambda v: 1 <= records[v] < threshold), (secondary, lambda v: records[v] >= threshold)]:
        pool = [v for v in hidden if wanted(v) and v not in chosen]
        chosen.extend(rng.sample(pool, min(samples, len(pool))))
findings = []
for var in primary:
    v, per_record = truth[var], truth[var] / records[var]
    level = protection * per_record
    high = extreme(var, True, published_bounds)
    low = extreme(var, False, published_bounds)
    down = level
    if low > v - down + 1e-6:
        down = min(level, v - extreme(var, False, alone_bounds))
    if high < v + level - 1e-6 or low > v - down + 1e-6:
        findings.append(f"primary unknown {var}: value {v}, interval [{low}, {high}], needs [{v - down}, {v + level}]")
for var in secondary:
    high = extreme(var, True, published_bounds)
    low = extreme(var, False, published_bounds)
    if high - low < 1 - 1e-6:
        findings.append(f"secondary unknown {var}: value {truth[var]}, interval [{low}, {high}]")
for f in findings:
    print(f)
print(
    f"highs: {len(tables)} tables, {unknowns} unknowns, {len(eq_rows)} sums, {len(ub_rows)} bounds; "
    f"{len(primary)} primary and {len(secondary)} secondary cells attacked, "
    f"{len(findings)} exposed"
)
sys.exit(1 if findings else 0)
