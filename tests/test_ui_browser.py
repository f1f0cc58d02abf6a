"""The /ui web app in a real browser: Debian's Chromium driven by Selenium over ChromeDriver.

A key holder signs in, creates a video with the simulated provider, watches its progress
reach 100 %, plays it (the `<video>` element loads it through a content ticket and reports a
duration) and deletes it; an admin creates a key with a budget and sees the usage chart.
Screenshots land in the test's tmp_path (and /work/notes/screenshots when it exists).

Selenium gets the browser and the driver by path (`Service(executable_path=…)`,
`binary_location`) with SE_OFFLINE=true, so selenium-manager never downloads anything.
Under CI=true a missing Chromium or ChromeDriver fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogate.api.auth import ADMIN_ROLE, mint_jwt

from .conftest import GatewayHandle, free_port

CHROMIUM = os.environ.get("VIDEOGATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VIDEOGATE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path("/work/notes/screenshots")
# 2 s of rendering: long enough for the page to show the job running, short for the suite
SIMULATED = {"type": "simulated", "options": {"generation_seconds": 2.0, "fps": 8}}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--autoplay-policy=no-user-gesture-required",
)


EXPECTED_MISS = re.compile(r"Failed to load resource: the server responded with a status of 40[14]")


def _need(path: str, what: str) -> None:
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI but {path} is missing")
    pytest.skip(f"{what} not installed at {path} (scripts/services.sh installs it)")


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    _need(CHROMIUM, "Chromium")
    _need(CHROMEDRIVER, "ChromeDriver")
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager: never fetch a browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """`check()`'s first truthy value; an element not rendered yet, or re-rendered between
    finding and reading it, is looked for again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def shoot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if SHOTS.is_dir():
        shutil.copy(path, SHOTS / path.name)
    return path


