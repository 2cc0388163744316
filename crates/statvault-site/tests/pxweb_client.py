"""The site's PxWebApi v2 read by pxwebpy (PyPI), an unmodified third-party client.
Usage:

    pxweb_client.py BASE_URL BUNDLE_CSV

Lists the tables, searches them by accent-less words in both languages, reads a
table's variables and code lists, and reads data (GET and POST, with a value set and
wildcards) into pandas DataFrames that must equal the bundle's own CSV. Prints
"<step>: ok" lines.
"""

import sys

import pandas as pd
from pxweb import PxApi

base, bundle_csv = sys.argv[1], sys.argv[2]
TABLE = "census-2023-first-results.population_municipality_sex"

api = PxApi(f"{base}/api/v2", language="en", disable_cache=True)
assert api.get_config()["apiVersion"] >= "2.0.0"
tables = api.all_tables()
ids = [t["id"] for t in tables]
assert TABLE in ids, ids
assert len(ids) == api.number_of_tables
print("list: ok")

for words in ["bashkise", "Tiran", "durres gjinia", "MUNICIPALITY sex"]:
    found = [t["id"] for t in api.search(query=words)["tables"]]
    assert TABLE in found, (words, found)
assert api.search(query="no such words anywhere")["tables"] == []
page = api.search(query="", page_size=1)
assert len(page["tables"]) == 1 and page["page"]["totalElements"] == len(ids), page["page"]
print("search: ok")

variables = api.get_table_variables(TABLE)
assert list(variables) == ["municipality", "sex"], list(variables)
municipality = variables["municipality"]
assert municipality["label"] == "Municipality" and municipality["elimination"], municipality
assert municipality["category"]["label"]["AL-01"] == "Berat (county)", municipality["category"]["label"]["AL-01"]
assert {c["id"] for c in municipality["codelists"]} == {"vs_county", "vs_municipality"}
counties = api.get_code_list("vs_county")
assert len(counties["values"]) == 12 and counties["values"][0]["code"] == "AL-01", counties
print("metadata: ok")

ours = pd.read_csv(bundle_csv, dtype={"municipality": str, "sex": str})
ours = ours.set_index(["municipality", "sex"])["value"]


def same_as_ours(rows, expected_cells):
    frame = pd.DataFrame(rows)
    assert len(frame) == expected_cells, (len(frame), frame.head())
    frame = frame.rename(columns={"Municipality": "municipality", "Sex": "sex"}).set_index(["municipality", "sex"])
    for (m, s), value in frame["value"].items():
        want = ours.loc[(m, s)]
        assert (pd.isna(want) and value is None) or value == want, (m, s, value, want)


# Two municipalities and every sex (a POSTed query), into a DataFrame equal to our CSV.
same_as_ours(api.get_table_data(TABLE, value_codes={"municipality": ["AL311", "AL312"], "sex": "*"}, show="code"), 2 * 3)
# Every county, through the value set.
same_as_ours(api.get_table_data(TABLE, value_codes={"municipality": "*", "sex": ["1", "2"]}, code_list={"municipality": "vs_county"}, show="code"), 12 * 2)
# Wildcards, expanded by the client from our metadata.
same_as_ours(api.get_table_data(TABLE, value_codes={"municipality": "AL31*", "sex": "_T"}, show="code"), 5)
# The whole table, in pieces of at most maxDataCells.
everything = api.get_table_data_all(TABLE, show="code")
same_as_ours(everything, len(ours))
print("data: ok")
