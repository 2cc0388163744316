"""Lighthouse and axe-core against the running site. Usage:

    audit.py BASE_URL NODE_DIR ARTIFACT_DIR

NODE_DIR holds node_modules with lighthouse and axe-core (scripts/test installs them
from npm); Chromium is Debian's. Every kind of page is audited: Lighthouse's
accessibility and SEO scores must be at least 95, and axe-core must find no serious or
critical violation. Prints "<page>: ok" lines and each score.
"""

import json
import os
import pathlib
import subprocess
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

base, node, artifacts = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
artifacts.mkdir(parents=True, exist_ok=True)
release = "census-2023-first-results-v1"
PAGES = {
    "home": "/en/",
    "home-sq": "/sq/",
    "calendar": "/en/calendar",
    "authenticity": "/en/authenticity",
    "search": "/en/search?q=bashkise",
    "release": f"/en/releases/{release}",
    "table": f"/sq/releases/{release}/population_municipality_sex?municipality=LEVEL(county)&cols=sex",
    "error": f"/en/releases/{release}/population_municipality_sex?municipality=XX",
}

failures = []
# Lighthouse will not audit a page answered with an error status; axe does.
for name, path in [(n, p) for n, p in PAGES.items() if n != "error"]:
    report = artifacts / f"lighthouse-{name}.json"
    run = subprocess.run(
        [str(node / "node_modules/.bin/lighthouse"), base + path, "--quiet", "--preset=desktop",
         "--only-categories=accessibility,seo", "--output=json", f"--output-path={report}",
         "--chrome-flags=--headless=new --no-sandbox --disable-dev-shm-usage"],
        env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, capture_output=True, text=True, timeout=300,
    )
    if run.returncode != 0:
        failures.append(f"{name}: lighthouse failed: {run.stderr[-2000:]}")
        continue
    result = json.loads(report.read_text())
    scores = {c: round(result["categories"][c]["score"] * 100) for c in ("accessibility", "seo")}
    print(f"{name} scores: {scores}")
    for category, score in scores.items():
        if score < 95:
            failing = [a for a in result["categories"][category]["auditRefs"]
                       if result["audits"][a["id"]]["score"] not in (None, 1) and a["weight"] > 0]
            failures.append(f"{name}: {category} {score}: " + ", ".join(
                f"{a['id']} ({result['audits'][a['id']]['title']})" for a in failing))

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
axe = (node / "node_modules/axe-core/axe.min.js").read_text()
try:
    for name, path in PAGES.items():
        driver.get(base + path)
        driver.execute_script(axe)
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done(String(e)));")
        if isinstance(result, str):
            failures.append(f"{name}: axe failed: {result}")
            continue
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        for v in serious:
            failures.append(f"{name}: axe {v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['html'][:200]})")
        if not [f for f in failures if f.startswith(f"{name}:")]:
            print(f"{name}: ok")
finally:
    driver.quit()
if failures:
    print("\n".join(failures))
    sys.exit(1)
