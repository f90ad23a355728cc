"""End to end in a real browser: `streamlit run app.py` driven by Playwright with Debian's
chromium. Asks a question and waits for a cited answer, pastes a design and waits for the
stage chart, and checks the page never requests anything outside 127.0.0.1 (a markdown
image in the question must not be fetched). Screenshots and the measured time-to-first-answer
and resident memory go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
QUESTION = "How should I split data for a fraud model with delayed labels?"
TRAP = "What is a baseline model? ![pixel](http://attacker.example/pixel.png)"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: run `make browser` (apt-get install chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (shows the work behind a wall time
    measured while other jobs share the two cores)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {url} within {timeout:.0f} s")


@pytest.fixture
def app_server(corpus_settings, tmp_path):
    """The app on a free port over the corpus store; yields (url, pid, start time). The model
    cache is the default one, as with `make run` (the ONNX export is made once, at ingest)."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "MLSD_STORE_DIR": str(corpus_settings.store_dir),
        "MLSD_EVAL_DIR": str(tmp_path / "eval"),
        "MLSD_UPLOADS_DIR": str(tmp_path / "uploads"),
    }
    log = ARTIFACTS / "streamlit.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
            + ["--server.address", "127.0.0.1", "--server.headless", "true"]
            + ["--browser.gatherUsageStats", "false"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url, proc.pid, started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_cited_answer_and_stage_chart_in_a_real_browser(app_server):
    from playwright.sync_api import expect, sync_playwright

    url, pid, started = app_server
    metrics: dict = {"server_ready_s": round(time.monotonic() - started, 1)}
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"]
            + ["--disable-background-networking", "--disable-component-update"],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2000})
            page.on("request", lambda request: requests.append(request.url))
            page.set_default_timeout(120_000)
            expect.set_options(timeout=60_000)  # 2 shared cores: first renders can be slow
            page.goto(url)
            chat_box = page.get_by_test_id("stChatInputTextArea")
            expect(chat_box).to_be_visible()
            metrics["page_ready_s"] = round(time.monotonic() - started, 1)
            metrics["cpu_s_page_ready"] = _cpu_s(pid)

            # 1. a question, answered with citations (source cards) and a mode badge
            chat_box.fill(QUESTION)
            asked = time.monotonic()
            chat_box.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            # "Sources" and the mode badge are drawn once the answer has finished streaming
            expect(answer.get_by_text("Sources", exact=True)).to_be_visible(timeout=180_000)
            expect(answer.get_by_text("offline", exact=False).last).to_be_visible()
            cards = answer.get_by_test_id("stExpander").filter(has_text="[1]")
            metrics["first_answer_s"] = round(time.monotonic() - asked, 1)
            metrics["first_answer_since_start_s"] = round(time.monotonic() - started, 1)
            metrics["rss_after_first_answer_mb"] = round(_rss_mb(pid), 1)
            metrics["cpu_s_until_first_answer"] = _cpu_s(pid)
            metrics["load_average_1min"] = os.getloadavg()[0]
            cards.first.click()  # open the first source card to show its passage
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
            assert cards.count() >= 1
            assert page.get_by_test_id("stChatMessage").count() == 2

            # a second tab is a separate session: it does not see the first tab's chat
            other = browser.new_page(viewport={"width": 1440, "height": 1000})
            other.on("request", lambda request: requests.append(request.url))
            other.goto(url)
            expect(other.get_by_test_id("stChatInputTextArea")).to_be_visible()
            expect(other.get_by_text("Which offline metrics fit a ranking model?")).to_be_visible()
            assert other.get_by_test_id("stChatMessage").count() == 0
            other.close()

            # 2. a second answer: no model reload, and a markdown image is never fetched
            chat_box.fill(TRAP)
            asked = time.monotonic()
            chat_box.press("Enter")
            second = page.get_by_test_id("stChatMessage").nth(3)
            expect(second.get_by_text("offline", exact=False).last).to_be_visible(timeout=180_000)
            metrics["second_answer_s"] = round(time.monotonic() - asked, 1)
            expect(page.get_by_text("image: pixel").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "chat-untrusted.png"), full_page=True)

            # 3. paste a design on the Critique page and see the stage chart
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Critique").click()
            design_box = page.get_by_label("Your design")
            expect(design_box).to_be_visible()
            design = (ROOT / "ui" / "examples" / "2-restaurant-recs-thin.md").read_text()
            design_box.fill(design.split("---", 2)[2].strip())
            design_box.press("Control+Enter")
            critique = page.get_by_role("button", name="Critique", exact=True)
            expect(critique).to_be_enabled()
            critique.click()
            charts = page.get_by_test_id("stVegaLiteChart")
            expect(charts.first).to_be_visible(timeout=120_000)
            expect(charts).to_have_count(2)
            expect(page.get_by_text("Overall", exact=True)).to_be_visible()
            page.wait_for_timeout(1500)  # let vega finish drawing before the screenshot
            page.screenshot(path=str(ARTIFACTS / "critique.png"), full_page=True)

            # 4. the other pages render (screenshots for a human look)
            for name, marker in (
                ("Mock interview", "Start the interview"),
                ("Evaluate", "Run evaluation"),
                ("Library", "Re-index"),
            ):
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
                expect(page.get_by_text(marker).first).to_be_visible()
                page.wait_for_timeout(800)
                slug = name.lower().replace(" ", "-")
                page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
            metrics["rss_end_mb"] = round(_rss_mb(pid), 1)
        finally:
            browser.close()
    (ARTIFACTS / "browser-metrics.json").write_text(json.dumps(metrics, indent=1))
    print("browser metrics:", metrics)
    outside = [u for u in requests if not u.startswith(("http://127.0.0.1", "ws://127.0.0.1"))]
    outside = [u for u in outside if not u.startswith(("data:", "blob:"))]
    assert outside == [], outside  # nothing (no image, no font, no telemetry) left the machine


