#!/usr/bin/env python3
"""Times statvault tabulate against DuckDB and Polars on the same census, checks that
they agree, and prints the ratios. Run by scripts/bench-tabulate, which prepares the
Parquet file, the vault and the shares.

usage: bench-tabulate.py STATVAULT REPO SHARES PARQUET SPEC WORKDIR ROUNDS SOCKET

SOCKET is an unsealed agent's: statvault is timed both as a new process that unlocks
with the shares, and through the agent, whose column cache a first untimed run fills.
"""
import json
import math
import os
import statistics
import subprocess
import sys
import time
import tomllib

import duckdb
import polars as pl

sv, repo, shares, parquet, spec_path, work, rounds, socket = sys.argv[1:9]
rounds = int(rounds)
threads = os.cpu_count()
spec = tomllib.load(open(spec_path, "rb"))
tables = spec["table"]

# ---- SQL for each variable of the example schema, producing statvault's codes.
AGE5 = "CASE WHEN age >= 100 THEN 'Y_GE100' ELSE 'Y' || (age // 5 * 5) || '-' || (age // 5 * 5 + 4) END"
AGE_BROAD = "CASE WHEN age < 15 THEN 'Y_LT15' WHEN age < 65 THEN 'Y15-64' ELSE 'Y_GE65' END"
HSIZE = "CASE WHEN hsize >= 6 THEN '6+' ELSE hsize::VARCHAR END"
# EPSG:3035 (IOGP 7-2, method 9820) in SQL, as statvault computes it.
E = "0.0818191910428158"  # GRS80 eccentricity
def q(phi):
    return f"((1 - {E}^2) * (sin({phi}) / (1 - {E}^2 * sin({phi})^2) - ln((1 - {E} * sin({phi})) / (1 + {E} * sin({phi}))) / (2 * {E})))"
QP = q("pi() / 2")
LAT0 = "radians(52.0)"
B0 = f"asin({q(LAT0)} / {QP})"
RQ = f"(6378137.0 * sqrt({QP} / 2))"
D = f"(6378137.0 * cos({LAT0}) / sqrt(1 - {E}^2 * sin({LAT0})^2) / ({RQ} * cos({B0})))"
BETA = f"asin({q('radians(lat)')} / {QP})"
DL = "radians(lon - 10.0)"
BB = f"({RQ} * sqrt(2 / (1 + sin({B0}) * sin({BETA}) + cos({B0}) * cos({BETA}) * cos({DL}))))"
EASTING = f"(4321000.0 + {BB} * {D} * cos({BETA}) * sin({DL}))"
NORTHING = f"(3210000.0 + {BB} / {D} * (cos({B0}) * sin({BETA}) - sin({B0}) * cos({BETA}) * cos({DL})))"
GRID = f"'CRS3035RES1000mN' || (floor({NORTHING} / 1000) * 1000)::BIGINT || 'E' || (floor({EASTING} / 1000) * 1000)::BIGINT"

EXPR = {"age_group5": AGE5, "age_broad": AGE_BROAD, "household_size": HSIZE, "grid_1km": GRID}


def expr(var):
    return EXPR.get(var, f"{var}::VARCHAR")


def where_sql(filters):
    parts = []
    for var, f in filters.items():
        if isinstance(f, dict):
            parts.append(f"age BETWEEN {f['min']} AND {f['max']}" if var == "age" else f"{var} BETWEEN {f['min']} AND {f['max']}")
        else:
            codes = ", ".join(f"'{c}'" for c in f)
            parts.append(f"{expr(var)} IN ({codes})")
    return " AND ".join(parts) if parts else "TRUE"


def sql_for(t):
    """The query a DuckDB user would write for a table spec (finest cells only)."""
    if t.get("builtin") == "geostat_1km":
        return (f"SELECT {GRID} AS cell, count(*) AS T, count_if(sex = 1) AS M, count_if(sex = 2) AS F, "
                "count_if(age < 15), count_if(age BETWEEN 15 AND 64), count_if(age >= 65), count_if(activity = 1), "
                "count_if(birthplace = 1), count_if(birthplace = 2), count_if(birthplace = 3), "
                "count_if(residence_1y = 1), count_if(residence_1y = 2), count_if(residence_1y = 3) "
                f"FROM '{parquet}' GROUP BY ALL")
    dims = t["dimensions"]
    keys = ", ".join(expr(d) for d in dims)
    measure = f"sum({t['measure']['sum']})" if isinstance(t.get("measure"), dict) else "count(*)"
    where = where_sql(t.get("where", {}))
    unit = t.get("unit", "person")
    source = f"'{parquet}'"
    if "household_size" in dims and unit == "person":
        source = f"(SELECT *, count(*) OVER (PARTITION BY household_id) AS hsize FROM '{parquet}')"
    if unit == "household":
        source = (f"(SELECT household_id, any_value(county) AS county, any_value(municipality) AS municipality, "
                  f"any_value(tenure) AS tenure, count(*) AS hsize FROM '{parquet}' GROUP BY household_id)")
    if unit == "dwelling":
        source = f"(SELECT dwelling_id, any_value(municipality) AS municipality FROM '{parquet}' GROUP BY dwelling_id)"
    return f"SELECT {keys}, {measure} FROM {source} WHERE {where} GROUP BY ALL"


