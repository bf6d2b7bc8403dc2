#!/usr/bin/env python3
"""Drives Dray's dashboard in a real headless Chromium (Debian's chromium and chromium-driver),
with Selenium, for the Swift tests in Tests/IntegrationTests/DashboardTests.swift.

    dashboard.py SCENARIO --url URL [--job ID] [--token TOKEN] [--screenshot PATH]

Each scenario does what a user does and checks what a user sees. It prints one JSON object
on its last line of stdout, and exits 1 with the reason on stderr when a check fails. Every
scenario fails too when the browser's console has an error it did not expect.
"""
import argparse
import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def browser(width=1400, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in [
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='dray-chromium-')}",
    ]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, condition, message, timeout=30):
    # A row the list redrew between finding it and reading it is stale: the next poll reads
    # the new one.
    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(lambda d: condition(d))
    except TimeoutException:
        raise Failed(f"{message} (waited {timeout} s); the page shows: {driver.find_element(By.TAG_NAME, 'main').text[:800]!r}")


def text_of(driver, selector):
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else None


# A request the browser cut because the host's network changed under it (the engine adding or
# removing a container's interface on this same machine): the dashboard reads it again.
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"


def console_errors(driver, allowed):
    """The console's errors, but for failed requests the scenario expects (401, 400), and reads
    the network cut (NETWORK_CHANGED)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if any(pattern in entry["message"] for pattern in list(allowed) + [NETWORK_CHANGED]):
            continue
        errors.append(entry["message"])
    return errors


def shown_lines(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('.log .line')].filter(l => !l.hidden).map(l => "
        "({text: l.querySelector('.text').textContent, stream: l.classList.contains('stderr') ? 'stderr' : 'stdout',"
        " step: l.querySelector('.step').textContent}))"
    )


# --- Scenarios ---------------------------------------------------------------------------------


def scenario_list(driver, args):
    """The list shows the job and then its end; its id link opens its page from the keyboard;
    the page fits a phone's width, and dark mode changes the colours."""
    started = time.monotonic()
    driver.get(args.url + "/")
    row = f"tr[data-id='{args.job}']"
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), f"the list shows job {args.job}")
    first_render = time.monotonic() - started
    check(text_of(driver, f"{row} td.id") == args.job[:8], "the row shows the id's first 8 characters")
    status = wait(
        driver,
        lambda d: (text_of(d, f"{row} .status") or "running") != "running" and text_of(d, f"{row} .status"),
        "the job's end shows in the list without a reload",
    )
    check(text_of(driver, f"{row} td.step") == "3/3", f"the step column says 3/3, not {text_of(driver, f'{row} td.step')}")
    check(text_of(driver, f"{row} td.name") == "Word Job", "the row shows the job's name")
    if args.screenshot:
        driver.save_screenshot(args.screenshot)

    # The keyboard: Tab reaches the job's link, and Enter opens its page.
    body = driver.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(30):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.get_attribute("aria-label") == f"Job {args.job}":
            break
    else:
        raise Failed("Tab never reached the job's link")
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait(driver, lambda d: d.current_url.endswith(f"#/jobs/{args.job}"), "Enter on the link opens the job's page")
    wait(driver, lambda d: text_of(d, "h1") == "Word Job", "the job's page is titled with its name")

    # A phone's width: nothing wider than the screen but the table, which scrolls on its own.
    driver.get(args.url + "/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the list shows again")
    driver.set_window_size(390, 844)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 1, f"at a phone's width the page is {overflow} px wider than the screen")

    # Dark mode follows the system.
    light = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    dark = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    check(light != dark, f"the background is {light} in light and dark mode alike")
    return {"status": status, "firstRenderSeconds": round(first_render, 3), "light": light, "dark": dark}


def scenario_first_render(driver, args):
    """How long the list takes to show its first rows, from navigation (the page's own mark)."""
    driver.get(args.url + "/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "tbody tr"), "the list shows jobs", timeout=60)
    timing = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const r = performance.getEntriesByType('resource');"
        "return {firstRowMs: performance.getEntriesByName('dray-list-rendered')[0].startTime, transferred: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0),"
        " decoded: n.decodedBodySize + r.reduce((s, e) => s + e.decodedBodySize, 0),"
        " requests: 1 + r.length, rows: document.querySelectorAll('tbody tr').length}"
    )
    return timing


