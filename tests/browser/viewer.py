#!/usr/bin/env python3
"""The viewer in a real browser (headless Chromium through selenium): run by
.ci/run, not by make check (it needs Python, selenium, chromium and
chromium-driver).

    python3 tests/browser/viewer.py [--bin ./mlsae] [--screenshot doc/viewer.png]

Starts `mlsae serve` on the server fixtures (tests/fixtures/server) on a free
loopback port, then: opens the page, types a prompt, submits it with Enter,
waits for the tokens, checks the /prompt/<text> URL, selects a latent (from
the chips of the selected position) and a layer (keyboard), checks the
heatmaps (one canvas per layer), the histograms, the examples of a latent
with examples in the fixture database, the three logit tables, and reloads
/prompt/<text> directly. Exits 0 when every check holds, 1 otherwise, 77
when selenium or the browser is missing.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("SKIP: selenium is not installed (pip install selenium)")
    sys.exit(77)

failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures += 1


def start_server(binary):
    cmd = [binary, "serve", "--checkpoint", os.path.join(FIX, "server", "sae"),
           "--model_name", os.path.join(FIX, "server", "model"),
           "--tokenizer", os.path.join(FIX, "text", "tiny-tokenizer.json"),
           "--examples", os.path.join(FIX, "server", "examples.db"), "--port", "0",
           "--threads", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        print("cannot start the server:", line, proc.stderr.read())
        sys.exit(1)
    return proc, int(m.group(1))


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/py{path}",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("MLSAE_BIN", "./mlsae"))
    ap.add_argument("--screenshot", default=None)
    args = ap.parse_args()

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    if os.path.exists("/usr/bin/chromium"):
        opts.binary_location = "/usr/bin/chromium"
    proc, port = start_server(args.bin)
    try:
        try:
            service = (webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
                       if os.path.exists("/usr/bin/chromedriver") else None)
            driver = webdriver.Chrome(options=opts, service=service)
        except Exception as e:  # no browser or driver
            print(f"SKIP: cannot start headless Chromium: {str(e).splitlines()[0]}")
            sys.exit(77)
        try:
            run(driver, port, args.screenshot)
        finally:
            driver.quit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{failures} failed")
    return 1 if failures else 0


def run(driver, port, screenshot):
    wait = WebDriverWait(driver, 20)
    base = f"http://127.0.0.1:{port}"
    prompt = "The cat sat on the mat."
    want_tokens = post(port, "/prompt/tokens", {"prompt": prompt})

    driver.get(base + "/")
    check(driver.title.startswith("mlsae"), "the page loads")
    box = driver.find_element(By.ID, "prompt")
    box.send_keys(prompt)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tokens .tok")) == len(want_tokens))
    toks = driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")
    check([t.get_attribute("textContent") for t in toks] == [t["token"] for t in want_tokens],
          f"the {len(want_tokens)} tokens are shown")
    path = urllib.parse.urlparse(driver.current_url).path
    check(urllib.parse.unquote(path) == "/prompt/" + prompt, f"the URL is /prompt/<text> ({path})")

    # select position 2, then the strongest latent there (first chip), then layer 1 by keyboard
    toks[2].click()
    chips = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#position-latents button"))
    latent = int(chips[0].text.split()[0])
    chips[0].click()
    check(driver.find_element(By.ID, "latent").get_attribute("value") == str(latent),
          f"clicking a chip selects latent {latent}")
    driver.find_element(By.TAG_NAME, "body").send_keys("]")
    check(driver.find_element(By.ID, "layer").get_attribute("value") == "1",
          "']' selects the next layer")
    caption = driver.find_element(By.ID, "tokens-caption").text
    check(f"latent {latent} at layer 1" in caption, f"tokens coloured by the selection ({caption})")
    coloured = [t for t in driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")
                if t.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent")]
    acts = post(port, "/prompt/latent-activations-sparse", {"prompt": prompt})
    firing = sum(1 for ix in acts["indices"][1] if latent in ix)
    check(len(coloured) == firing, f"{firing} tokens coloured where latent {latent} fires at layer 1")

    canvases = driver.find_elements(By.CSS_SELECTOR, "#heatmaps canvas")
    check(len(canvases) == 3 and all(int(c.get_attribute("height")) > 1 for c in canvases),
          "one heatmap per layer")

    driver.find_element(By.ID, "tab-histograms").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#histograms canvas")) == 3)
    check(True, "one histogram per layer")

    driver.find_element(By.ID, "tab-logits").click()
    wait.until(lambda d: all(len(d.find_elements(By.CSS_SELECTOR, f"#{i} tr")) > 1
                             for i in ("logits-input", "logits-recon", "logits-steer")))
    rows = driver.find_elements(By.CSS_SELECTOR, "#logits-input tr")
    check(len(rows) == 17, f"the input logits table has 16 rows ({len(rows) - 1})")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#logits-steer table")) == 3,
          "the steering tables (top, increases, decreases)")

    # the fixture database has 3 examples for latent 5 at layer 1
    for key, value in (("layer", "1"), ("latent", "5")):
        e = driver.find_element(By.ID, key)
        e.clear()
        e.send_keys(value, Keys.TAB)
    driver.find_element(By.ID, "tab-examples").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#examples .example")) == 3)
    check(True, "the examples of latent 5 at layer 1")

    if screenshot:
        driver.find_element(By.ID, "tab-heatmaps").click()
        time.sleep(0.3)
        driver.save_screenshot(screenshot)
        print(f"screenshot: {screenshot}")

    driver.get(base + "/prompt/" + urllib.parse.quote("Hello, world!"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tokens .tok")) > 0)
    check(driver.find_element(By.ID, "prompt").get_attribute("value") == "Hello, world!",
          "opening /prompt/<text> runs that prompt")
    # the latent page: promoted / suppressed tokens, examples per layer
    driver.get(base + "/latent/5")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#latent-examples h3")) == 3)
    check(not driver.find_element(By.ID, "controls").is_displayed() and
          not driver.find_element(By.ID, "tabs").is_displayed(),
          "the latent page hides the prompt's controls and tabs")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#latent-promoted tr")) == 17,
          "the latent page lists 16 promoted tokens")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#latent-examples .example")) == 4,
          "the latent page shows its examples (3 at layer 1, 1 at layer 2)")
    # search for latents by token, then follow a result
    box = driver.find_element(By.ID, "search")
    box.send_keys("the", Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-results a")) == 16)
    first = driver.find_elements(By.CSS_SELECTOR, "#search-results a")[0]
    target = first.text
    first.click()
    wait.until(lambda d: d.find_element(By.ID, "latent-title").text == f"Latent {target}")
    check(True, f"search results link to the latent page (latent {target})")
    logs = [l for l in driver.get_log("browser") if l.get("level") == "SEVERE"]
    check(not logs, f"no console errors {logs[:2]}")


if __name__ == "__main__":
    sys.exit(main())
