"""The web page in a real browser: headless Chromium (Debian's chromium + chromium-driver) via Selenium.

The tests upload real files through the page, wait for the grid, check the order and the numbers against
the API, open a heat map and download the CSV. Screenshots go to ``$PERSONA_IAA_TEST_OUTPUT/browser``
(default: ``test-output/browser`` in the repository). In CI (``CI`` set) a missing browser is a failure,
not a skip: `.ci/run` installs it.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from persona_iaa.constants import TRAITS

from .conftest import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
)


def _need_browser() -> None:
    missing = [
        name for name, found in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER)) if not found
    ]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = "browser tests need " + ", ".join(missing) + " (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def output_dir() -> Path:
    root = os.environ.get("PERSONA_IAA_TEST_OUTPUT") or Path(__file__).resolve().parents[2] / "test-output"
    folder = Path(root) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=tmp_path)}")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def cards(driver, selector: str = "#grid .card:not(.bad)") -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def upload(driver, server_url: str, paths: list[Path]) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server_url + "/")
    wait_until(lambda: driver.find_element(By.ID, "model-badge").text, what="the page to load the model info")
    driver.find_element(By.ID, "file-input").send_keys("\n".join(str(p) for p in paths))
    wait_until(
        lambda: (
            len(driver.find_elements(By.CSS_SELECTOR, "#grid .card")) == len(paths)
            and driver.find_element(By.ID, "status").text.startswith("Done")
        ),
        timeout=120,
        what="the grid",
    )


def test_the_page_ranks_uploads_like_the_api_and_explains_one(
    app_factory, live_server, photo_files, broken_file, browser, output_dir
):
    from selenium.webdriver.common.by import By

    with live_server(app_factory()) as server:
        upload(browser, server.url, [*photo_files, broken_file])
        time.sleep(0.5)  # thumbnails are drawn asynchronously; let them land before the picture
        browser.save_screenshot(str(output_dir / "grid.png"))

        api = httpx.post(
            server.url + "/score",
            timeout=120,
            files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in [*photo_files, broken_file]],
        ).json()
        expected = {r["filename"]: r for r in api["results"]}
        shown = [
            (c.get_attribute("data-filename"), float(c.get_attribute("data-score"))) for c in cards(browser)
        ]
        assert [name for name, _ in shown] == sorted(
            (r["filename"] for r in api["results"] if not r["error"]), key=lambda n: -expected[n]["score"]
        )
        for card, (name, score) in zip(cards(browser), shown):
            assert score == pytest.approx(expected[name]["score"], abs=1e-9)
            assert card.find_element(By.CSS_SELECTOR, ".card-score").text == f"{expected[name]['score']:.3f}"
            assert card.find_elements(By.CSS_SELECTOR, "svg.radar")
        (bad,) = cards(browser, "#grid .card.bad")
        assert bad.get_attribute("data-filename") == "broken.jpg"
        assert bad.find_element(By.CSS_SELECTOR, ".err").text == expected["broken.jpg"]["error"]
        assert "test-size model" in browser.find_element(By.ID, "warning").text

        browser.find_element(By.ID, "sort-aesthetic").click()
        by_aesthetic = [float(c.get_attribute("data-aesthetic")) for c in cards(browser)]
        assert by_aesthetic == sorted(by_aesthetic, reverse=True)
        browser.find_element(By.ID, "sort-score").click()

        cards(browser)[0].click()
        wait_until(lambda: browser.find_element(By.ID, "viewer").is_displayed(), what="the viewer")
        browser.save_screenshot(str(output_dir / "viewer-photo.png"))
        browser.find_element(By.CSS_SELECTOR, '#map-buttons button[data-target="score"]').click()
        image = browser.find_element(By.ID, "viewer-image")
        wait_until(
            lambda: (
                image.get_attribute("data-target") == "score"
                and browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)
            ),
            timeout=120,
            what="the score heat map",
        )
        best = shown[0][0]
        width, height = browser.execute_script(
            "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image
        )
        photo = next(p for p in photo_files if p.name == best)
        from PIL import Image

        with Image.open(photo) as original:
            assert width / height == pytest.approx(original.width / original.height, rel=0.02)
        assert image.get_attribute("src").startswith("data:image/png;base64,")
        assert browser.find_element(By.ID, "legend").is_displayed()
        browser.find_element(By.CSS_SELECTOR, '#map-buttons button[data-target="O"]').click()
        wait_until(lambda: image.get_attribute("data-target") == "O", what="the Openness map")
        traits = browser.find_elements(By.CSS_SELECTOR, "#viewer-traits .trait .val")
        assert [t.text.replace("−", "-") for t in traits] == [f"{expected[best][t]:+.3f}" for t in TRAITS]
        browser.save_screenshot(str(output_dir / "viewer-heatmap.png"))


def test_the_csv_download_holds_every_photo_in_grid_order(
    app_factory, live_server, photo_files, broken_file, browser
):
    from selenium.webdriver.common.by import By

    with live_server(app_factory()) as server:
        upload(browser, server.url, [*photo_files[:3], broken_file])
        names = [c.get_attribute("data-filename") for c in cards(browser, "#grid .card")]
        browser.find_element(By.ID, "download").click()
        target = browser.downloads / "persona-iaa-scores.csv"
        wait_until(target.exists, what="the CSV download")
    with target.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["filename"] for r in rows] == names
    assert list(rows[0]) == ["filename", "score", "aesthetic", *TRAITS, "error"]
    assert rows[-1]["error"] and not rows[-1]["score"] and float(rows[0]["score"]) >= float(rows[1]["score"])


def test_the_docs_pages_render_offline(app_factory, live_server, browser, output_dir):
    from selenium.webdriver.common.by import By

    with live_server(app_factory()) as server:
        browser.get(server.url + "/docs")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"), what="Swagger UI")
        paths = {
            e.text.replace("\u200b", "")
            for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        }
        assert {"/score", "/explain", "/health", "/metrics"} <= paths
        browser.save_screenshot(str(output_dir / "docs.png"))
        browser.get(server.url + "/redoc")
        wait_until(
            lambda: (
                "POST /score" in browser.find_element(By.TAG_NAME, "body").text.replace("\n", " ")
                or browser.find_elements(By.CSS_SELECTOR, "[data-section-id]")
            ),
            what="ReDoc",
        )
        browser.save_screenshot(str(output_dir / "redoc.png"))


def test_the_taste_panel_reranks_by_a_loaded_profile_like_the_api(
    app_factory, live_server, photo_files, fitted_profile, browser, output_dir
):
    from selenium.webdriver.common.by import By

    with live_server(app_factory()) as server:
        upload(browser, server.url, photo_files)
        by_score = [c.get_attribute("data-filename") for c in cards(browser)]
        browser.find_element(By.CSS_SELECTOR, "#taste > summary").click()
        wait_until(
            lambda: len(browser.find_elements(By.CSS_SELECTOR, "#quiz-items .quiz-item")) == 10,
            what="the ten BFI-10 items",
        )
        browser.find_element(By.ID, "profile-input").send_keys(str(fitted_profile))
        wait_until(
            lambda: (
                all(c.get_attribute("data-personal") for c in cards(browser))
                and browser.find_element(By.ID, "status").text.startswith("Done")
            ),
            timeout=120,
            what="the personal scores",
        )
        time.sleep(0.3)
        browser.save_screenshot(str(output_dir / "taste.png"))

        api = httpx.post(
            server.url + "/score",
            timeout=120,
            files=[("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photo_files],
            data={"profile": fitted_profile.read_text()},
        ).json()
        expected = {r["filename"]: r["personal"] for r in api["results"]}
        shown = [c.get_attribute("data-filename") for c in cards(browser)]
        assert shown == sorted(expected, key=lambda n: -expected[n]) and shown != by_score
        assert "active" in browser.find_element(By.ID, "sort-personal").get_attribute("class")
        for card in cards(browser):
            personal = expected[card.get_attribute("data-filename")]
            assert float(card.get_attribute("data-personal")) == pytest.approx(personal, abs=1e-9)
            assert card.find_element(By.CSS_SELECTOR, ".card-score").text == f"{personal:.3f}"
        assert fitted_profile.name in browser.find_element(By.ID, "taste-state").text

        # answers without a calibrated model: the server's one-line reason, and the ranking for everyone
        assert not browser.find_element(By.ID, "quiz").is_displayed()  # folded away for the grid
        browser.find_element(By.CSS_SELECTOR, "#taste > summary").click()
        for item in range(1, 11):
            browser.find_element(
                By.CSS_SELECTOR, f'input[name="item-{item}"][value="{1 + item % 5}"]+span'
            ).click()
        browser.find_element(By.ID, "quiz-submit").click()
        error = browser.find_element(By.ID, "taste-error")
        wait_until(error.is_displayed, timeout=120, what="the refused questionnaire profile")
        assert "calibrat" in error.text
        wait_until(lambda: browser.find_element(By.ID, "status").text.startswith("Done"), what="the fallback")
        assert [c.get_attribute("data-filename") for c in cards(browser)] == by_score
        assert not browser.find_element(By.ID, "sort-personal").is_displayed()
        browser.save_screenshot(str(output_dir / "taste-refused.png"))