def scenario_live_log(driver, args):
    """A running job's page gets new lines without a reload, stderr marked; search filters."""
    driver.get(f"{args.url}/#/jobs/{args.job}")
    driver.execute_script("window.__notReloaded = true")
    wait(driver, lambda d: len(shown_lines(d)) >= 2, "the log shows the job's first lines")
    before = len(shown_lines(driver))
    wait(driver, lambda d: len(shown_lines(d)) >= before + 3, "new lines arrive while the page stays open")
    check(driver.execute_script("return window.__notReloaded === true"), "the page was reloaded")
    lines = shown_lines(driver)
    check(any(l["stream"] == "stderr" and l["text"].startswith("warn") for l in lines), "stderr lines are marked")
    check(all(l["stream"] == "stdout" for l in lines if l["text"].startswith("tick")), "stdout lines are not marked")
    check(all(l["step"] == "1" for l in lines), "each line shows its step")
    check(any("<b>" in l["text"] for l in lines), "a line's markup is shown as text")
    check(not driver.find_elements(By.CSS_SELECTOR, ".log b"), "a line's markup never becomes HTML")
    if args.screenshot:
        driver.save_screenshot(args.screenshot)
    search = driver.find_element(By.ID, "log-search")
    search.send_keys("warn")
    filtered = shown_lines(driver)
    check(filtered and all("warn" in l["text"] for l in filtered), "search shows only the lines that match")
    search.clear()
    search.send_keys(Keys.BACKSPACE)
    pause = driver.find_element(By.XPATH, "//button[text()='Pause']")
    pause.click()
    paused_at = len(shown_lines(driver))
    time.sleep(1.5)
    check(len(shown_lines(driver)) == paused_at, "no lines are added while paused")
    driver.find_element(By.XPATH, "//button[text()='Resume']").click()
    wait(driver, lambda d: len(shown_lines(d)) > paused_at, "the held lines show once resumed")
    return {"lines": len(shown_lines(driver))}


def scenario_cancel(driver, args):
    """Cancel, confirmed in a dialog, stops the running job, and the page says so."""
    driver.get(f"{args.url}/#/jobs/{args.job}")
    button = wait(
        driver,
        lambda d: next(iter(d.find_elements(By.XPATH, "//div[@class='actions']/button[text()='Cancel']")), None),
        "a running job has a Cancel button",
    )
    check(not driver.find_elements(By.XPATH, "//button[text()='Resume']"), "a running job has no Resume button")
    button.click()
    dialog = wait(driver, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "dialog[open]")), None), "Cancel asks first")
    check("Cancel this job?" in dialog.text, f"the dialog asks: {dialog.text!r}")
    check(driver.switch_to.active_element.text == "Back", "the dialog's focus starts on Back, the safe choice")
    dialog.find_element(By.XPATH, ".//button[text()='Cancel the job']").click()
    wait(driver, lambda d: (text_of(d, ".problem") or "").startswith("Canceled"), "the page says the job was canceled")
    wait(driver, lambda d: text_of(d, ".summary .status") == "error", "the status turns to error")
    wait(driver, lambda d: d.find_elements(By.XPATH, "//button[text()='Resume']"), "an ended job can be resumed")
    check(
        not driver.find_elements(By.XPATH, "//div[@class='actions']/button[text()='Cancel']"),
        "an ended job has no Cancel button",
    )
    return {"problem": text_of(driver, ".problem")}


def scenario_submit(driver, args):
    """The form shows a bad job's problems by field, and opens a good job's page."""
    driver.get(f"{args.url}/#/new")
    text = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "job-text")), None), "the form has a job text box")
    label = driver.find_element(By.CSS_SELECTOR, "label[for='job-text']").text
    check(label == "Job description", f"the text box is labelled: {label!r}")
    text.send_keys('{"steps": [{"name": "first"}, {"source": ""}], "timeout": -1}')
    driver.find_element(By.XPATH, "//button[text()='Submit']").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#job-problems li"), "a bad job's problems are shown")
    problems = [p.text for p in driver.find_elements(By.CSS_SELECTOR, "#job-problems li")]
    check(any(p.startswith("steps[0].source") for p in problems), f"the problems name steps[0].source: {problems}")
    check(len(problems) >= 2, f"every problem is shown, one each: {problems}")
    check(text.get_attribute("aria-invalid") == "true", "the text box is marked invalid")
    text.clear()
    text.send_keys("name: from the form\nsteps:\n  - source: dray-test/sh\n")
    driver.find_element(By.XPATH, "//button[text()='Submit']").click()
    wait(driver, lambda d: "#/jobs/" in d.current_url, "a good job opens its page")
    wait(driver, lambda d: text_of(d, "h1") == "from the form", "the new job's page shows its name")
    job = driver.current_url.split("#/jobs/")[1]
    return {"job": job, "problems": problems}