def test_progress_and_review_pages_in_a_real_browser(app_server):
    """Saved attempts show as charts and study links; the study plan starts a mock interview;
    a review card is answered, compared with the reference and rescheduled by its rating."""
    from datetime import UTC, datetime, timedelta

    from playwright.sync_api import expect, sync_playwright

    from core.settings import Settings
    from progress import history
    from tools.rubric import load_rubric

    settings = Settings()  # the app's database (MLSD_DATABASE_URL, inherited by the server)
    stages = [  # every criterion missed: the shape of a weak design's report
        {"id": s.id, "name": s.name, "score": 30 + 5 * i, "share_of_design": 0.05,
         "budget_share": 0.15, "words": 40, "red_flags": [],
         "criteria": [{"id": c.id, "status": "missing", "expected": True,
                       "description": c.description} for c in s.criteria]}
        for i, s in enumerate(load_rubric(settings.rubric_path).stages)
    ]  # fmt: skip
    start = datetime.now(UTC) - timedelta(days=4)
    for day in range(4):
        history.save_attempt(
            settings, {"overall": 35 + 5 * day, "is_design": True, "level": "senior",
                       "stages": stages}, at=start + timedelta(days=day),
        )  # fmt: skip
    url, _, _ = app_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2400})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=90_000)
            page.goto(url)
            nav = page.get_by_test_id("stSidebarNav")
            nav.get_by_role("link", name="Progress").click()
            expect(page.get_by_text("Criteria missed most often").first).to_be_visible()
            expect(page.get_by_text("Overall score").first).to_be_visible()
            expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
            study = page.get_by_text("Study: ")
            expect(study.first).to_be_visible()
            assert study.count() >= 2
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "progress.png"), full_page=True)
            nav.get_by_role("link", name="Review").click()
            answer = page.get_by_label("Your answer")
            expect(answer).to_be_visible()
            answer.fill("A proxy objective can be gamed by the model, so pair it with guardrails.")
            answer.press("Control+Enter")  # commits the text (a rerun) before the click
            page.wait_for_timeout(2000)
            page.get_by_role("button", name="Check my answer").click()
            expect(page.get_by_text("can be gamed by the model").last).to_be_visible()
            expect(page.get_by_test_id("stMetric").filter(has_text="Similarity")).to_be_visible()
            expect(page.get_by_text("Reference", exact=True)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            page.get_by_role("button", name="Good", exact=True).click()
            expect(page.get_by_text("Good: next review in")).to_be_visible()

            nav.get_by_role("link", name="Progress").click()
            page.get_by_role("button", name="Start a mock interview on it").click()
            expect(page.get_by_text("Mock ML system design interview").first).to_be_visible()
            expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
        finally:
            browser.close()


def test_follow_up_answer_in_a_real_browser(app_server):
    """A follow-up is answered about its new ask: the tool block shows the resolved query in
    words, and the answer says how it read the follow-up and is about monitoring."""
    from playwright.sync_api import expect, sync_playwright

    url, _, _ = app_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2400})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=90_000)
            page.goto(url)
            chat_box = page.get_by_test_id("stChatInputTextArea")
            expect(chat_box).to_be_visible()
            messages = page.get_by_test_id("stChatMessage")
            chat_box.fill(
                "What is the difference between two-tower retrieval and the ranking stage?"
            )
            chat_box.press("Enter")
            expect(messages.nth(1).get_by_text("Sources", exact=True)).to_be_visible(
                timeout=180_000
            )
            chat_box.fill("and how would I monitor that?")
            chat_box.press("Enter")
            follow = messages.nth(3)
            expect(follow.get_by_text("Sources", exact=True)).to_be_visible(timeout=180_000)
            expect(follow.get_by_text("Follow-up read as:", exact=False).first).to_be_visible()
            resolved = "How would I monitor two-tower retrieval and the ranking stage?"
            expect(follow.get_by_text(resolved, exact=False).first).to_be_attached()
            body = follow.inner_text().lower()
            quoted = body.split("follow-up read as:", 1)[1].split("\n", 1)[1]
            assert "monitor" in quoted, body[:1500]
            page.screenshot(path=str(ARTIFACTS / "chat-follow-up.png"), full_page=True)
        finally:
            browser.close()
