"""Both pages in headless Chromium, used as a person would: the review page on a sample build, the
viewer on an evaluation run. Screenshots are kept under the folder the tests print (set
CROSSOMNI_TEST_ARTIFACTS to choose it)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder.review.app import ReviewApp
from evaluation.viewer import ViewerApp
from evaluation.web.server import PageServer
from tests.helpers.optional import import_or_skip, missing
from tests.test_review_viewer import make_run

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags this machine needs (closed network; root): see the env notes on Chromium.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REASON = "two speakers sound high-pitched"


@pytest.fixture(scope="module")
def playwright(tmp_path_factory: pytest.TempPathFactory):
    if CHROMIUM is None:
        missing("Chromium is not installed (Debian: apt-get install chromium); `make test` installs it")
    sync_api = import_or_skip("playwright.sync_api", "playwright is not installed: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        yield playwright


def _context(playwright, folder: Path, bypass_csp: bool):
    # a fresh profile per run: persistent_context takes the user-data-dir Chromium must not share
    return playwright.chromium.launch_persistent_context(
        str(folder),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
        bypass_csp=bypass_csp,
    )


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory: pytest.TempPathFactory):
    """Chromium for the tests: the pages' Content-Security-Policy is lifted, as playwright's waits evaluate
    strings (``strict_browser`` checks the pages under it)."""
    context = _context(playwright, tmp_path_factory.mktemp("chromium-profile"), bypass_csp=True)
    yield context
    context.close()


@pytest.fixture(scope="module")
def strict_browser(playwright, tmp_path_factory: pytest.TempPathFactory):
    context = _context(playwright, tmp_path_factory.mktemp("chromium-strict-profile"), bypass_csp=False)
    yield context
    context.close()


def check_page_runs_under_its_policy(strict_browser, url: str, images: int = 0) -> None:
    """The page loads its item, clip and images with the server's Content-Security-Policy in force."""
    page = strict_browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("#question:not(:empty)")
    page.wait_for_selector("#segment .span")  # showClip ran (its styles are set from the script)
    if images:
        page.wait_for_selector(f"#plots img >> nth={images - 1}")
        loaded = page.evaluate("[...document.querySelectorAll('#plots img')].every((i) => i.naturalWidth > 0)")
        assert loaded
    assert problems == [], problems
    page.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("CROSSOMNI_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def serving(app) -> Iterator[str]:
    server = PageServer(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def open_page(browser, url: str):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page, errors


def check_clip_plays_with_sound(page, expected_duration: float) -> None:
    """The <video> knows its duration, decodes an audio track while playing, and seeks (HTTP Range)."""
    page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=15_000)
    assert page.evaluate("document.getElementById('video').duration") == pytest.approx(expected_duration, abs=0.2)
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
    # Chromium counts the audio bytes it decoded: 0 for a clip without an audio track
    page.wait_for_function("document.getElementById('video').webkitAudioDecodedByteCount > 0", timeout=15_000)
    page.evaluate(
        """() => new Promise((done) => { const v = document.getElementById('video'); v.pause();
            v.addEventListener('seeked', done, { once: true }); v.currentTime = 5.5; })"""
    )
    assert page.evaluate("document.getElementById('video').currentTime") == pytest.approx(5.5, abs=0.5)


def check_plots_are_readable_and_enlarge(page) -> None:
    """Each plot is shown at 85% or more of its drawn width (its labels readable); a click shows it whole."""
    sizes = page.evaluate("[...document.querySelectorAll('#plots img')].map((i) => [i.clientWidth, i.naturalWidth])")
    assert all(shown >= 0.85 * drawn or shown >= 1000 for shown, drawn in sizes), sizes
    page.click("#plots img >> nth=0")
    page.wait_for_function("document.getElementById('plot-view').open")
    full = page.evaluate(
        "(() => { const i = document.getElementById('plot-full'); return [i.clientWidth, i.naturalWidth]; })()"
    )
    assert full[0] == full[1] == sizes[0][1]  # the drawn size, scrolled if wider than the window
    position = page.text_content("#position")
    page.keyboard.press("ArrowRight")  # keys do not move the items behind the enlarged plot
    assert page.text_content("#position") == position
    page.keyboard.press("Escape")
    page.wait_for_function("!document.getElementById('plot-view').open")


def screenshot(page, artifacts: Path, name: str, capsys: pytest.CaptureFixture) -> Path:
    path = artifacts / name
    page.screenshot(path=str(path), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


def test_review_page(browser, strict_browser, artifacts, capsys, sample_tvqa_root: Path, tmp_path: Path) -> None:
    from builder.config import BuildConfig
    from builder.export import export_release
    from builder.pipeline import run_build

    run_build(BuildConfig(tvqa_root=sample_tvqa_root, out=tmp_path / "build", progress=False))
    release = tmp_path / "build" / "release"
    duration = json.loads((release / "clips.jsonl").read_text().splitlines()[0])["duration"]
    with serving(ReviewApp(tmp_path / "build", sample_tvqa_root)) as url:
        page, errors = open_page(browser, url)
        page.wait_for_function("document.getElementById('question').textContent.length > 0")
        assert page.text_content("#progress") == "0 / 36 reviewed, 0 rejected"
        assert page.locator("#evidence table tr").count() == 3  # header + the clip's two people
        assert page.locator("#evidence td.match").count() == 1  # the cue fits one person
        check_clip_plays_with_sound(page, duration)
        screenshot(page, artifacts, "review-page.png", capsys)
        check_page_runs_under_its_policy(strict_browser, url)

        first = page.evaluate("review.currentId")
        page.keyboard.press("a")
        page.wait_for_function("document.getElementById('progress').textContent === '1 / 36 reviewed, 0 rejected'")
        second = page.evaluate("review.currentId")
        assert second != first  # moved on to the next unreviewed instance
        page.keyboard.press("r")
        page.locator("#reason").fill(REASON)
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('progress').textContent === '2 / 36 reviewed, 1 rejected'")

        page.reload()  # closing and reopening loses nothing and resumes at the first unreviewed instance
        page.wait_for_function("document.getElementById('question').textContent.length > 0")
        assert page.text_content("#progress") == "2 / 36 reviewed, 1 rejected"
        assert page.evaluate("review.currentId") not in (first, second)
        page.select_option("#f-decision", "reject")
        page.wait_for_function(f"review.currentId === {json.dumps(second)}")
        page.wait_for_function(f"document.getElementById('current-decision').textContent === 'rejected: {REASON}'")
        page.select_option("#f-decision", "accept")
        page.wait_for_function(f"review.currentId === {json.dumps(first)}")
        page.wait_for_function("document.getElementById('current-decision').textContent === 'accepted'")
        screenshot(page, artifacts, "review-page-accepted-after-reload.png", capsys)
        page.select_option("#f-decision", "")
        page.select_option("#f-task", "vision")
        page.wait_for_function("document.getElementById('position').textContent.endsWith(' of 4 shown')")
        assert errors == []
        page.close()

    lines = [json.loads(line) for line in (release / "review.jsonl").read_text().splitlines()]
    assert [(r["id"], r["decision"], r["reason"]) for r in lines] == [(first, "accept", ""), (second, "reject", REASON)]
    summary = export_release(release, tmp_path / "crossomni")
    import pyarrow.parquet as pq

    ids = {
        i
        for split in ("train", "test")
        for path in summary.files["all"][split]
        for i in pq.read_table(tmp_path / "crossomni" / path, columns=["id"]).column("id").to_pylist()
    }
    assert first in ids and second not in ids and len(ids) == 35


def test_run_viewer(
    browser, strict_browser, artifacts, capsys, sample_release: Path, sample_tvqa_root: Path, tmp_path: Path
) -> None:
    run = make_run(sample_release, sample_tvqa_root, tmp_path)
    with serving(ViewerApp(run)) as url:  # no --tvqa-root: the run recorded where its clips are
        page, errors = open_page(browser, url)
        page.wait_for_function("document.getElementById('question').textContent.length > 0")
        assert page.text_content("#summary").startswith("18 items, 6 correct, 12 wrong (12 parse failures)")
        assert "33.33" in page.text_content("#metrics-table")
        page.wait_for_function(
            "[...document.querySelectorAll('#plots img')].filter((i) => i.complete && i.naturalWidth > 0).length === 2"
        )
        check_plots_are_readable_and_enlarge(page)
        check_page_runs_under_its_policy(strict_browser, url, images=2)
        check_clip_plays_with_sound(page, 8.0)
        assert page.text_content("#position") == "1 of 18 shown"
        page.check("#f-wrong")
        page.wait_for_function("document.getElementById('position').textContent === '1 of 12 shown'")
        verdicts = []
        for step in range(12):
            page.wait_for_function(f"document.getElementById('position').textContent === '{step + 1} of 12 shown'")
            page.wait_for_function(
                "run.currentId && document.getElementById('meta').textContent.includes(run.currentId)"
            )
            verdicts.append(page.text_content("#verdict"))
            page.keyboard.press("ArrowRight")
        assert verdicts == ["wrong"] * 12
        screenshot(page, artifacts, "viewer-wrong-only.png", capsys)
        page.select_option("#f-task", "audio")  # single-modality items were all answered right
        page.wait_for_function("document.getElementById('position').textContent === 'nothing matches the filters'")
        page.uncheck("#f-wrong")
        page.wait_for_function("document.getElementById('position').textContent === '1 of 2 shown'")
        assert errors == []
        page.close()


def test_the_question_segment_is_marked_and_played(
    browser, sample_release: Path, sample_tvqa_root: Path, tmp_path: Path
) -> None:
    """An instance about seconds 2–5 of an 8 s clip: the bar marks 25%–62.5%, the player starts at 2 s and
    "Play segment" stops at 5 s."""
    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    lines = (release / "train.jsonl").read_text().splitlines()
    first = json.loads(lines[0]) | {"start": 2.0, "end": 5.0}
    (release / "train.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with serving(ReviewApp(release, sample_tvqa_root)) as url:
        page, errors = open_page(browser, url)
        page.wait_for_function(f"review.currentId === {json.dumps(first['id'])}")
        page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=15_000)
        span = page.evaluate(
            "(() => { const s = document.querySelector('#segment .span').style; return [s.left, s.width]; })()"
        )
        assert span == ["25%", "37.5%"]
        assert page.text_content("#clip-note") == "question segment 2.0–5.0 s of the 8.0 s clip"
        assert page.evaluate("document.getElementById('video').currentTime") == pytest.approx(2.0, abs=0.1)
        page.evaluate("document.getElementById('video').muted = true")
        page.click("#play-segment")
        page.wait_for_function(
            "document.getElementById('video').paused && document.getElementById('video').currentTime > 4",
            timeout=15_000,
        )
        assert page.evaluate("document.getElementById('video').currentTime") == pytest.approx(5.0, abs=0.4)
        assert errors == []
        page.close()


def test_the_audio_check_fails_on_a_clip_without_sound(
    browser, sample_release: Path, sample_tvqa_root: Path, tmp_path: Path
) -> None:
    """The same clips with their audio stripped: video decodes, no audio byte does (the check can fail)."""
    import subprocess

    root = tmp_path / "silent_tvqa"
    (root / "videos").mkdir(parents=True)
    for clip in (sample_tvqa_root / "videos").glob("*.mp4"):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-an", "-c", "copy", str(root / "videos" / clip.name)],
            check=True,
        )
    with serving(ReviewApp(sample_release, root)) as url:
        page, errors = open_page(browser, url)
        page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=15_000)
        page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")
        page.wait_for_function("document.getElementById('video').currentTime > 2", timeout=15_000)
        counts = page.evaluate(
            "(() => { const v = document.getElementById('video');"
            " return [v.webkitVideoDecodedByteCount, v.webkitAudioDecodedByteCount]; })()"
        )
        assert counts[0] > 0 and counts[1] == 0
        assert errors == []
        page.close()