def polars_for(t):
    """The headline tables in Polars (lazy, from the Parquet file)."""
    lf = pl.scan_parquet(parquet)
    age5 = (pl.when(pl.col("age") >= 100).then(pl.lit("Y_GE100"))
            .otherwise(pl.lit("Y") + (pl.col("age") // 5 * 5).cast(pl.Utf8) + pl.lit("-") + (pl.col("age") // 5 * 5 + 4).cast(pl.Utf8)))
    if t["id"] == "population_municipality_sex_age5":
        return lf.group_by(pl.col("municipality"), pl.col("sex").cast(pl.Utf8), age5.alias("age5")).agg(pl.len())
    if t["id"] == "population_county_education_activity":
        return (lf.filter(pl.col("age").is_between(15, 120))
                .group_by(pl.col("county"), pl.col("education").cast(pl.Utf8), pl.col("activity").cast(pl.Utf8)).agg(pl.len()))
    if t.get("builtin") == "geostat_1km":
        e = 0.0818191910428158
        def qp(phi):
            s = phi.sin() if isinstance(phi, pl.Expr) else math.sin(phi)
            ln = ((1 - e * s) / (1 + e * s)).log() if isinstance(phi, pl.Expr) else math.log((1 - e * s) / (1 + e * s))
            return (1 - e * e) * (s / (1 - e * e * s * s) - ln / (2 * e))
        qpole, lat0 = qp(math.pi / 2), math.radians(52.0)
        b0 = math.asin(qp(lat0) / qpole)
        rq = 6378137.0 * math.sqrt(qpole / 2)
        d = 6378137.0 * math.cos(lat0) / math.sqrt(1 - e * e * math.sin(lat0) ** 2) / (rq * math.cos(b0))
        beta = (qp(pl.col("lat").radians()) / qpole).arcsin()
        dl = (pl.col("lon") - 10.0).radians()
        bb = rq * (2 / (1 + math.sin(b0) * beta.sin() + math.cos(b0) * beta.cos() * dl.cos())).sqrt()
        east = 4321000.0 + bb * d * beta.cos() * dl.sin()
        north = 3210000.0 + bb / d * (math.cos(b0) * beta.sin() - math.sin(b0) * beta.cos() * dl.cos())
        cell = (pl.lit("CRS3035RES1000mN") + ((north / 1000).floor() * 1000).cast(pl.Int64).cast(pl.Utf8)
                + pl.lit("E") + ((east / 1000).floor() * 1000).cast(pl.Int64).cast(pl.Utf8))
        c = pl.col
        cols = [pl.len(), c("sex") == 1, c("sex") == 2, c("age") < 15, c("age").is_between(15, 64), c("age") >= 65,
                c("activity") == 1, c("birthplace") == 1, c("birthplace") == 2, c("birthplace") == 3,
                c("residence_1y") == 1, c("residence_1y") == 2, c("residence_1y") == 3]
        aggs = [cols[0].alias("v0")] + [x.sum().alias(f"v{i}") for i, x in enumerate(cols) if i > 0]
        return lf.group_by(cell.alias("cell")).agg(aggs)
    return None


def fine_cells(table):
    """statvault's cells at the finest level of every dimension, as code tuples."""
    dims = table["dimensions"]
    sizes = [len(d["categories"]) for d in dims]
    out = {}
    for i, v in enumerate(table["values"]):
        idx, rest = [], i
        for s in reversed(sizes):
            idx.append(rest % s)
            rest //= s
        idx.reverse()
        cats = [dims[k]["categories"][j] for k, j in enumerate(idx)]
        if all(c["kind"] == "code" for c in cats) and v != 0:
            out[tuple(c["code"] for c in cats)] = v
    return out


def geostat_cells(table):
    codes = [c["code"] for c in table["dimensions"][1]["categories"]]
    n = len(codes)
    out = {}
    for g, cell in enumerate(table["dimensions"][0]["categories"]):
        out[cell["code"]] = tuple(table["values"][g * n:(g + 1) * n])
    return out


def agree(t, table, rows):
    if t.get("builtin") == "geostat_1km":
        mine = geostat_cells(table)
        theirs = {r[0]: tuple(int(x) for x in r[1:]) for r in rows}
    else:
        mine = fine_cells(table)
        theirs = {tuple(str(x) for x in r[:-1]): int(r[-1]) for r in rows}
    differ = sum(1 for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return differ, len(theirs)


def run_statvault(spec_file, out, agent=False):
    args = [sv, "tabulate", "--repo", repo, "--snapshot", "latest", "--spec", spec_file, "--out", out]
    if agent:
        args += ["--agent", socket]
    else:
        for s in shares.split(","):
            args += ["--share", s]
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def one_table_spec(t):
    path = os.path.join(work, f"spec-{t['id']}.toml")
    lines = ['format = "statvault-table-spec/1"', "", "[[table]]"]
    for k, v in t.items():
        lines.append(f"{k} = {toml_value(v)}")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"


con = duckdb.connect()
con.execute(f"SET threads = {threads}")
median = statistics.median
headline = ["population_municipality_sex_age5", "population_county_education_activity", "grid_1km"]
print(f"{threads} threads; {rounds} rounds, median; statvault times include process start, unlock and reading from the vault", file=sys.stderr)

results = []
for t in [t for t in tables if t["id"] in headline]:
    spec_file = one_table_spec(t)
    out = os.path.join(work, "out-" + t["id"])
    sql = sql_for(t)
    pq = polars_for(t)
    times = {"statvault": [], "agent": [], "duckdb": [], "polars": []}
    run_statvault(spec_file, out + "-agent", agent=True)  # fills the agent's cache
    for _ in range(rounds):
        times["statvault"].append(run_statvault(spec_file, out))
        times["agent"].append(run_statvault(spec_file, out + "-agent", agent=True))
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times["duckdb"].append(time.perf_counter() - start)
        start = time.perf_counter()
        prows = pq.collect().rows()
        times["polars"].append(time.perf_counter() - start)
    table = json.load(open(os.path.join(out, t["id"] + ".table.json")))
    if table != json.load(open(os.path.join(out + "-agent", t["id"] + ".table.json"))):
        sys.exit(f"{t['id']}: the agent's table differs from the direct one")
    d_duck, n = agree(t, table, rows)
    d_polars, _ = agree(t, table, prows)
    m = {k: median(v) for k, v in times.items()}
    results.append((t["id"], m, d_duck, d_polars, n))
    print(f"{t['id']}: statvault {m['statvault']:.3f} s, through the agent {m['agent']:.3f} s, duckdb {m['duckdb']:.3f} s, polars {m['polars']:.3f} s; "
          f"{n} cells; differing cells: duckdb {d_duck}, polars {d_polars}", file=sys.stderr)

# The whole spec: one statvault scan against one DuckDB query per table.
out = os.path.join(work, "out-all")
all_sv, all_agent, all_duck = [], [], []
disagreements = {}
run_statvault(spec_path, out + "-agent", agent=True)
for _ in range(rounds):
    all_sv.append(run_statvault(spec_path, out))
    all_agent.append(run_statvault(spec_path, out + "-agent", agent=True))
    start = time.perf_counter()
    answers = {t["id"]: con.execute(sql_for(t)).fetchall() for t in tables}
    all_duck.append(time.perf_counter() - start)
for t in tables:
    table = json.load(open(os.path.join(out, t["id"] + ".table.json")))
    disagreements[t["id"]] = agree(t, table, answers[t["id"]])[0]
bad = {k: v for k, v in disagreements.items() if v}
print(f"all {len(tables)} tables: statvault one scan {median(all_sv):.3f} s, through the agent {median(all_agent):.3f} s, duckdb {len(tables)} queries {median(all_duck):.3f} s; "
      f"tables that differ: {bad or 'none'}", file=sys.stderr)

print()
print("| table | statvault, new process | statvault, agent | DuckDB | Polars | new process / DuckDB | agent / DuckDB | agent / Polars | cells agree |")
print("|---|---|---|---|---|---|---|---|---|")
for tid, m, dd, dp, n in results:
    print(f"| {tid} | {m['statvault']:.3f} s | {m['agent']:.3f} s | {m['duckdb']:.3f} s | {m['polars']:.3f} s | "
          f"{m['statvault'] / m['duckdb']:.2f}× | **{m['agent'] / m['duckdb']:.2f}×** | {m['agent'] / m['polars']:.2f}× | "
          f"{'yes' if dd == 0 and dp == 0 else f'NO ({dd} duckdb, {dp} polars)'} ({n} cells) |")
print(f"| all {len(tables)} tables (one statvault scan vs {len(tables)} DuckDB queries) | {median(all_sv):.3f} s | {median(all_agent):.3f} s | {median(all_duck):.3f} s | | "
      f"{median(all_sv) / median(all_duck):.2f}× | **{median(all_agent) / median(all_duck):.2f}×** | | {'yes' if not bad else 'NO: ' + ', '.join(bad)} |")
sys.exit(1 if bad or any(r[2] or r[3] for r in results) else 0)