def console_errors(driver: Any) -> list[str]:
    """Severe browser console entries (script errors, CSP violations), less the 401 and 404
    answers the page provokes on purpose (the auth-off probe, /v1/models, /api/logs)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not EXPECTED_MISS.search(e["message"])
    ]


def sign_in(driver: Any, gw: GatewayHandle, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(gw.url + "/ui/")
    found = wait_for(
        lambda: driver.find_elements(By.ID, "signin-token") or console_errors(driver),
        what="sign-in form",
    )
    assert not isinstance(found[0], str), found  # the page failed to start
    box = found[0]
    box.send_keys(token)
    driver.find_element(By.ID, "signin-submit").click()
    wait_for(lambda: driver.find_elements(By.ID, "who"), what="signed in")


# `/v1/models` as the page sees it, fixed per test (the real catalogue lands separately and
# its contents depend on the adapters): `None` answers 404, the page's fallback path.
STUB_FETCH = """
(() => {
  const realFetch = window.fetch.bind(window);
  const [status, body] = %s;
  window.fetch = (input, init) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (url.pathname !== "/v1/models") return realFetch(input, init);
    return Promise.resolve(new Response(JSON.stringify(body), {
      status, headers: {"Content-Type": "application/json"}}));
  };
})();
"""


def stub_models(driver: Any, catalogue: dict[str, Any] | None) -> None:
    answer = [200, catalogue] if catalogue is not None else [404, {"error": {"code": "nf"}}]
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": STUB_FETCH % json.dumps(answer)}
    )


@pytest.fixture
def ui_gateway(make_gateway: Callable[..., GatewayHandle]) -> GatewayHandle:
    return make_gateway(providers={"simulated": SIMULATED})


def test_key_holder_creates_watches_plays_and_deletes(
    browser: Any, ui_gateway: GatewayHandle, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    gw, driver = ui_gateway, browser
    assert gw.key is not None
    stub_models(driver, None)  # no catalogue: free-text size and seconds
    driver.get(gw.url + "/ui")
    wait_for(lambda: driver.find_elements(By.ID, "signin-token"))[0].send_keys("sk-bf-wrong")
    driver.find_element(By.ID, "signin-submit").click()
    alert = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".signin [role=alert]"))[0]
    assert "virtual_key_not_found" in alert.text
    sign_in(driver, gw, gw.key)
    assert driver.execute_script("return sessionStorage.getItem('videogate.token')") == gw.key
    # a key holder sees videos only: no admin tabs
    assert driver.find_elements(By.ID, "tab-videos")
    assert not driver.find_elements(By.ID, "tab-keys")
    wait_for(lambda: driver.find_elements(By.ID, "gallery-empty"), what="empty gallery")

    driver.find_element(By.ID, "create-prompt").send_keys("a paper boat on a rainy street")
    driver.find_element(By.ID, "create-size").send_keys("320x240")
    driver.find_element(By.ID, "create-seconds").send_keys("2")
    driver.find_element(By.ID, "create-submit").click()
    card = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, "article.video"), what="the new card"
    )[0]
    video_id = card.get_attribute("data-video-id")
    assert video_id

    # progress as the page shows it, sampled until the card says completed
    seen: list[int] = []

    def completed() -> bool:
        # one read in the page: the card re-renders (and drops its bar) between two reads
        status, progress = driver.execute_script(
            """const card = document.querySelector(`[data-video-id="${arguments[0]}"]`);
            const bar = card.querySelector('.progress');
            const now = bar ? Number(bar.getAttribute('aria-valuenow')) : null;
            return [card.dataset.status, now];""",
            video_id,
        )
        if progress is not None:
            seen.append(progress)
        return bool(status == "completed")

    wait_for(completed, timeout=15, what="the job to complete")
    assert seen and any(0 < p < 100 for p in seen), f"no running progress shown: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"

    # the player loads the video through its content ticket and knows its length
    player = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, f'[data-video-id="{video_id}"] video'),
        what="the player",
    )[0]
    src = player.get_attribute("src")
    assert "/ui/content/" in src and "ticket=" in src
    wait_for(
        lambda: driver.execute_script(
            "const v = arguments[0]; return v.readyState >= 1 && v.duration > 0;", player
        ),
        what="video metadata",
    )
    duration = driver.execute_script("return arguments[0].duration", player)
    assert 1.5 <= duration <= 2.5, duration
    driver.execute_script("arguments[0].muted = true; arguments[0].play();", player)
    wait_for(
        lambda: driver.execute_script("return arguments[0].currentTime > 0.2", player),
        what="playback to advance",
    )
    driver.execute_script("arguments[0].pause()", player)
    shoot(driver, tmp_path, "ui-gallery-playing")

    # the ticket URL is the video's bytes, for nobody else's video and no other credential
    bytes_ = httpx.get(gw.url + src.removeprefix(gw.url), headers={"Range": "bytes=0-99"})
    assert bytes_.status_code == 206 and bytes_.headers["content-type"] == "video/mp4"

    card = driver.find_element(By.CSS_SELECTOR, f'[data-video-id="{video_id}"]')
    card.find_element(By.CSS_SELECTOR, '[data-action="delete"]').click()
    card.find_element(By.CSS_SELECTOR, '[data-action="confirm-delete"]').click()
    wait_for(
        lambda: not driver.find_elements(By.CSS_SELECTOR, f'[data-video-id="{video_id}"]'),
        what="the card to go",
    )
    with gw.http() as http:
        assert http.get(f"/v1/videos/{video_id}").status_code == 404
    assert console_errors(driver) == []

    # the key is revoked while the page is open: its next call signs the page out
    admin = mint_jwt(gw.settings.jwt_secret(), role=ADMIN_ROLE, ttl_seconds=60)
    with gw.http(admin) as http:
        key_id = http.get("/api/governance/virtual-keys").json()["data"][0]["id"]
        assert http.delete(f"/api/governance/virtual-keys/{key_id}").is_success
    driver.find_element(By.ID, "gallery-refresh").click()
    alert = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".signin [role=alert]"))[0]
    assert "virtual_key_revoked" in alert.text
    assert driver.execute_script("return sessionStorage.getItem('videogate.token')") is None


def test_admin_creates_a_budgeted_key_and_sees_usage(
    browser: Any, make_gateway: Callable[..., GatewayHandle], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    gw = make_gateway(providers={"simulated": SIMULATED}, webhooks={"allow_private_networks": True})
    driver = browser
    token = mint_jwt(gw.settings.jwt_secret(), role=ADMIN_ROLE, ttl_seconds=600, subject="ops")
    with gw.http(token) as http:  # a webhook nobody answers: its deliveries stay to retry
        owner = http.get("/api/governance/virtual-keys").json()["data"][0]["id"]
        hook = {"url": f"http://127.0.0.1:{free_port()}/hook", "owner": owner}
        assert http.post("/api/webhooks", json=hook).status_code == 200
    with gw.http() as http:  # spend to chart: two jobs on the default key
        for prompt in ("first", "second"):
            created = http.post("/v1/videos", json={"prompt": prompt, "seconds": "2"})
            assert created.status_code == 200, created.text
        logs_status = http.get("/api/logs").status_code
    sign_in(driver, gw, token)
    assert driver.find_element(By.ID, "who").text == "admin ops"
    # the request-log tab only where /api/logs exists
    assert bool(driver.find_elements(By.ID, "tab-logs")) == (logs_status != 404)

    # a customer with a monthly budget, a team under it, then a key in that team
    driver.find_element(By.ID, "tab-customers").click()
    wait_for(lambda: driver.find_elements(By.ID, "customer-new"))[0].click()
    driver.find_element(By.ID, "customer-name").send_keys("acme")
    driver.find_element(By.ID, "customer-budget_usd").send_keys("100")
    Select(driver.find_element(By.ID, "customer-budget_period")).select_by_visible_text("monthly")
    driver.find_element(By.ID, "customer-save").click()
    wait_for(
        lambda: (
            "$100.00 / monthly"
            in driver.find_element(By.CSS_SELECTOR, '#customer-table tr[data-name="acme"]').text
        ),
        what="the customer's row",
    )
    driver.find_element(By.ID, "tab-teams").click()
    wait_for(lambda: driver.find_elements(By.ID, "team-new"))[0].click()
    driver.find_element(By.ID, "team-name").send_keys("studio")
    customer = Select(driver.find_element(By.ID, "team-customer_id"))
    wait_for(lambda: len(customer.options) == 2, what="the customers to choose from")
    customer.select_by_visible_text("acme")
    driver.find_element(By.ID, "team-save").click()
    wait_for(
        lambda: (
            "acme"
            in driver.find_element(By.CSS_SELECTOR, '#team-table tr[data-name="studio"]').text
        ),
        what="the team's row",
    )

    driver.find_element(By.ID, "tab-keys").click()
    wait_for(lambda: driver.find_elements(By.ID, "key-new"), what="keys tab")[0].click()
    team = Select(driver.find_element(By.ID, "key-team_id"))
    wait_for(lambda: len(team.options) == 2, what="the teams to choose from")
    team.select_by_visible_text("studio")
    driver.find_element(By.ID, "key-name").send_keys("ui-budgeted")
    driver.find_element(By.ID, "key-budget_usd").send_keys("5")
    Select(driver.find_element(By.ID, "key-budget_period")).select_by_visible_text("daily")
    driver.find_element(By.ID, "key-rpm").send_keys("30")
    driver.find_element(By.ID, "key-save").click()
    secret = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#new-secret code"))[0].text
    assert secret.startswith("sk-bf-")
    row = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, '#key-table tr[data-name="ui-budgeted"]'),
        what="the new key's row",
    )[0]
    assert "$5.00 / daily" in row.text and "30 rpm" in row.text
    with gw.http(token) as http:
        keys = http.get("/api/governance/virtual-keys").json()["data"]
    made = next(k for k in keys if k["name"] == "ui-budgeted")
    assert (made["budget_usd"], made["budget_period"], made["rpm"]) == (5.0, "daily", 30)
    assert "studio" in row.text and made["team_id"].startswith("team_"), made
    with gw.http(secret) as http:  # the secret shown once is a working key
        assert http.get("/v1/videos").status_code == 200
    shoot(driver, tmp_path, "ui-admin-keys")

    def key_row() -> Any:
        return driver.find_element(By.CSS_SELECTOR, '#key-table tr[data-name="ui-budgeted"]')

    # edit: the budget goes up, the other limits stay
    key_row().find_element(By.CSS_SELECTOR, '[data-action="edit"]').click()
    budget = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#key-table #key-budget_usd"))
    budget[0].clear()
    budget[0].send_keys("7.5")
    driver.find_element(By.CSS_SELECTOR, "#key-table #key-save").click()
    wait_for(lambda: "$7.50 / daily · 30 rpm" in key_row().text, what="the edited budget")
    # rotate: a new secret that works; block: the key stops working
    key_row().find_element(By.CSS_SELECTOR, '[data-action="rotate"]').click()
    rotated = wait_for(
        lambda: [
            e.text
            for e in driver.find_elements(By.CSS_SELECTOR, "#new-secret code")
            if e.text != secret
        ]
    )[0]
    with gw.http(rotated) as http:
        assert http.get("/v1/videos").status_code == 200
    key_row().find_element(By.CSS_SELECTOR, '[data-action="block"]').click()
    wait_for(lambda: "BLOCKED" in key_row().text.upper(), what="the key to show blocked")
    with gw.http(rotated) as http:
        assert http.get("/v1/videos").json()["error"]["code"] == "virtual_key_blocked"

    driver.find_element(By.ID, "tab-usage").click()
    # read in one go in the page: the chart is redrawn when the key names arrive
    drawn = wait_for(
        lambda: driver.execute_script(
            """const box = document.querySelector('.chart[data-points]');
            const c = box && box.querySelector('canvas');
            if (!c) return null;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const colours = new Set();
            for (let i = 0; i < d.length; i += 16) colours.add(d[i] << 16 | d[i+1] << 8 | d[i+2]);
            return {points: Number(box.dataset.points), series: Number(box.dataset.series),
                    width: c.clientWidth, height: c.clientHeight, colours: colours.size};"""
        ),
        what="the usage chart",
    )
    assert drawn["points"] >= 1 and drawn["series"] >= 1, drawn
    assert drawn["width"] > 300 and drawn["height"] > 200, drawn
    assert drawn["colours"] > 3, drawn  # something is drawn on it, not one flat colour
    totals = driver.find_element(By.ID, "usage-totals").text
    assert "Jobs\n2" in totals, totals
    shoot(driver, tmp_path, "ui-admin-usage")

    driver.find_element(By.ID, "tab-providers").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-provider="simulated"]'))
    shoot(driver, tmp_path, "ui-admin-providers")

    # the webhook's deliveries of the two completions, failing against a closed port
    driver.find_element(By.ID, "tab-webhooks").click()

    def deliveries() -> list[str]:
        driver.find_element(By.ID, "webhooks-refresh").click()
        return [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")]

    rows = wait_for(lambda: len(deliveries()) >= 2 and deliveries(), what="deliveries")
    assert all("video.completed" in r for r in rows), rows
    shoot(driver, tmp_path, "ui-admin-webhooks")
    assert console_errors(driver) == []


CATALOGUE = {
    "object": "list",
    "data": [
        {
            "id": "simulated/test-pattern",
            "object": "model",
            "owned_by": "simulated",
            "accepts": {
                "sizes": ["320x240", "640x360"],
                "seconds": [1, 2],
                "audio": False,
                "image_input": True,
                "seed": True,
            },
            "price": {"per_second": 0.1},
        },
        {
            "id": "simulated/with-sound",
            "object": "model",
            "owned_by": "simulated",
            "accepts": {
                "sizes": [],
                "seconds": [],
                "min_seconds": 1,
                "max_seconds": 4,
                "audio": True,
                "image_input": False,
            },
        },
        {"id": "simulated/fam-*", "object": "model", "owned_by": "simulated", "accepts": None},
    ],
}


def test_create_form_follows_the_model_catalogue(
    browser: Any, ui_gateway: GatewayHandle, tmp_path: Path
) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    gw, driver = ui_gateway, browser
    assert gw.key is not None
    stub_models(driver, CATALOGUE)
    sign_in(driver, gw, gw.key)
    model = Select(
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "select#create-model"))[0]
    )
    assert [o.text for o in model.options] == [
        "simulated/test-pattern",
        "simulated/with-sound",
        "other…",  # a family ("simulated/fam-*") is no choice, a hint for a typed model
    ]
    sizes = Select(driver.find_element(By.ID, "create-size"))
    assert [o.text for o in sizes.options] == ["default", "320x240", "640x360"]
    assert not driver.find_element(By.ID, "create-audio").is_enabled()
    assert driver.find_elements(By.ID, "create-seed") and driver.find_elements(
        By.ID, "create-image"
    )

    model.select_by_visible_text("simulated/with-sound")  # free sizes, sound, no image
    wait_for(lambda: driver.find_element(By.ID, "create-audio").is_enabled(), what="audio")
    assert driver.find_element(By.ID, "create-size").tag_name == "input"
    assert driver.find_element(By.ID, "create-seconds").get_attribute("placeholder") == "1\u20134"
    assert not driver.find_elements(By.ID, "create-image")

    model.select_by_visible_text("other…")
    typed = wait_for(lambda: driver.find_elements(By.ID, "create-model-other"), what="free text")
    hints = driver.find_elements(By.CSS_SELECTOR, "#model-hints option")
    assert [h.get_attribute("value") for h in hints] == ["simulated/fam-*"]
    assert typed[0].get_attribute("value") == ""

    model.select_by_visible_text("simulated/test-pattern")
    Select(wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "select#create-size"))[0])
    Select(driver.find_element(By.ID, "create-size")).select_by_visible_text("320x240")
    Select(driver.find_element(By.ID, "create-seconds")).select_by_visible_text("1")
    image = tmp_path / "first-frame.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image)
    driver.find_element(By.ID, "create-image").send_keys(str(image))
    driver.find_element(By.ID, "create-prompt").send_keys("from a red first frame")
    price = driver.find_element(By.ID, "create-price").text
    assert price == "$0.10 per second · about $0.10 for 1 s", price
    shoot(driver, tmp_path, "ui-create-catalogue")
    driver.find_element(By.ID, "create-submit").click()
    card = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, "article.video"), what="the new card"
    )[0]
    assert "320x240 · 1 s" in card.text, card.text
    video_id = card.get_attribute("data-video-id")
    # the upload reached the provider as the job's input reference (multipart)
    job = gw.settings.data_dir / "simulated" / (video_id.split(":")[0] + ".json")
    assert json.loads(job.read_text())["has_input_reference"] is True
    with gw.http() as http:
        video = http.get(f"/v1/videos/{video_id}").json()
    assert (video["model"], video["size"], video["seconds"]) == ("test-pattern", "320x240", "1")
    assert console_errors(driver) == []
