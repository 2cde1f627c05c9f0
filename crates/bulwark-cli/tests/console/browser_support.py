"""What the console's browser scripts share: headless Chromium under selenium, and steps that
wait for the next page. Each script takes one JSON argument with at least `base` (the console's
URL); `screenshots` (a directory, optional) is where `shot` saves pages.
"""

import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

ARGS = json.loads(sys.argv[1])
BASE = ARGS["base"]
SHOTS = ARGS.get("screenshots") or ""


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,900",
        "--user-data-dir=" + tempfile.mkdtemp(prefix="bulwark-chromium-"),
    ]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


D = browser()


def fail(what):
    print("FAILED: " + what)
    print("at " + D.current_url)
    print(D.page_source[:4000])
    D.quit()
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def one(css):
    found = D.find_elements(By.CSS_SELECTOR, css)
    check(len(found) > 0, "no element " + css)
    return found[0]


def shot(name, whole=False):
    """Save the window (or the whole page, up to 2400 pixels) as SHOTS/name.png."""
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    size = D.get_window_size()
    if whole:
        height = D.execute_script("return document.documentElement.scrollHeight")
        D.set_window_size(size["width"], min(height + 160, 2400))
    D.save_screenshot(os.path.join(SHOTS, name + ".png"))
    D.set_window_size(size["width"], size["height"])


def click(el):
    """Click what submits a form or follows a link, and wait for the next page: one whose root
    lacks the mark set on this one, fully loaded (errors while the page changes are retried)."""
    D.execute_script("document.documentElement.setAttribute('data-left', '1')")
    el.click()
    WebDriverWait(D, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete'"
            " && !document.documentElement.hasAttribute('data-left')"
        )
    )


def go(path):
    started = time.monotonic()
    D.get(BASE + path)
    return time.monotonic() - started
