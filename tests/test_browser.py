"""The course in a real browser: JupyterLab started from the course environment, driven by headless
Chromium through Selenium, as a participant would use it.

- lecture 00: run all; the divergence slider renders as a widget, and moving it redraws the figure;
- an untouched exercise: run all; its checks say "not attempted", and no cell shows a traceback.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skipped where they
are missing, except under CI, where a missing browser is a failure.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "gm-browser-test"

_missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - selenium is a dev dependency
    _missing.append("selenium")
if _missing and os.environ.get("CI"):
    pytest.fail(f"the browser test needs {', '.join(_missing)} (see .ci/run)", pytrace=False)
if _missing:
    pytest.skip(f"needs {', '.join(_missing)}", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on the course root, from this environment, on a free local port."""
    port = _free_port()
    env = {**os.environ, "GM_QUICK": "1", "GM_STRICT_CHECKS": "0", "OMP_NUM_THREADS": "1"}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    command = [
        str(Path(sys.prefix) / "bin" / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.token={TOKEN}", f"--notebook-dir={ROOT}", "--LabApp.expose_app_in_browser=True",
        "--ServerApp.open_browser=False", *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    log = open(tmp_path_factory.mktemp("lab") / "lab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail(f"JupyterLab did not start; see {log.name}")
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium")
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def _open_and_run_all(browser, lab, path: str, timeout: float = 240) -> None:
    browser.get(f"{lab}/lab/tree/{path}?token={TOKEN}")
    # the notebook asked for is in front (not a tab restored from an earlier visit), its kernel idle
    front = (
        "const w = window.jupyterapp?.shell.currentWidget;"
        "const front = w?.context?.path === arguments[0]"
        " && w?.sessionContext?.session?.kernel?.status === 'idle';"
    )
    all_run = (
        "w.content.widgets.filter(c => c.model.type === 'code').every(c => c.model.executionCount !== null)"
    )
    WebDriverWait(browser, 120).until(lambda d: d.execute_script(front + "return front;", path))
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    WebDriverWait(browser, timeout, poll_frequency=1).until(
        lambda d: d.execute_script(front + f"return front && {all_run};", path)
    )


def _output_texts(browser) -> str:
    return browser.execute_script(  # in one go: a redraw may replace an output while it is read
        "const outputs = document.querySelectorAll('.jp-OutputArea-output');"
        "return Array.from(outputs).map(e => e.innerText).join('\\n');"
    )


def test_the_lecture_00_slider_renders_as_a_widget_and_redraws_the_figure(lab, browser):
    _open_and_run_all(browser, lab, "lectures/00_generative_modeling.ipynb")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle"))

    def figure() -> str:  # the plot under the sliders (looked up afresh: a redraw replaces it)
        return browser.execute_script(
            "const area = document.querySelector('.widget-slider').closest('.jp-OutputArea');"
            "const images = area ? area.querySelectorAll('img') : [];"
            "return images.length ? images[images.length - 1].src : '';"
        )

    wait.until(lambda d: figure() != "")
    before = figure()
    handle = browser.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[0]
    handle.click()
    for _ in range(5):
        handle.send_keys(Keys.ARROW_RIGHT)
    wait.until(lambda d: figure() not in ("", before))
    assert "Traceback" not in _output_texts(browser)


def test_an_untouched_exercise_says_what_is_left_to_do_without_a_traceback(lab, browser):
    _open_and_run_all(browser, lab, "exercises/00_generative_modeling.ipynb")
    text = _output_texts(browser)
    assert "not attempted yet" in text
    assert "answers done" in text
    assert "Traceback" not in text and not browser.find_elements(
        By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
    )
