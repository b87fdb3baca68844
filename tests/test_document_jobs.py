"""Document files through the queue (real Redis, real Celery workers, the tiny reverse-words
model): every format is read on submission, segmented and chunked by the document workers,
and written back as the same kind of file; downloads; bad files refused before queuing."""

from __future__ import annotations

import io

import docx
import lxml.html
import pysubs2
import pytest
from helpers import PAIR, wait_api_job, zip_bytes

from translator.formats import detect, read_file

SENTENCES = ["red blue cat dog", "dog sun moon tree", "fish bird star rock",
             "leaf rock tree sun", "moon star cat red"]


def reversed_words(text: str) -> str:
    return " ".join(reversed(text.split()))


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading(SENTENCES[0], level=1)
    paragraph = document.add_paragraph()
    paragraph.add_run(SENTENCES[1]).bold = True
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = SENTENCES[2], SENTENCES[3]
    document.sections[0].header.paragraphs[0].text = SENTENCES[4]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_srt() -> bytes:
    subs = pysubs2.SSAFile()
    for i, sentence in enumerate(SENTENCES[:3]):
        subs.append(pysubs2.SSAEvent(start=1000 * i, end=1000 * i + 900, text=sentence))
    return subs.to_string("srt").encode("utf-8")


def upload(client, data: bytes, name: str):
    return client.post("/api/v1/documents", data={"pair": PAIR, "beam_size": 1,
                                                  "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_a_docx_comes_back_as_a_translated_docx_with_its_structure(client):
    response = upload(client, make_docx(), "report.docx")
    assert response.status_code == 202, response.get_json()
    job = wait_api_job(client, response.get_json()["id"])
    assert (job["status"], job["format"], job["done"], job["total"]) == ("done", "docx", 5, 5)
    download = client.get(job["links"]["result_file"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "report.yy.docx" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.mimetype.endswith("wordprocessingml.document")
    out = docx.Document(io.BytesIO(download.data))
    body = [p.text for p in out.paragraphs]
    assert body[:2] == [reversed_words(SENTENCES[0]), reversed_words(SENTENCES[1])]
    assert out.paragraphs[0].style.name == "Heading 1"
    assert out.paragraphs[1].runs[0].bold
    cells = [c.text for c in out.tables[0].rows[0].cells]
    assert cells == [reversed_words(SENTENCES[2]), reversed_words(SENTENCES[3])]
    assert out.sections[0].header.paragraphs[0].text == reversed_words(SENTENCES[4])
    assert out.core_properties.language == PAIR.split("-")[1]
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert "report.yy.docx" in page and "report.yy.txt" in page and "Word" in page
    text = client.get(f"/jobs/{job['id']}/download")
    assert "report.yy.txt" in text.headers["Content-Disposition"]
    assert reversed_words(SENTENCES[2]) in text.get_data(as_text=True)


def test_an_srt_keeps_numbering_and_timings(client):
    source = make_srt()
    job = wait_api_job(client, upload(client, source, "film.srt").get_json()["id"])
    assert job["status"] == "done" and job["format"] == "srt"
    out = pysubs2.SSAFile.from_string(client.get(job["links"]["result_file"]).data.decode())
    original = pysubs2.SSAFile.from_string(source.decode())
    assert [(e.start, e.end) for e in out] == [(e.start, e.end) for e in original]
    assert [e.plaintext for e in out] == [reversed_words(s) for s in SENTENCES[:3]]


def test_a_utf16_text_file_is_read_and_written_back_in_utf16(client):
    text = "\r\n".join(SENTENCES[:2]) + "\r\n"
    job = wait_api_job(client, upload(client, text.encode("utf-16"), "notes.txt")
                       .get_json()["id"])
    assert job["status"] == "done" and job["format"] == "txt" and not job.get("notes")
    data = client.get(job["links"]["result_file"]).data
    assert data.startswith(b"\xff\xfe")
    assert data.decode("utf-16") == "\r\n".join(reversed_words(s) for s in SENTENCES[:2]) + \
        "\r\n"


def test_a_cp1252_file_is_decoded_and_the_job_says_so(client):
    job = wait_api_job(client, upload(client, "red cat dog caf\xe9\n".encode("cp1252"),
                                      "old.txt").get_json()["id"])
    assert job["status"] == "done"
    assert any("cp125" in note for note in job["notes"]), job
    assert "cp125" in client.get(f"/jobs/{job['id']}").get_data(as_text=True)


@pytest.mark.parametrize("data, name, message", [
    (zip_bytes({"xl/workbook.xml": b"<workbook/>"}), "sheet.docx", "Excel"),
    (b"%PDF-1.7\n...", "paper.docx", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "secret.docx", "password"),
    (make_docx()[:400], "cut.docx", "corrupt"),
    (zip_bytes({"word/document.xml": bytes(20_000_000)}), "bomb.docx", "zip bomb"),
    (b"<html><body><p>red cat</p></body></html>", "page.srt", "HTML"),
    (b"red cat", "x.exe", "not supported"),
    (b"1\n00:00:01,000 --> broken\nred cat\n", "broken.srt", "00:00:01,000 --> broken"),
])
def test_bad_files_are_refused_before_they_are_queued(client, data, name, message):
    response = upload(client, data, name)
    assert response.status_code == 422, response.get_json()
    assert message in response.get_json()["error"], response.get_json()["error"]


def test_the_web_and_the_worker_read_a_file_the_same_way():
    """The web checks an upload by reading it; the worker reads it again to segment and once
    more to write: the blocks must be the same each time (a deterministic reader)."""
    data = make_docx()
    first, second = read_file(data, detect(data, "a.docx")), read_file(data, "docx")
    assert [b.spans for b in first.blocks] == [b.spans for b in second.blocks]


def test_the_translate_command_writes_a_translated_copy_of_a_file(trained_run, tmp_path,
                                                                 capsys):
    """`translator translate -i report.docx -o report.yy.docx`, and an .srt, without a
    server; a .txt stays one line = one segment."""
    from translator.cli.main import main

    checkpoint = str(trained_run["dir"] / "best.pt")
    (tmp_path / "report.docx").write_bytes(make_docx())
    (tmp_path / "film.srt").write_bytes(make_srt())
    for name in ("report.docx", "film.srt"):
        out = tmp_path / f"out.{name}"
        assert main(["translate", "--checkpoint", checkpoint, "-q", "--beam", "1",
                     "-i", str(tmp_path / name), "-o", str(out)]) == 0
        parsed = read_file(out.read_bytes(), detect(out.read_bytes(), name))
        source = read_file((tmp_path / name).read_bytes(), name.rsplit(".", 1)[1])
        assert [b.kind for b in parsed.blocks] == [b.kind for b in source.blocks]
        assert [b.text for b in parsed.blocks] == [reversed_words(b.text)
                                                   for b in source.blocks]
    assert main(["translate", "--checkpoint", checkpoint, "-i", str(tmp_path / "film.srt")]) \
        == 2
    assert "-o/--output" in capsys.readouterr().err


PO = b'''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

#: app.py:1
msgid "red blue cat"
msgstr ""

#: app.py:2
#, python-format
msgid "dog sun %(name)s moon"
msgstr ""

#: app.py:3
msgid "fish bird star"
msgstr "kept as it was"
'''


@pytest.mark.parametrize("retranslate, kept", [("false", True), ("true", False)])
def test_po_entries_with_a_translation_are_kept_unless_asked(client, retranslate, kept):
    import polib

    response = client.post("/api/v1/documents", data={
        "pair": PAIR, "beam_size": 1, "retranslate": retranslate,
        "file": (io.BytesIO(PO), "de.po")}, content_type="multipart/form-data")
    job = wait_api_job(client, response.get_json()["id"])
    assert job["status"] == "done" and job["format"] == "po"
    po = polib.pofile(client.get(job["links"]["result_file"]).data.decode())
    by_id = {e.msgid: e for e in po}
    assert by_id["red blue cat"].msgstr == "cat blue red"
    assert "fuzzy" in by_id["red blue cat"].flags
    assert "%(name)s" in by_id["dog sun %(name)s moon"].msgstr
    assert po.metadata["Language"] == PAIR.split("-")[1]
    assert (by_id["fish bird star"].msgstr == "kept as it was") is kept
    bad = client.post("/api/v1/documents", data={"pair": PAIR, "retranslate": "maybe",
                                                 "file": (io.BytesIO(PO), "de.po")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "retranslate" in bad.get_json()["error"]


def test_an_uploaded_page_is_never_rendered(client):
    """An HTML upload's scripts are never translated or shown; its text appears escaped on
    the job page, and the translated page only downloads, as an attachment with nosniff."""
    page = (b"<!DOCTYPE html><html><head><title>red cat</title></head><body>"
            b"<p><b>red blue</b> cat dog</p><p>sun &lt;img src=x onerror=alert(1)&gt;</p>"
            b"<script>alert('red cat')</script></body></html>")
    job = wait_api_job(client, upload(client, page, "page.html").get_json()["id"])
    assert job["status"] == "done" and job["format"] == "html"
    html = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "alert('red cat')" not in html
    download = client.get(job["links"]["result_file"])
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    out = download.data.decode()
    assert "<script>alert('red cat')</script>" in out  # kept, untranslated
    assert '<html lang="yy">' in out


def test_bold_and_linked_words_follow_their_translation_through_the_queue(client):
    """Inline markup inside a sentence is placed by the model's alignment: in the reverse
    task a bold word and a linked word keep their formatting on the word they become."""
    document = docx.Document()
    paragraph = document.add_paragraph("red ")
    paragraph.add_run("blue").bold = True
    paragraph.add_run(" cat dog")
    data = io.BytesIO()
    document.save(data)
    job = wait_api_job(client, upload(client, data.getvalue(), "bold.docx").get_json()["id"])
    out = docx.Document(io.BytesIO(client.get(job["links"]["result_file"]).data))
    runs = out.paragraphs[0].runs
    assert out.paragraphs[0].text == "dog cat blue red"
    assert [r.text for r in runs if r.bold] == ["blue"]
    page = (b'<html><body><p>sun <a href="https://example.org/x">moon tree</a> fish</p>'
            b'</body></html>')
    job = wait_api_job(client, upload(client, page, "links.html").get_json()["id"])
    root = lxml.html.fromstring(client.get(job["links"]["result_file"]).data)
    link = root.find(".//a")
    assert link.get("href") == "https://example.org/x" and link.text == "tree moon"
    assert " ".join(root.find(".//p").text_content().split()) == "fish tree moon sun"


def test_libretranslate_format_html_keeps_tags_on_their_words(client):
    answer = client.post("/translate", json={
        "q": ["sun <b>moon</b> tree star", 'red <a href="https://example.org/">cat dog</a>'],
        "source": PAIR.split("-")[0], "target": PAIR.split("-")[1], "format": "html"})
    assert answer.status_code == 200, answer.get_json()
    bold, link = (lxml.html.fragment_fromstring(html, create_parent="div")
                  for html in answer.get_json()["translatedText"])
    assert bold.find(".//b").text == "moon"
    assert " ".join(bold.text_content().split()) == "star tree moon sun"
    assert link.find(".//a").get("href") == "https://example.org/"
    assert link.find(".//a").text == "dog cat"
    assert " ".join(link.text_content().split()) == "dog cat red"
    job = client.post("/api/v1/translate", json={"text": "<p>red <i>cat</i></p>", "pair": PAIR,
                                                 "format": "html", "wait": 30}).get_json()
    assert job["format"] == "html" and job["status"] == "done"
    assert b"<i>cat</i>" in client.get(job["links"]["result_file"]).data
    bad = client.post("/translate", json={"q": "x", "source": "xx", "target": "yy",
                                          "format": "pdf"})
    assert bad.status_code == 400 and "format" in bad.get_json()["error"]


def test_libretranslate_frontend_settings_list_the_file_formats(client):
    body = client.get("/frontend/settings").get_json()
    assert body["filesTranslation"] is True and ".docx" in body["supportedFilesFormat"]
    assert body["language"]["source"]["code"] and body["charLimit"] > 0


def test_a_file_url_expires(queue_settings, workers):
    """The signed URL of /translate_file answers 404 once FILE_URL_SECONDS have passed. Two
    apps with the same key read the same URL: one whose URLs last an hour (the first download
    needs no race with the clock), and one whose URLs last 1 s, asked only once the URL is
    surely older than that."""
    import dataclasses
    import time

    from web import create_app

    def client_of(seconds: int):
        settings = dataclasses.replace(queue_settings, secret_key="s", file_url_seconds=seconds,
                                       rate_limit="")
        return create_app({"SETTINGS": settings, "TESTING": True}).test_client()

    client, quick = client_of(3600), client_of(1)
    source, target = PAIR.split("-")
    answer = client.post("/translate_file", data={
        "source": source, "target": target, "file": (io.BytesIO(make_srt()), "film.srt")},
        content_type="multipart/form-data")
    signed_by = int(time.time())  # the URL's timestamp (whole seconds) is at most this
    assert answer.status_code == 200, answer.get_json()
    path = answer.get_json()["translatedFileUrl"].split("localhost", 1)[1]
    assert client.get(path).status_code == 200
    while int(time.time()) < signed_by + 2:  # then its age is over 1 s
        time.sleep(0.05)
    assert quick.get(path).status_code == 404
    assert client.get(path).status_code == 200  # the same URL: its age alone made the 404
    missing = client.post("/translate_file", data={"source": source, "target": target},
                          content_type="multipart/form-data")
    assert missing.status_code == 400, missing.data[:300]
    assert "file" in missing.get_json()["error"]
