"""Reads one protected table's renderings with the stock readers and compares every
value and flag with the protected table. Usage: read_formats.py PROTECTED.json DIR"""
import json
import math
import sys

import duckdb
import openpyxl
import pandas
import pyaxis.pyaxis as pyaxis
from pyjstat import pyjstat

source, folder = sys.argv[1:3]
table = json.load(open(source))
values = table["values"]
status = table["status"]
cells = len(values)
dims = [d["id"] for d in table["dimensions"]]


def same(got, what):
    got = [None if g is None or (isinstance(g, float) and math.isnan(g)) else int(g) for g in got]
    if got != values:
        bad = [i for i, (g, v) in enumerate(zip(got, values)) if g != v][:5]
        sys.exit(f"{what}: {len(got)} values, first differences at cells {bad}")
    print(f"{what}: ok")


frame = pandas.read_csv(f"{folder}/table.csv", dtype={d: str for d in dims}, keep_default_na=False,
                        na_values={"value": [""]})
assert list(frame["status"]) == status, "pandas csv: status"
same(list(frame["value"]), "pandas csv")

rows = duckdb.sql(f"SELECT value, status FROM read_csv('{folder}/table.csv', all_varchar=true)").fetchall()
assert [r[1] or "" for r in rows] == status, "duckdb csv: status"
same([None if r[0] is None else int(r[0]) for r in rows], "duckdb csv")

sdmx = pandas.read_csv(f"{folder}/table.sdmx.csv", dtype=str, keep_default_na=False)
assert list(sdmx.columns[:3]) == ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
assert list(sdmx["CONF_STATUS"]) == ["C" if s == "c" else "F" for s in status]
assert all(v != "" for v in sdmx["OBS_VALUE"]), "SDMX's missing value is NaN"
same([None if v == "NaN" else int(v) for v in sdmx["OBS_VALUE"]], "sdmx")
labelled = pandas.read_csv(f"{folder}/table.sdmx.en.csv", dtype=str, keep_default_na=False)
assert len(labelled) == cells and ": " in labelled.columns[3]
# SDMX-CSV 2.0 labels=both: every column past the fixed three is "ID: name", the
# structure "ID: name", every coded cell "code: label" (statuses included).
assert all(": " in c for c in labelled.columns[3:]), list(labelled.columns)
assert labelled.columns[len(dims) + 3].startswith("OBS_VALUE: ")
assert all(": " in v for v in labelled["STRUCTURE_ID"])
conf = [c for c in labelled.columns if c.startswith("CONF_STATUS: ")][0]
assert list(labelled[conf]) == ["C: Confidential" if s == "c" else "F: Free" for s in status]
obs_status = [c for c in labelled.columns if c.startswith("OBS_STATUS: ")][0]
assert all(v == "" or v.split(": ")[0] in ("p", "u") for v in labelled[obs_status])

# sdmx1 reads the structure message, then the data with it, and converts to pandas.
import sdmx as sdmx1
structures = sdmx1.read_sdmx(f"{folder}/table.sdmx.xml")
flow = structures.dataflow[table["id"].upper()]
dsd = structures.structure["DSD_" + table["id"].upper()]
assert flow.structure is dsd
assert [d.id for d in dsd.dimensions] == [d.upper() for d in dims]
for d, dimension in zip(table["dimensions"], dsd.dimensions):
    codelist = dimension.local_representation.enumerated
    assert [c.id for c in codelist] == [c["code"] for c in d["categories"]], d["id"]
    for c in d["categories"]:
        assert str(codelist[c["code"]].name.localizations["en"]) == c["label"]["en"]
assert {c.id for c in structures.codelist["CL_OBS_STATUS"]} == {"p", "u"}
with open(f"{folder}/table.sdmx.csv", "rb") as f:
    message = sdmx1.read_sdmx(f, format="csv", structure=flow)
observations = [o for ds in message.data for o in ds.obs]
assert len(observations) == cells, f"sdmx1: {len(observations)} observations"
frame = sdmx1.to_pandas(message.data[0], attributes="o")
assert len(frame) == cells, f"sdmx1 pandas: {len(frame)} rows"
by_key = {tuple(o.dimension.values[d.upper()].value for d in dims): o for o in observations}
order = []
for i in range(cells):
    rest, key = i, []
    for d in reversed(table["dimensions"]):
        n = len(d["categories"])
        key.append(d["categories"][rest % n]["code"])
        rest //= n
    order.append(tuple(reversed(key)))
same([None if by_key[k].value == "NaN" else int(by_key[k].value) for k in order], "sdmx1")
assert sorted(frame.columns) == sorted(["value", "OBS_STATUS", "CONF_STATUS"]), list(frame.columns)
print(f"sdmx1 pandas: {int(frame['value'].isna().sum())} suppressed of {cells}: ok")

for lang in ["sq", "en"]:
    text = open(f"{folder}/table.{lang}.json", encoding="utf-8").read()
    dataset = pyjstat.Dataset.read(text)
    df = dataset.write("dataframe")
    assert len(df) == cells, f"pyjstat {lang}: {len(df)} rows"
    same(list(df["value"]), f"pyjstat {lang}")
    flags = json.loads(text)["status"]
    if isinstance(flags, list):
        flags = [f or "" for f in flags]
    else:
        flags = [flags.get(str(i), "") for i in range(cells)]
    assert flags == status, f"json-stat {lang}: status"

for lang in ["sq", "en"]:
    px = pyaxis.parse(f"{folder}/table.px", encoding="utf-8", lang=lang)
    df = px["DATA"]
    assert len(df) == cells, f"pyaxis {lang}: {len(df)} rows"
    got = [None if str(v).strip('"') in ("..", "nan", "None", "") else int(float(v)) for v in df["DATA"]]
    same(got, f"pyaxis {lang}")

# Two more PX readers, written apart from PxWeb: pandas-pcaxis and pxrd (PyPI).
from pandas_pcaxis import PxParser
import pxrd

parser = PxParser()
parser.encoding = "utf-8"
parsed = parser.parse(open(f"{folder}/table.px", encoding="utf-8").read())
print(f"pandas-pcaxis: ok ({type(parsed).__name__})")
px = pxrd.read(f"{folder}/table.px")
assert list(px.languages()) == ["sq", "en"], f"pxrd: languages {px.languages()}"
print("pxrd: ok")

book = openpyxl.load_workbook(f"{folder}/table.xlsx", read_only=True)
for lang in ["sq", "en"]:
    rows = list(book[lang].iter_rows(values_only=True))
    assert rows[0][0] == table["title"][lang], f"openpyxl {lang}: title {rows[0][0]!r}"
    data = rows[3:3 + cells]
    width = len(dims)
    assert [r[width + 1] or "" for r in data] == status, f"openpyxl {lang}: flags"
    same([r[width] for r in data], f"openpyxl {lang}")
