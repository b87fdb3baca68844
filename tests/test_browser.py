"""End-to-end in a real browser: Playwright driving Debian's headless Chromium against the app
served by gunicorn, with a real Redis and real workers. Screenshots of every page at laptop and
phone widths go to test-artifacts/screenshots/ (checked by eye)."""

from __future__ import annotations

import io
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import PAIR, ROOT, SRC, TGT, WORDS

CHROMIUM = "/usr/bin/chromium"  # Debian's package (`apt-get install chromium`; .ci/run does)
SHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(queue_env, workers, tmp_path_factory):
    """The app under gunicorn (what `translator serve` and compose run) on a free port."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("gunicorn") / "gunicorn.log", "wb")
    env = {**os.environ, **queue_env, "SECRET_KEY": "browser-test", "RATE_LIMIT": "",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--threads", "4", "--preload", "web.wsgi:app"],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180  # a loaded machine starts it slowly; a dead one fails now
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORTS["laptop"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A page that breaks the Content-Security-Policy (an inline script or style) fails.
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(VIEWPORTS["laptop"])


def document(n: int, seed: int) -> tuple[str, str]:
    """n lines of the reverse task and their reference translations."""
    rng = random.Random(seed)
    src, ref = [], []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 7))]
        src.append(" ".join(words))
        ref.append(" ".join(reversed(words)))
    return "\n".join(src) + "\n", "\n".join(ref) + "\n"


def translate_in_the_form(page, server, text: str, reference: str | None = None) -> None:
    """Fill the translate form (beam 2), submit it and wait for the in-place result."""
    page.goto(server + "/")
    page.select_option("#source", SRC)
    page.select_option("#target", TGT)
    page.fill("#beam_size", "2")
    page.fill("#text", text)
    if reference is not None:
        page.click("summary")
        page.fill("#reference", reference)
    page.click("button[type=submit]")
    page.wait_for_selector("#output-status:has-text('Done')", timeout=30_000)


def test_translate_form_shows_the_translation_and_scores(page, server):
    translate_in_the_form(page, server, "red blue cat dog\n<script>alert('x')</script>",
                          reference="dog cat blue red\nx")
    assert "dog cat blue red" in page.inner_text("#output")
    assert page.is_visible("#scores") and "BLEU" in page.inner_text("#scores")
    assert "nrefs:1" in page.inner_text("#scores")
    assert page.locator("#output script").count() == 0  # shown as text, never run
    shoot(page, "translate")


def test_translate_form_shows_alternatives_when_asked(page, server):
    page.goto(server + "/")
    page.select_option("#source", SRC)
    page.select_option("#target", TGT)
    page.fill("#beam_size", "1")
    page.fill("#alternatives", "2")
    page.fill("#text", "red blue cat dog\n\nsun moon tree")
    page.click("button[type=submit]")
    page.wait_for_selector("#output-status:has-text('Done')", timeout=30_000)
    assert page.inner_text("#output").startswith("dog cat blue red\n")
    assert page.is_visible("#other-translations")
    items = page.locator("#other-translations-list > li")
    assert items.count() == 2 and items.nth(0).get_attribute("value") == "1"
    assert items.nth(1).get_attribute("value") == "3"  # the empty line has none
    first = items.nth(0).locator("li").all_inner_texts()
    assert 1 <= len(first) <= 2 and "dog cat blue red" not in first
    shoot(page, "translate_alternatives")
    assert not page.is_visible("#scores")  # no reference: no (empty) scores box
    page.fill("#alternatives", "0")  # asked for none: the box goes away
    page.click("button[type=submit]")
    page.wait_for_selector("#output-status:has-text('Done')", timeout=30_000)
    assert not page.is_visible("#other-translations")


def test_translate_form_marks_low_confidence_sentences(page, server):
    translate_in_the_form(page, server, "red blue cat dog\nHallo, wie geht es?")
    marks = page.locator("#output mark.doubtful")
    assert marks.count() == 1 and "low confidence" in page.inner_text("#output-status")
    assert page.inner_text("#output").startswith("dog cat blue red\n")
    assert marks.first.get_attribute("title").startswith("Low confidence (")
    shoot(page, "translate_low_confidence")


def test_the_form_detects_the_source_and_narrows_the_targets(page, server):
    page.goto(server + "/")
    assert page.input_value("#source") == "auto"
    page.select_option("#source", SRC)  # xx reaches only yy
    assert page.locator("#target option:not([disabled])").all_inner_texts() == ["Test target"]
    page.select_option("#source", "auto")
    page.select_option("#target", "en")
    page.fill("#text", "Ein Mann fährt mit dem Fahrrad durch die Stadt.")
    page.click("button[type=submit]")
    page.wait_for_selector("#output-status:has-text('Done')", timeout=30_000)
    assert "German (detected, " in page.inner_text("#output-status")
    shoot(page, "translate_detected")
    page.click("text=job details")
    assert "German detected, " in page.inner_text("dl")


def test_two_browsers_see_only_their_own_jobs(browser, page, server):
    translate_in_the_form(page, server, "red blue cat dog")
    page.click("text=job details")
    job_id = page.url.rsplit("/", 1)[-1]
    page.goto(server + "/jobs")
    assert job_id[:8] in page.inner_text("table")
    other = browser.new_context(viewport=VIEWPORTS["laptop"]).new_page()
    other.goto(server + "/jobs")
    assert job_id[:8] not in other.inner_text("main")
    assert "this browser" in other.inner_text("main")
    other.context.close()


def test_libretranslate_python_client(server):
    """LibreTranslate's own client library (libretranslatepy) against our /translate,
    /detect and /languages (it sends the last as a GET with a body)."""
    from libretranslatepy import LibreTranslateAPI

    client = LibreTranslateAPI(server + "/")
    source, target = PAIR.split("-")
    assert client.translate("red blue cat", source, target) == "cat blue red"
    assert {"code": source, "targets": [target]}.items() <= next(
        lang for lang in client.languages() if lang["code"] == source).items()
    detected = client.detect("Der Hund spielt im Garten mit einem roten Ball.")
    assert detected[0]["language"] == "de" and 0 < detected[0]["confidence"] <= 100
    assert client.translate("red blue cat", "auto", "vv") == "cat blue red"  # English found


def test_deep_translator_client(server):
    """deep-translator's LibreTranslator (it sends the parameters in the query string and
    checks codes against its own list: de-en is served by the test model)."""
    from deep_translator import LibreTranslator

    client = LibreTranslator(source="de", target="en", custom_url=server + "/",
                             api_key="unused")  # it refuses to run without one
    assert client.translate("red blue cat") == "cat blue red"
    assert client.translate_batch(["red cat dog", "sun moon tree"]) == ["dog cat red",
                                                                  "tree moon sun"]


def test_libretranslate_file_api_with_requests(server):
    """LibreTranslate's file API as a client calls it: a multipart POST made with `requests`,
    then the translated file fetched from the signed URL without credentials; an altered URL
    answers 404."""
    import docx
    import requests
    from test_document_jobs import SENTENCES, make_docx, reversed_words

    source, target = PAIR.split("-")
    answer = requests.post(server + "/translate_file", files={"file": ("report.docx",
                                                                      make_docx())},
                           data={"source": source, "target": target}, timeout=60)
    assert answer.status_code == 200, answer.text
    url = answer.json()["translatedFileUrl"]
    assert url.startswith(server + "/")
    download = requests.get(url, timeout=30)
    assert download.status_code == 200
    assert "report." + target + ".docx" in download.headers["Content-Disposition"]
    out = docx.Document(io.BytesIO(download.content))
    assert out.paragraphs[0].text == reversed_words(SENTENCES[0])
    altered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert requests.get(altered, timeout=30).status_code == 404
    settings = requests.get(server + "/frontend/settings", timeout=30).json()
    assert ".srt" in settings["supportedFilesFormat"]


def test_document_upload_progress_to_100_then_bleu(page, server, tmp_path):
    text, reference = document(300, seed=1)
    (tmp_path / "doc.txt").write_text(text)
    (tmp_path / "ref.txt").write_text(reference)
    page.goto(server + "/documents")
    shoot(page, "documents")
    page.select_option("#source", SRC)
    page.select_option("#target", TGT)
    page.fill("#beam_size", "3")
    page.set_input_files("#file", str(tmp_path / "doc.txt"))
    page.set_input_files("#reference_file", str(tmp_path / "ref.txt"))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    page.wait_for_selector("#progress-text")
    page.wait_for_function(
        "() => document.getElementById('progress-text').textContent.includes('(100.0%)')",
        timeout=60_000)
    page.wait_for_selector(".scores", timeout=30_000)
    assert "BLEU" in page.inner_text(".scores")
    assert page.inner_text("#job-status") == "done"
    assert page.locator("table.side-by-side tbody tr").count() == 300
    with page.expect_download() as download:
        page.click("#download-text")
    assert download.value.suggested_filename == f"doc.{PAIR.split('-')[1]}.txt"
    assert Path(download.value.path()).read_text().count("\n") == 300
    shoot(page, "job-done")


def upload_in_the_page(page, server, path: Path) -> None:
    """Upload a file on the documents page and wait for its job to reach 100%."""
    page.goto(server + "/documents")
    page.select_option("#source", SRC)
    page.select_option("#target", TGT)
    page.fill("#beam_size", "2")
    page.set_input_files("#file", str(path))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    page.wait_for_function(
        "() => document.getElementById('progress-text').textContent.includes('(100.0%)')",
        timeout=60_000)
    page.wait_for_selector("#download-file", timeout=30_000)
    assert page.inner_text("#job-status") == "done"


def test_a_docx_and_an_srt_uploaded_translated_and_downloaded(page, server, tmp_path):
    """Real files through the page: progress to 100%, the translated files downloaded with
    their names, and opened with their own libraries: the structure is the input's."""
    import docx
    import pysubs2
    from test_document_jobs import SENTENCES, make_docx, make_srt, reversed_words

    target = PAIR.split("-")[1]
    (tmp_path / "report.docx").write_bytes(make_docx())
    upload_in_the_page(page, server, tmp_path / "report.docx")
    assert page.locator("table.side-by-side tbody tr").count() == len(SENTENCES)
    shoot(page, "job-docx")
    with page.expect_download() as download:
        page.click("#download-file")
    assert download.value.suggested_filename == f"report.{target}.docx"
    out = docx.Document(download.value.path())
    assert [p.text for p in out.paragraphs][:2] == [reversed_words(s) for s in SENTENCES[:2]]
    assert len(out.tables[0].rows[0].cells) == 2 and out.paragraphs[1].runs[0].bold

    (tmp_path / "film.srt").write_bytes(make_srt())
    upload_in_the_page(page, server, tmp_path / "film.srt")
    with page.expect_download() as download:
        page.click("#download-file")
    assert download.value.suggested_filename == f"film.{target}.srt"
    subs = pysubs2.load(download.value.path())
    original = pysubs2.SSAFile.from_string(make_srt().decode())
    assert [(e.start, e.end) for e in subs] == [(e.start, e.end) for e in original]
    assert [e.plaintext for e in subs] == [reversed_words(s) for s in SENTENCES[:3]]


def test_cancel_a_document_job(page, server, tmp_path):
    text, _ = document(15000, seed=2)
    (tmp_path / "big.txt").write_text(text)
    page.goto(server + "/documents")
    page.select_option("#source", SRC)
    page.select_option("#target", TGT)
    page.fill("#beam_size", "8")
    page.set_input_files("#file", str(tmp_path / "big.txt"))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    shoot(page, "job-running")
    page.click("#cancel")
    page.wait_for_selector("text=The job was cancelled.")
    assert page.inner_text("#job-status") == "cancelled"


def test_other_pages_render_cleanly(page, server):
    for path, name in (("/jobs", "jobs"), ("/checkpoints", "checkpoints"),
                       ("/status", "status"), ("/jobs/" + "0" * 32, "not-found")):
        response = page.goto(server + path)
        assert response.status < 500
        shoot(page, name)