def scenario_token(driver, args):
    """With a token set, the page asks for it once, keeps it in the tab, and uses no cookie."""
    driver.get(args.url + "/")
    field = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "token")), None), "the page asks for the token")
    check(field.get_attribute("type") == "password", "the token is typed into a password field")
    field.send_keys("wrong-token")
    field.send_keys(Keys.ENTER)
    wait(driver, lambda d: "refused" in (text_of(d, "main") or ""), "a wrong token is refused")
    field = driver.find_element(By.ID, "token")
    field.send_keys(args.token)
    field.send_keys(Keys.ENTER)
    wait(driver, lambda d: text_of(d, "h1") == "Jobs", "the right token shows the list")
    row = f"tr[data-id='{args.job}']"
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the list shows the job")
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "after a reload the tab still has the token")
    check(driver.get_cookies() == [], "no cookie is set")
    stored = driver.execute_script("return sessionStorage.getItem('dray-token')")
    check(stored == args.token, "the token is kept in sessionStorage")
    driver.find_element(By.ID, "forget").click()
    wait(driver, lambda d: d.find_elements(By.ID, "token"), "Forget the token asks again")
    return {}


def scenario_job_page(driver, args):
    """A finished job's page: its timeline, exit codes and attempts; a screenshot for the README."""
    driver.get(f"{args.url}/#/jobs/{args.job}")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".timeline li")) == args.steps, "the timeline shows every step")
    wait(driver, lambda d: len(shown_lines(d)) > 0, "the log shows")
    steps = driver.execute_script(
        "return [...document.querySelectorAll('.timeline li')].map(li => li.innerText.replace(/\\s+/g, ' ').trim())"
    )
    bars = driver.execute_script(
        "return [...document.querySelectorAll('.timeline .bar')].map(b => b.getBoundingClientRect().width)"
    )
    check(all(width > 0 for width in bars), f"every step that ran has a bar: {bars}")
    # A finished job's log does not grow: nothing to follow or pause.
    offered = driver.execute_script(
        "return [...document.querySelectorAll('.toolbar label, .toolbar button')]"
        ".filter(e => e.offsetParent !== null).map(e => e.textContent.trim())"
    )
    # A step that completed offers its output; one that failed has none.
    downloads = driver.execute_script(
        "return [...document.querySelectorAll('.timeline li')].map(li => li.querySelector('.step-output') !== null)"
    )
    # The step the edges' figures name as the bottleneck is marked.
    bottleneck = driver.execute_script(
        "return [...document.querySelectorAll('.timeline li')].map(li => li.classList.contains('bottleneck')"
        " && li.querySelector('.bottleneck-mark') !== null)"
    )
    if args.screenshot:
        driver.save_screenshot(args.screenshot)
    return {
        "steps": steps,
        "problem": text_of(driver, ".problem"),
        "toolbar": offered,
        "downloads": downloads,
        "bottleneck": bottleneck,
    }


def scenario_tap(driver, args):
    """A running step's Tap shows what it passes on as it flows, as text; Close ends it."""
    driver.get(f"{args.url}/#/jobs/{args.job}")
    tap = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".timeline li[data-step='1'] .step-tap"), "step 1 offers a tap")
    tap[0].click()

    def tapped(d):
        return d.execute_script("return [...document.querySelectorAll('.tap div')].map(div => div.textContent)")

    wait(driver, lambda d: len(tapped(d)) >= 3, "the tap shows the step's lines")
    first = tapped(driver)
    wait(driver, lambda d: tapped(d)[-1] != first[-1], "new lines arrive in the tap while the step runs")
    lines = tapped(driver)
    check(all(line.startswith("<i>tick ") for line in lines), f"the tap shows the lines, markup as text: {lines[:3]}")
    check(not driver.find_elements(By.CSS_SELECTOR, ".tap i"), "a line's markup never becomes HTML")
    numbers = [int(line.split()[1].rstrip("<")) for line in lines if line.split()[1].rstrip("<").isdigit()]
    check(numbers == sorted(numbers), f"the lines come in order: {numbers}")
    if args.screenshot:
        driver.save_screenshot(args.screenshot)
    driver.find_element(By.XPATH, "//button[text()='Close the tap']").click()
    wait(driver, lambda d: not d.find_element(By.CSS_SELECTOR, ".tap-panel").is_displayed(), "Close hides the tap")
    return {"lines": lines[:3]}


def scenario_graph(driver, args):
    """A graph's page: a node per step with its status, an edge per need, in columns by depth."""
    driver.get(f"{args.url}/#/jobs/{args.job}")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".graph svg g.node")) == args.steps, "the graph shows every step")
    nodes = driver.execute_script(
        "return [...document.querySelectorAll('.graph g.node')].map(g => ({"
        "step: g.dataset.step, status: g.getAttribute('class').replace('node ', ''),"
        "x: g.querySelector('rect').getAttribute('x'), text: g.querySelector('text').textContent}))"
    )
    edges = len(driver.find_elements(By.CSS_SELECTOR, ".graph svg line.edge"))
    if args.screenshot:
        driver.save_screenshot(args.screenshot)
    return {"nodes": nodes, "edges": edges}


