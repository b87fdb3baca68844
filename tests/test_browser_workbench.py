"""The evaluation workbench in a real browser (the fixtures of tests/test_browser.py: Debian's
headless Chromium, the app under gunicorn, a real Redis and real workers): two systems' outputs
uploaded, the comparison opened from the leaderboard with one click, sorted, filtered, and its
LaTeX and CSV downloaded, then two rows ticked and compared with the baseline together;
screenshots of the leaderboard and the comparisons at laptop and phone widths go to
test-artifacts/screenshots/ (checked by eye)."""

from __future__ import annotations

import csv
import io
import re

from helpers import ROOT, SRC, TGT
from test_browser import browser, page, server, shoot  # noqa: F401 (the fixtures)

NAME = "tuned <b>v2</b>"


def upload(tab, base: str, name: str, lines: list[str]) -> str:
    """An uploaded system's evaluation, sent with the checkpoints page's form (a hypothesis
    file, the system's name and pair; the test set is the form's default): its job id, from
    the job page the form leads to."""
    tab.goto(base + "/checkpoints")
    tab.fill("input[name=system]", name)
    tab.set_input_files("input[name=hypotheses_file]", files=[{
        "name": "hyps.txt", "mimeType": "text/plain",
        "buffer": ("\n".join(lines) + "\n").encode()}])
    tab.fill("input[name=pair]", f"{SRC}-{TGT}")
    tab.click("#evaluate-form button[type=submit]")
    tab.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    return tab.url.rsplit("/", 1)[1]


def wait_job(tab, base: str, job_id: str, timeout_s: float = 120) -> str:
    """The job's final status; a tab on its page waits for the page to show it too (the page
    reloads itself then: navigating away before that would be interrupted)."""
    import time

    deadline = time.monotonic() + timeout_s
    while (status := tab.request.get(f"{base}/api/v1/jobs/{job_id}").json()["status"]) \
            not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(0.5)
    if tab.url.endswith(f"/jobs/{job_id}"):
        tab.wait_for_selector(f"#job-status.{status}", timeout=timeout_s * 1000)
        tab.wait_for_load_state("load")
    return status


def reload_until(tab, url: str, done, timeout_s: float = 180) -> None:
    """Open `url` in `tab` again until `done(tab)` (the queue computes what the page waits for)."""
    import time

    deadline = time.monotonic() + timeout_s
    tab.goto(url)
    while not done(tab):
        assert time.monotonic() < deadline, f"{url} never got there"
        time.sleep(1)
        tab.goto(url)


def test_compare_two_uploaded_systems_from_the_leaderboard(page, server, reverse_corpus):  # noqa: F811
    refs = (reverse_corpus / f"test_2016_flickr.{TGT}").read_text().splitlines()
    close = [" ".join(["dog", *r.split()[1:]]) if i % 3 == 0 else r for i, r in enumerate(refs)]
    short = [" ".join(r.split()[:-1]) for r in refs]
    page.goto(server + "/checkpoints")  # the session the uploads belong to
    tab = page.context.new_page()  # (its job page reloads itself when the job is done)
    tab.goto(server + "/checkpoints")
    checkpoint = tab.locator("select[name=checkpoint] option:not([value=''])").first
    tab.select_option("select[name=checkpoint]", checkpoint.get_attribute("value"))
    tab.fill("input[name=beam_size]", "2")  # a checkpoint's row names its search
    tab.click("#evaluate-form button[type=submit]")
    tab.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    assert wait_job(tab, server, tab.url.rsplit("/", 1)[1]) == "done"
    assert "Length penalty" in tab.content()  # the job page names the search
    tab.close()
    ids = [upload(page, server, "close", close), upload(page, server, NAME, short)]
    for job_id in ids:
        assert wait_job(page, server, job_id) == "done"

    # the leaderboard (the test set's board may hold other rows, public checkpoints' among
    # them): "close" chosen as the baseline, tested on the queue, then one click to the
    # comparison
    reload_until(page, server + "/checkpoints", lambda p: "testing…" not in p.content())
    choose = page.locator("table.board tr", has_text="close").first.get_by_role(
        "link", name="baseline")
    if choose.count():  # not the board's best already
        choose.click()
        page.wait_for_url(re.compile(rf"baseline={ids[0]}"))
        reload_until(page, page.url, lambda p: "testing…" not in p.content())
    row = page.locator("table.board tr", has_text="tuned <b>v2</b>").first
    assert row.is_visible() and "p = " in row.inner_text()
    assert page.locator("table.board tr", has_text="beam 2, α 1").first.is_visible()
    shoot(page, "workbench-leaderboard")
    row.get_by_role("link", name="compare").click()
    page.wait_for_url(re.compile(r"/compare\?"))
    compare_url = page.url
    reload_until(page, compare_url, lambda p: p.locator("#segments").count() > 0)
    assert ids[1] in compare_url and f"baseline={ids[0]}" in compare_url
    assert page.locator("table.summary").inner_text().count("worse") >= 1
    shoot(page, "workbench-compare")

    # sorted by the chrF difference, the system's best first
    page.select_option("select[name=sort]", "-diff")
    page.click("form.filter button[type=submit]")
    page.wait_for_url(re.compile(r"sort=-diff"))
    diffs = [float(t) for t in
             page.locator("td.seg-scores strong").all_inner_texts()]
    assert diffs == sorted(diffs, reverse=True) and len(diffs) == 50

    # filtered by words: every row has them
    page.fill("input[name=q]", "DOG cat")
    page.click("form.filter button[type=submit]")
    page.wait_for_url(re.compile(r"q=DOG"))
    assert "contain every word of" in page.inner_text("p.count")
    for text in page.locator("table.segments tbody tr").all_inner_texts()[:10]:
        assert "dog" in text.lower() and "cat" in text.lower()
    shoot(page, "workbench-compare-filtered")

    # the exports: LaTeX and CSV
    with page.expect_download() as tex:
        page.click("a:has-text('LaTeX')")
    latex = open(tex.value.path(), encoding="utf-8").read()
    assert r"\toprule" in latex and "tuned <b>v2</b>" in latex
    with page.expect_download() as table:
        page.click("a:has-text('CSV')")
    rows = list(csv.DictReader(io.StringIO(open(table.value.path(), encoding="utf-8").read())))
    assert [r["system"] for r in rows] == ["close", NAME]
    assert (ROOT / "test-artifacts" / "screenshots" / "workbench-compare-phone.png").exists()

    # several systems at once: two rows ticked on the leaderboard, compared with its baseline
    page.goto(server + f"/checkpoints?baseline={ids[0]}")
    button = page.locator("button:has-text('Compare the ticked systems')")
    assert button.is_disabled()  # until a row is ticked
    for text in (NAME, "beam 2, α 1"):
        page.locator("table.board tr", has_text=text).first.locator(
            "input[type=checkbox]").check()
    page.click("button:has-text('Compare the ticked systems')")
    page.wait_for_url(re.compile(r"/compare\?"))
    several = page.url
    assert f"baseline={ids[0]}" in several and several.count("system=") == 2
    reload_until(page, several, lambda p: p.locator("#segments").count() > 0)
    summary = page.locator("table.summary tbody tr").all_inner_texts()
    assert len(summary) == 3 and "close" in summary[0] and NAME in "\n".join(summary)
    shoot(page, "workbench-compare-several")
