"""End to end in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium from PyPI). Usage:

    browser.py BASE_URL ARTIFACT_DIR SERVED_CSV_PATH MAILDIR

Opens the home page, follows a release, waits for the browser's own check of the
signature and hashes, opens a table, pivots it by address, sees the chart and the map,
switches language, downloads the CSV and checks it, subscribes to the e-mail alerts and
confirms from the letter that arrives in MAILDIR, then changes a served file and sees the
warning. Saves a screenshot at each step. Prints "<step>: ok" lines.
"""

import email
import email.policy
import pathlib
import re
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

base, artifacts, served_csv, maildir = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
artifacts.mkdir(parents=True, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30)


def shot(name):
    driver.save_screenshot(str(artifacts / f"{name}.png"))


def check_text(expected_class):
    """The text of the browser's check once it has settled, which must be `expected_class`."""
    box = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".check.verified, .check.warning, .check.unsupported")))
    assert expected_class in box.get_attribute("class"), f"{box.get_attribute('class')}: {box.text}"
    return box.text


try:
    driver.get(f"{base}/en/")
    assert "Latest releases" in driver.page_source
    shot("1-home")
    print("home: ok")

    # The search box on every page finds a table by words without their accents, in
    # the other language: "bashkise" (bashkisë) and "Tiran" (Tiranë).
    box = driver.find_element(By.CSS_SELECTOR, "header form.search input[type=search]")
    box.send_keys("bashkise Tiran")
    box.submit()
    wait.until(ec.url_contains("/en/search?q="))
    found = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "main ul.tables a")]
    assert found == ["Population by municipality and sex"], found
    print("search: ok")
    driver.get(f"{base}/en/")

    driver.find_element(By.PARTIAL_LINK_TEXT, "first results").click()
    text = check_text("verified")
    assert "verified: signed by" in text and "files in the manifest" in text, text
    assert "proves nothing if the site itself is owned" in text, text
    # The first visit fetched the manifest and its signature, not the bundle's files.
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [u for u in fetched if "/tables/" in u], fetched
    shot("2-release-verified")
    driver.set_window_size(1100, 900)
    shot("readme-release")
    driver.set_window_size(1200, 1600)
    print("verified badge: ok")

    # A file downloaded from the page is checked against the manifest before it is saved.
    driver.find_element(By.CSS_SELECTOR, "a[href$='population_municipality_sex.csv']").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".check"), "downloaded and checked"))
    print("checked download: ok")

    driver.find_element(By.PARTIAL_LINK_TEXT, "Population by municipality and sex").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.data")))
    release_table = driver.current_url.split("?")[0]
    driver.get(f"{release_table}?municipality=AL311,AL312,AL313&cols=sex&sort=desc")
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.data thead tr:last-child th")]
    assert headers[1:] == ["Total", "Male", "Female"], headers
    rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.data tbody th")]
    assert rows[0] == "Berat" and len(rows) == 3, rows
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect"), "chart"
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.map circle")) == 3, "map"
    # Albania is on the map: its outline and its 12 counties, the municipalities named.
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.map path")) == 13, "outline and counties"
    assert "Berat" in [t.text for t in driver.find_elements(By.CSS_SELECTOR, "svg.map text")]
    driver.find_element(By.CSS_SELECTOR, "svg.map circle").click()
    identified = driver.find_element(By.CSS_SELECTOR, "output.map-identify").text
    assert identified.startswith("Berat: ") and "person" in identified, identified
    shot("3-table-pivot-chart-map")
    print("pivot, chart and map: ok")

    # Counties as a choropleth of persons per km², with a titled legend.
    driver.get(f"{release_table}?municipality=LEVEL(county)&sex=_T")
    counties = driver.find_elements(By.CSS_SELECTOR, "svg.map path[data-about]")
    assert len(counties) == 12, len(counties)
    assert "/ km²" in driver.find_element(By.CSS_SELECTOR, ".map-legend-title").text
    assert len({c.get_attribute("fill") for c in counties}) >= 4, "classes"
    # The README's picture of a table with its map: the whole page, top to map.
    driver.set_window_size(1100, 3300)
    shot("readme-table-map")
    driver.set_window_size(1200, 1600)
    print("county map: ok")

    # Two municipalities chosen in the form, as a reader does: exactly they are shown.
    driver.get(release_table)
    municipalities = Select(driver.find_element(By.CSS_SELECTOR, "select[name=municipality]"))
    municipalities.deselect_all()
    municipalities.select_by_value("AL311")
    municipalities.select_by_value("AL312")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=cols]")).select_by_value("sex")
    count = driver.find_element(By.CSS_SELECTOR, "form.selection output").text
    assert count.startswith("6 cells"), count
    driver.find_element(By.CSS_SELECTOR, "form.selection button[type=submit]").click()
    wait.until(ec.url_contains("cols=sex"))
    rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.data tbody th")]
    assert rows == ["Berat", "Kuçovë"], rows
    # The filter box finds a municipality without its accents.
    search = driver.find_element(By.CSS_SELECTOR, ".tools input[type=search]")
    search.send_keys("kucov")
    shown = driver.execute_script(
        "return Array.from(document.querySelector('select[name=municipality]').options)"
        ".filter(o => !o.hidden).map(o => o.textContent)")
    assert shown == ["Kuçovë"], shown
    shot("3b-two-municipalities")
    print("two municipalities: ok")

    driver.find_element(By.LINK_TEXT, "Shqip").click()
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sq"
    assert "Meshkuj" in driver.page_source
    shot("4-albanian")
    print("language switch: ok")

    link = driver.find_element(By.PARTIAL_LINK_TEXT, "CSV").get_attribute("href")
    csv = urllib.request.urlopen(link).read().decode()
    lines = csv.strip().split("\n")
    assert lines[0].startswith("municipality,") and len(lines) == 1 + 2 * 3, csv
    assert any(l.startswith("AL311,Berat,Berat,_T,") for l in lines), csv
    print("csv download: ok")

    # E-mail alerts: the form on the home page, the letter, the button behind its link.
    driver.get(f"{base}/en/")
    driver.find_element(By.LINK_TEXT, "E-mail alerts").click()
    driver.find_element(By.ID, "email").send_keys("visitor@example.org")
    driver.find_element(By.CSS_SELECTOR, "form.alerts button").click()
    wait.until(ec.url_contains("/en/subscribe/sent"))
    assert "confirmation link is on its way" in driver.page_source
    shot("6-alerts-sent")
    deadline = time.time() + 20
    while not list((maildir / "new").glob("*")) and time.time() < deadline:
        time.sleep(0.2)
    letter = email.message_from_bytes(next((maildir / "new").glob("*")).read_bytes(), policy=email.policy.default)
    assert letter["To"] == "visitor@example.org", letter["To"]
    link = re.search(r"https://stats\.example(/en/subscribe/confirm\?token=[0-9a-f]{64})", letter.get_content()).group(1)
    driver.get(base + link)
    assert "Subscription confirmed" not in driver.page_source, "a GET must not confirm"
    driver.find_element(By.CSS_SELECTOR, "main form button").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "main"), "Subscription confirmed"))
    shot("7-alerts-confirmed")
    print("e-mail alerts: ok")

    # On a phone: nothing wider than the screen (wide tables scroll in their own box),
    # and the keyboard reaches the pivot form and submits it.
    driver.set_window_size(390, 844)
    for path in ["/en/", release_table.split(base)[1], release_table.split(base)[1] + "?cols=sex"]:
        driver.get(base + path)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a phone"
    shot("8-phone-table")
    body = driver.find_element(By.TAG_NAME, "body")
    reached = set()
    for _ in range(60):
        body.send_keys(Keys.TAB) if not reached else driver.switch_to.active_element.send_keys(Keys.TAB)
        active = driver.switch_to.active_element
        reached.add(active.tag_name)
        if driver.execute_script("return arguments[0].matches('form.selection button[type=submit]')", active):
            active.send_keys(Keys.ENTER)
            break
    else:
        raise AssertionError(f"Tab never reached the form's button; reached {reached}")
    wait.until(ec.url_contains("cols="))
    assert {"a", "select"} <= reached, reached
    driver.set_window_size(1200, 1600)
    print("phone and keyboard: ok")

    # Someone changes a file the site serves: the browser's check says so.
    served_csv.write_text(served_csv.read_text() + "AL,forged,,,,,1,\n")
    time.sleep(1.2)  # past the site's one-second answer cache
    release_page = f"{base}/en/releases/{release_table.split('/releases/')[1].split('/')[0]}"
    driver.get(release_page)
    check_text("verified")
    driver.find_element(By.CSS_SELECTOR, ".check button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".check.warning")))
    text = check_text("warning")
    assert "WARNING" in text and served_csv.name in text, text
    shot("5-tampered-warning")
    print("tamper warning: ok")

    # A browser whose WebCrypto has no Ed25519 is told so, and shown no false warning.
    hide = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        (() => {
          const original = crypto.subtle.importKey.bind(crypto.subtle);
          crypto.subtle.importKey = (format, key, algorithm, ...rest) =>
            (algorithm && (algorithm === "Ed25519" || algorithm.name === "Ed25519"))
              ? Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"))
              : original(format, key, algorithm, ...rest);
        })();
    """})
    driver.get(release_page)
    text = check_text("unsupported")
    assert "cannot check Ed25519" in text and "minisign" in text and "WARNING" not in text, text
    live = driver.find_element(By.CSS_SELECTOR, ".check").get_attribute("aria-live")
    assert live == "polite", live
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", hide)
    shot("9-no-ed25519")
    print("no ed25519: ok")
finally:
    driver.quit()
