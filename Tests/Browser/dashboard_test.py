"""The dashboard in a real browser (headless Chromium through selenium), against the demo
server `script/demo` starts. Run by script/test-browser; needs SLIPWAY_* from DEMO_DIR/env.

Covers what only a browser shows: sign-in, a deployed app on the Apps page, a running job's
log growing without a reload, cancel as admin, a read token without admin controls whose
forged POST gets 403, a POST without the CSRF token refused, markup in a commit message and
in a log line shown as text, and logout ending the session.
"""
import json
import os
import ssl
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ENV = {}
with open(os.path.join(os.environ["DEMO_DIR"], "env")) as f:
    for line in f:
        key, _, value = line.strip().partition("=")
        ENV[key] = value
URL = ENV["SLIPWAY_URL"]
CONTEXT = ssl.create_default_context(cafile=ENV["SLIPWAY_CA"])


def api(path, method="GET", body=None, token=None):
    request = urllib.request.Request(URL + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + (token or ENV["SLIPWAY_ADMIN_TOKEN"]), "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=CONTEXT) as answer:
        return json.load(answer)


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--ignore-certificate-errors", "--disable-gpu"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Dashboard(unittest.TestCase):
    def setUp(self):
        self.driver = browser()
        self.wait = WebDriverWait(self.driver, 20)

    def tearDown(self):
        # Nothing the pages do may break the Content-Security-Policy or throw.
        problems = [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"
                    and "favicon" not in entry["message"] and "403" not in entry["message"]]
        self.driver.quit()
        self.assertEqual(problems, [], "errors in the browser console")

    def post_from_page(self, path, form=None, headers=None):
        """POSTs from the current page with fetch (as a forged form or script would) and
        returns the answer's status, or the fetch error as text."""
        WebDriverWait(self.driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
        self.driver.set_script_timeout(30)
        return self.driver.execute_async_script("""
            const [path, form, headers, done] = arguments;
            const init = {method: 'POST', headers: headers || {}};
            if (form) init.body = new URLSearchParams(form);
            fetch(path, init).then(r => done(r.status), e => done('fetch failed: ' + e));
        """, path, form, headers)

    def sign_in(self, token):
        self.driver.get(URL + "/apps")
        self.wait.until(EC.url_contains("/login"))
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        # The login page's own URL ends in "next=/apps": wait for the path itself.
        self.wait.until(lambda d: urllib.parse.urlsplit(d.current_url).path == "/apps")

    def test_apps_job_log_cancel_and_logout_as_admin(self):
        self.sign_in(ENV["SLIPWAY_ADMIN_TOKEN"])
        row = self.driver.find_element(By.CSS_SELECTOR, "tr[data-app='storefront']")
        self.assertIn(ENV["DEMO_STOREFRONT_COMMIT"][:12], row.text)
        self.assertIn("Serve with three replicas", row.text)
        self.wait.until(lambda d: "Synced" in d.find_element(By.CSS_SELECTOR, "tr[data-app='storefront'] [data-field=sync]").text)

        # A sync of the slow app from its page, then its log grows while we watch. (The
        # reconciler may have queued the slow app's head by itself: one job of an app runs at
        # a time, so that one is cancelled first.)
        for job in api("/api/v1/jobs?app=payments")["jobs"]:
            if job["status"] in ("queued", "running"):
                api(f"/api/v1/jobs/{job['id']}/cancel", method="POST")
        deadline = time.time() + 30
        while any(j["status"] in ("queued", "running") for j in api("/api/v1/jobs?app=payments")["jobs"]) and time.time() < deadline:
            time.sleep(0.2)
        self.driver.get(URL + "/apps/payments")
        self.driver.find_element(By.ID, "sync-commit").send_keys(ENV["DEMO_PAYMENTS_COMMIT"])
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Sync commit…']").click()
        self.wait.until(EC.url_matches(r"/jobs/\d+$"))
        job_url = self.driver.current_url
        self.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log .line")) >= 3)
        first = len(self.driver.find_elements(By.CSS_SELECTOR, "#log .line"))
        self.driver.execute_script("window.notReloaded = true")
        self.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log .line")) >= first + 4)
        self.assertTrue(self.driver.execute_script("return window.notReloaded === true"), "the lines came without a reload")
        self.assertEqual(self.driver.current_url, job_url)
        log = self.driver.find_element(By.ID, "log")
        self.assertIn("<b>not bold</b><script>document.title='pwned'</script>", log.text)
        self.assertEqual(log.find_elements(By.CSS_SELECTOR, "b, script"), [])
        coloured = self.driver.find_elements(By.CSS_SELECTOR, "#log .line .a-36")
        self.assertTrue(coloured and coloured[-1].text.startswith("batch "), "ANSI colours rendered")
        self.driver.find_element(By.CSS_SELECTOR, "#log .line a.ln").click()
        self.assertTrue(self.driver.current_url.endswith("#L1"))

        # Cancel (confirmed in the dialog), and the page shows the end.
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Cancel job']").click()
        self.wait.until(EC.alert_is_present()).accept()
        self.wait.until(lambda d: d.find_element(By.ID, "job-status").text == "cancelled")
        # The page then shows the final steps, and Cancel no longer applies.
        self.wait.until(lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Cancel job']") == [])
        self.assertIn("cancelled", self.driver.find_element(By.CSS_SELECTOR, ".steps").text)

        # Logout ends the session: the pages send us to sign in again.
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
        self.wait.until(EC.url_contains("/login"))
        self.driver.get(URL + "/jobs")
        self.wait.until(EC.url_contains("/login?next=/jobs"))

    def test_a_read_token_sees_no_controls_and_its_forged_post_is_refused(self):
        self.sign_in(ENV["SLIPWAY_READ_TOKEN"])
        self.driver.get(URL + "/apps/storefront")
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "form[action$='/sync']"), [])
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "form[action$='/refresh']"), [])
        running = api("/api/v1/jobs?status=running&limit=1")["jobs"]
        job = running[0]["id"] if running else api("/api/v1/jobs?limit=1")["jobs"][0]["id"]
        self.driver.get(URL + f"/jobs/{job}")
        self.assertEqual(self.driver.find_elements(By.XPATH, "//button[normalize-space()='Cancel job']"), [])
        # Forged: a form the page never offered, with the session's own CSRF token.
        csrf = self.driver.find_element(By.TAG_NAME, "main").get_attribute("data-csrf")
        status = self.post_from_page(f"/jobs/{job}/cancel", form={"csrf_token": csrf})
        self.assertEqual(status, 403)
        # The API on the session cookie: also 403 for the read token.
        status = self.post_from_page(f"/api/v1/jobs/{job}/cancel", headers={"X-CSRF-Token": csrf})
        self.assertEqual(status, 403)

    def test_a_post_without_the_csrf_token_is_refused(self):
        self.sign_in(ENV["SLIPWAY_ADMIN_TOKEN"])
        for path in ["/apps/storefront/refresh", "/apps/storefront/sync", "/logout"]:
            status = self.post_from_page(path, form={"commit": ""})
            self.assertEqual(status, 403, path)
        status = self.post_from_page("/api/v1/apps/storefront/refresh")
        self.assertEqual(status, 403)
        self.driver.get(URL + "/apps")
        self.assertIn("admin", self.driver.find_element(By.CSS_SELECTOR, ".who").text, "still signed in")

    def test_markup_in_a_commit_message_and_a_log_line_is_text(self):
        payload = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
        subprocess.run([os.path.join(os.getcwd(), ".build/debug/slipway"), "send-test-hook", "--config", ENV["SLIPWAY_CONFIG"],
                        "--server", URL, "--ca-file", ENV["SLIPWAY_CA"], "docs", "--commit", "f" * 40, "--message", payload],
                       check=True, capture_output=True)
        job = api("/api/v1/jobs?app=docs&limit=1")["jobs"][0]
        self.assertEqual(job["message"], payload)
        self.sign_in(ENV["SLIPWAY_ADMIN_TOKEN"])
        self.driver.get(URL + "/jobs")
        rows = self.driver.find_elements(By.CSS_SELECTOR, f"tr[data-job='{job['id']}']")
        self.assertTrue(rows, f"job {job} not on {self.driver.current_url}: {self.driver.page_source[:4000]}")
        self.assertIn(payload, rows[0].text)
        self.driver.get(URL + f"/jobs/{job['id']}")
        self.wait.until(lambda d: "cannot" in d.find_element(By.ID, "log").text or "not" in d.find_element(By.ID, "log").text
                        or d.find_element(By.ID, "job-status").text != "queued")
        self.assertIn(payload, self.driver.find_element(By.CSS_SELECTOR, ".facts").text)
        self.assertNotEqual(self.driver.title, "pwned")
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "main img, main script"), [])
        # A log line with markup, rendered by the server (the demo's first docs job).
        first = api("/api/v1/jobs?app=docs&limit=50")["jobs"][-1]
        self.driver.get(URL + f"/jobs/{first['id']}")
        self.assertIn("<img src=x onerror=\"document.title='pwned'\"> in guide/embed.md", self.driver.find_element(By.ID, "log").text)
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, "main img, main script"), [])
        self.assertNotEqual(self.driver.title, "pwned")


if __name__ == "__main__":
    unittest.main(verbosity=2)