def scenario_template(driver, args):
    """New job offers the templates, with a form for the chosen one's parameters: a bad value's
    problem names its parameter, and a good run opens the new job's page."""
    driver.get(f"{args.url}/#/new")
    choose = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "template-choice")), None), "a template choice")
    wait(driver, lambda d: len(choose.find_elements(By.TAG_NAME, "option")) > 1, "the templates are offered")
    Select(choose).select_by_value(args.job)
    who = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "param-who")), None), "a field per parameter")
    label = driver.find_element(By.CSS_SELECTOR, "label[for='param-who']").text
    check(label == "who (required)", f"the parameter is labelled: {label!r}")
    times = driver.find_element(By.ID, "param-times")
    check(times.get_attribute("type") == "number" and times.get_attribute("value") == "1", "a number with its default")
    who.send_keys("World")
    driver.find_element(By.XPATH, "//button[text()='Run the template']").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#template-problems li"), "a bad value's problem is shown")
    problems = [p.text for p in driver.find_elements(By.CSS_SELECTOR, "#template-problems li")]
    check(any(p.startswith("params.who") for p in problems), f"the problem names params.who: {problems}")
    check(who.get_attribute("aria-invalid") == "true", "the field is marked invalid")
    who.clear()
    who.send_keys("world")
    driver.find_element(By.XPATH, "//button[text()='Run the template']").click()
    wait(driver, lambda d: "#/jobs/" in d.current_url, "a good run opens its job's page")
    return {"job": driver.current_url.split("#/jobs/")[1], "problems": problems}


def scenario_schedules(driver, args):
    """The schedules page lists each schedule with its next run, and pauses one."""
    driver.get(f"{args.url}/#/schedules")
    row = f"tr[data-id='{args.job}']"
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the schedule is listed")
    next_run = text_of(driver, f"{row} td.next")
    check(next_run and next_run != "—", f"its next run is shown: {next_run!r}")
    check(text_of(driver, f"{row} td.state") == "active", "it is active")
    driver.find_element(By.CSS_SELECTOR, f"{row} button").click()
    wait(driver, lambda d: text_of(d, f"{row} td.state") == "paused", "it is paused")
    wait(driver, lambda d: text_of(d, f"{row} td.next") == "—", "a paused schedule has no next run")
    return {"next": next_run}


def scenario_read_token(driver, args):
    """A project's read token: its project's jobs only, no New job, no Cancel or Delete."""
    driver.get(args.url + "/")
    field = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "token")), None), "the page asks for the token")
    field.send_keys(args.token)
    field.send_keys(Keys.ENTER)
    row = f"tr[data-id='{args.job}']"
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the list shows the project's job")
    check(text_of(driver, f"{row} td.project") == "alpha", "the job's project is shown")
    check(len(driver.find_elements(By.CSS_SELECTOR, "tbody tr")) == 1, "no other project's job is listed")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#project-filter option[value='alpha']"), "the switch shows the project")
    switch = driver.find_element(By.ID, "project-filter")
    check(not switch.is_enabled(), "a project's token cannot switch to another project")
    links = [a for a in driver.find_elements(By.XPATH, "//a[text()='New job']") if a.is_displayed()]
    check(not links, "a read token is offered no New job")
    driver.get(f"{args.url}/#/jobs/{args.job}")
    wait(driver, lambda d: text_of(d, ".summary .status") in ("running", "complete", "error"), "the job's page shows")
    check(not driver.find_elements(By.CSS_SELECTOR, "div.actions button"), "a read token is offered no action")
    return {}


SCENARIOS = {
    "read-token": (scenario_read_token, ["status of 401"]),
    "list": (scenario_list, []),
    "first-render": (scenario_first_render, []),
    "live-log": (scenario_live_log, []),
    "cancel": (scenario_cancel, []),
    "submit": (scenario_submit, ["status of 400"]),
    "token": (scenario_token, ["status of 401"]),
    "job-page": (scenario_job_page, []),
    "graph": (scenario_graph, []),
    "tap": (scenario_tap, []),
    "template": (scenario_template, ["status of 400"]),
    "schedules": (scenario_schedules, []),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--job")
    parser.add_argument("--token")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    run, allowed = SCENARIOS[args.scenario]
    driver = browser()
    try:
        result = run(driver, args)
        errors = console_errors(driver, allowed)
        if errors:
            raise Failed(f"the browser's console has errors: {errors}")
    except Failed as failure:
        print(f"{args.scenario}: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        driver.quit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
