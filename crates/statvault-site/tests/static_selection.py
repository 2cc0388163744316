"""The selection tests of browser.py against a static copy served by nginx, in a real
headless Chromium. Usage:

    static_selection.py BASE_URL

The copy's table page must show exactly what its address asks (made by the page's
script from the table's signed JSON-stat file), by the address and by the form, in both
languages, and say so; a selection that cannot be made is said, never replaced by
another. Prints "<step>: ok" lines.
"""

import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

base = sys.argv[1]
table = f"{base}/en/releases/census-2023-first-results-v1/population_municipality_sex"
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)


def rows():
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "div.pivot[data-made]")))
    return [th.text for th in driver.find_elements(By.CSS_SELECTOR, "div.pivot table.data tbody th")]


try:
    driver.get(f"{table}?municipality=AL311&municipality=AL312&cols=sex")
    assert rows() == ["Berat", "Kuçovë"], rows()
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "div.pivot thead tr:last-child th")]
    assert headers == ["Municipality", "Total", "Male", "Female"], headers
    assert all(f.get_attribute("hidden") for f in driver.find_elements(By.CSS_SELECTOR, "figure.map, figure.chart"))
    print("two municipalities by address: ok")

    driver.get(table)
    municipalities = Select(driver.find_element(By.CSS_SELECTOR, "select[name=municipality]"))
    municipalities.deselect_all()
    municipalities.select_by_value("CHILDREN(AL-02)")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=cols]")).select_by_value("sex")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=sort]")).select_by_value("desc")
    driver.find_element(By.CSS_SELECTOR, "form.selection button[type=submit]").click()
    wait.until(ec.url_contains("sort=desc"))
    got = rows()
    assert sorted(got) == ["Durrës", "Krujë", "Shijak"] and got[0] == "Durrës", got
    print("a county's municipalities by the form, sorted: ok")

    driver.get(f"{base}/sq/releases/census-2023-first-results-v1/population_municipality_sex?municipality=LEVEL(county)&sex=1,2")
    got = rows()
    assert len(got) == 12 and got[0] == "Berat (qarku)", got
    print("a level, in Albanian: ok")

    driver.get(f"{table}?municipality=XX")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".static-note"), "cannot be made"))
    print("a selection that cannot be made: ok")
finally:
    driver.quit()
