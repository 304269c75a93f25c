"""A real phone-sized browser on the public pages: scan-to-submit, then live tracking.

Headless Chromium (Debian's chromium + chromedriver, driven by Selenium) opens the repair
link a QR code encodes, fills in the form with a photo, submits, lands on the tracking page,
and watches it update - without a reload - while the order moves to en_route through the
REST API. The server is a real ``flask run`` subprocess on loopback with its own SQLite
database (tests/e2e/server_process.py), stopped by its PID at the end.

Screenshots of both pages at 390x844 are saved to tests/e2e/artifacts/ (or
$E2E_ARTIFACTS_DIR); that directory ignores its own contents through a .gitignore.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.server_process import ServerProcess, build_database

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "demo-password-2026"
ADMIN = "admin@shenhu.example"
PHONE = (390, 844)
WAIT_S = 20
ARTIFACTS = Path(
    os.environ.get("E2E_ARTIFACTS_DIR") or Path(__file__).resolve().parent / "artifacts"
)
XSS = "<script>window.__xss = 1</script><img src=x onerror=window.__xss=2>"


@dataclass(frozen=True)
class Server:
    """The running server and an admin's access token."""

    base_url: str
    token: str
    log: Path

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON request as the admin; returns the decoded body."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


def _login(base_url: str) -> str:
    request = urllib.request.Request(
        base_url + "/api/v1/auth/login",
        data=json.dumps({"email": ADMIN, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["access_token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A seeded server whose uploads go to a temporary directory and whose page polls fast."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium-driver)")
    workdir = tmp_path_factory.mktemp("public-pages-e2e")
    database_url = build_database(workdir)
    # The child inherits os.environ (server_env); set only what this server needs.
    extra = {"BLOB_DIR": str(workdir / "blobs"), "INTAKE_POLL_SECONDS": "1"}
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        with ServerProcess(workdir, database_url) as process:
            yield Server(process.base_url, _login(process.base_url), process.log)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium with a phone-sized window."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={PHONE[0]},{PHONE[1]}",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(*PHONE)
    try:
        yield driver
    finally:
        driver.quit()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Screenshots written by the browser tests.\n*\n")
    return ARTIFACTS / name


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "broken-lift.jpg"
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 40, 40)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def _wait(driver: Any, condition: Any, what: str, server: Server) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(condition)
    except TimeoutException:
        pytest.fail(
            f"timed out waiting for {what}; page:\n{driver.page_source[-3000:]}"
            f"\n--- server log ---\n{server.log.read_text()[-3000:]}"
        )


def test_scan_submit_and_watch_tracking(server: Server, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # The office prints a code for a unit; the customer "scans" it (opens its link).
    unit = server.call("GET", "/api/v1/equipment?page_size=1")[0]
    code = server.call("POST", f"/api/v1/equipment/{unit['id']}/qr")
    browser.get(code["url"])
    assert unit["name"] in browser.find_element(By.ID, "equipment").text
    browser.save_screenshot(str(_artifact("repair_page_390x844.png")))

    Select(browser.find_element(By.ID, "symptom")).select_by_value("noise")
    browser.find_element(By.ID, "description").send_keys(f"Grinding noise at floor 3. {XSS}")
    browser.find_element(By.ID, "photos").send_keys(str(_photo(tmp_path)))
    browser.find_element(By.ID, "name").send_keys("Wang Fang")
    browser.find_element(By.ID, "phone").send_keys("+86 138 0000 0000")
    browser.find_element(By.ID, "submit").click()

    _wait(browser, lambda d: "/t/" in d.current_url, "the tracking page", server)
    assert "Request received" in browser.find_element(By.ID, "done").text
    link = browser.find_element(By.ID, "tracking-link").get_attribute("href")
    assert link and "/t/" in link and "done=" not in link
    number = browser.find_element(By.ID, "number").text
    assert number and browser.find_element(By.ID, "status").text == "Received"
    # The text came back as text: no injected script ran.
    assert browser.execute_script("return window.__xss === undefined")
    assert "<script>window.__xss" in browser.find_element(By.ID, "messages").text
    browser.save_screenshot(str(_artifact("tracking_page_390x844.png")))

    # A marker that a reload would wipe out.
    browser.execute_script("window.__noReload = 'still here'")
    order = server.call("GET", f"/api/v1/work-orders?q={number}")[0]
    assert order["channel"] == "qr" and order["equipment_id"] == unit["id"]
    technician = next(
        t for t in server.call("GET", "/api/v1/technicians?page_size=50") if t["active"]
    )
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    moves: list[dict[str, Any]] = [
        {
            "to": "scheduled",
            "lead_technician_id": technician["id"],
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + dt.timedelta(hours=2)).isoformat(),
        },
        {"to": "dispatched"},
        {"to": "accepted"},
        {"to": "en_route"},
    ]
    for move in moves:
        server.call("POST", f"/api/v1/work-orders/{order['id']}/transitions", move)

    _wait(
        browser,
        lambda d: d.find_element(By.ID, "status").text == "Engineer on the way",
        "the live status update",
        server,
    )
    assert browser.execute_script("return window.__noReload") == "still here"
    timeline = browser.find_element(By.ID, "timeline").text
    assert "Visit scheduled" in timeline and "Engineer on the way" in timeline
    assert browser.find_element(By.ID, "engineer").text == technician["name"].split()[0]
    # Someone is on the way: the page stops offering to cancel (still without a reload).
    assert not browser.find_element(By.ID, "cancel-form").is_displayed()
    browser.save_screenshot(str(_artifact("tracking_page_en_route_390x844.png")))
    print(f"screenshots in {ARTIFACTS}")


def test_unknown_code_page(server: Server, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server.base_url}/r/this-code-does-not-exist-000?lang=zh")
    assert "二维码无效" in browser.find_element(By.ID, "message").text
