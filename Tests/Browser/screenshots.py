"""PNGs of each dashboard page from the demo data set (script/screenshots): light and dark,
desktop and phone width. Needs DEMO_DIR (script/demo) and an output directory."""
import os
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(__file__))
from dashboard_test import ENV, URL, api, browser  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
driver = browser()
wait = WebDriverWait(driver, 30)


def shoot(name, path, width=1280, dark=False, ready=None):
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
    driver.set_window_size(width, 900)
    driver.get(URL + path)
    if ready:
        wait.until(ready)
    time.sleep(0.5)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, 600), 2000))
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(out, name + ".png"))
    print("wrote", os.path.join(out, name + ".png"))


shoot("login", "/login")
driver.find_element(By.ID, "token").send_keys(ENV["SLIPWAY_ADMIN_TOKEN"])
driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
wait.until(lambda d: d.current_url.split("?")[0].endswith("/apps"))
synced = lambda d: "Synced" in d.find_element(By.CSS_SELECTOR, "tr[data-app='storefront'] [data-field=sync]").text
shoot("apps", "/apps", ready=synced)
shoot("apps-dark", "/apps", dark=True, ready=synced)
shoot("apps-phone", "/apps", width=390, ready=synced)
shoot("app", "/apps/storefront?commit=" + ENV["DEMO_STOREFRONT_FIRST_COMMIT"])
shoot("jobs", "/jobs")
running = [j for j in api("/api/v1/jobs?app=payments")["jobs"] if j["status"] == "running"]
if running:
    shoot("job-live", f"/jobs/{running[0]['id']}", ready=lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log .line")) >= 12)
failed = api("/api/v1/jobs?app=docs&limit=1")["jobs"][0]
shoot("job-failed", f"/jobs/{failed['id']}", dark=True)
driver.quit()
