"""translator/formats: the registry, detection from content and name, the inline rule, the
safe zip and XML readers, and the table of formats in docs/formats.md."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from helpers import zip_bytes

from translator.formats import (
    EXTENSIONS,
    FormatError,
    Limits,
    block_sentences,
    detect,
    formats,
    place,
    read_file,
    runs_alike,
    translate_parsed,
)
from translator.formats.base import Block, open_zip, parse_xml
from translator.formats.inline import distribute, owners

FORMATS_DOC = Path(__file__).resolve().parent.parent / "docs" / "formats.md"


def test_every_format_is_registered_and_in_the_docs_table():
    names = [f.name for f in formats().values()]
    assert names == ["txt", "md", "html", "docx", "odt", "pptx", "srt", "vtt", "xliff", "po"]
    assert sorted(EXTENSIONS) == sorted(e for f in formats().values() for e in f.extensions)
    text = FORMATS_DOC.read_text()
    table = text.split("<!-- formats-table -->")[1].split("<!-- /formats-table")[0]
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines()[3:]}
    assert list(rows) == names
    for fmt in formats().values():
        assert all(f"`{ext}`" in rows[fmt.name] for ext in fmt.extensions), fmt.name


# ------------------------------------------------------------------------- the inline rule
def test_a_sentence_goes_to_the_span_holding_most_of_it():
    spans = ["A ", "bold", " dog runs home."]
    assert owners(spans, ["A bold dog runs home."]) == [2]
    assert distribute(spans, ["A bold dog runs home."], ["Ein Hund läuft."]) == \
        ["", "", " Ein Hund läuft."]


def test_formatting_on_whole_sentences_stays_on_their_translations():
    spans = ["Bold first sentence.", " Plain second one here."]
    sentences = ["Bold first sentence.", "Plain second one here."]
    assert distribute(spans, sentences, ["Erster.", "Zweiter."]) == ["Erster.", " Zweiter."]


def test_sentences_of_two_spans_never_run_together():
    spans = ["First one. Sec", "ond one is much longer."]
    out = distribute(spans, ["First one.", "Second one is much longer."], ["A.", "B."])
    assert "".join(out) == "A. B."


def test_empty_translations_keep_the_source_and_whitespace_spans_stay():
    assert distribute(["Hello ", "world."], ["Hello world."], [""]) == ["Hello ", "world."]
    assert distribute(["Hi.", "  ", "Bye."], ["Hi.", "Bye."], ["Ja.", "Nein."]) == \
        ["Ja.", "  ", "Nein."]
    with pytest.raises(ValueError):
        distribute(["a"], ["a"], [])


def test_translate_parsed_places_every_block_and_checks_counts():
    parsed = read_file(b"A red house. A blue garden.\n\nThe sun.\n", "txt")
    assert [block_sentences(b, "en") for b in parsed.blocks] == [
        ["A red house.", "A blue garden."], ["The sun."]]
    spans = translate_parsed(parsed, lambda ss: [s.upper() for s in ss], "en")
    assert parsed.write(spans, "de") == b"A RED HOUSE. A BLUE GARDEN.\n\nTHE SUN.\n"
    with pytest.raises(ValueError):
        place(parsed, [["red cat."]], ["x"])


# ------------------------------------------------------------------------- detection
@pytest.mark.parametrize("data, name, expected", [
    (b"plain words\n", None, "txt"),
    (b"<!DOCTYPE html><html><body><p>x</p></body></html>", None, "html"),
    (b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", None, "vtt"),
    (b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", None, "srt"),
    (b'msgid ""\nmsgstr ""\n', None, "po"),
    (b'<?xml version="1.0"?><xliff version="1.2"/>', None, "xliff"),
    (b"# Title\n\ntext\n", "notes.md", "md"),
    (b"<p>looks like markup</p>", "notes.txt", "txt"),  # a text name takes any text
    ("1\n00:00:01,000 --> 00:00:02,000\nhi\n".encode("utf-16"), "a.srt", "srt"),
])
def test_the_format_comes_from_the_content_and_the_name(data, name, expected):
    assert detect(data, name).name == expected


@pytest.mark.parametrize("data, name, message", [
    (b"%PDF-1.5", "a.docx", "PDF"),
    (zip_bytes({"xl/workbook.xml": b"<w/>"}), "a.docx", "Excel"),
    (zip_bytes({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}), "a.odt",
     "spreadsheet"),
    (zip_bytes({"word/document.xml": b"<w/>"}), "a.txt", "rename it to .docx"),
    (b"plain words", "a.html", "named .html but holds plain text"),
    (b"plain", "a.pdf", ".pdf files are not supported"),
    (b'<?xml version="1.0"?><svg/>', None, "XML but not XLIFF"),
])
def test_what_no_format_reads_is_named(data, name, message):
    with pytest.raises(FormatError, match=message):
        detect(data, name)


# ------------------------------------------------------------------------- hostile input
def test_zips_are_checked_from_their_directory_before_reading():
    limits = Limits(max_unzipped_bytes=5_000_000, max_zip_ratio=100)
    with pytest.raises(FormatError, match="zip bomb"):
        open_zip(zip_bytes({"a.xml": bytes(3_000_000)}), limits, "docx")
    with pytest.raises(FormatError, match="expands to"):
        open_zip(zip_bytes({f"{i}.xml": bytes(900_000) for i in range(7)},
                        zipfile.ZIP_STORED), limits, "docx")
    with pytest.raises(FormatError, match="corrupt or truncated"):
        open_zip(zip_bytes({"a.xml": b"x" * 1000})[:-30], limits, "docx")
    assert open_zip(zip_bytes({"a.xml": b"<a/>"}), limits, "docx").namelist() == ["a.xml"]


def test_xml_entities_are_refused_and_never_expanded():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>')
    with pytest.raises(FormatError, match="entities"):
        parse_xml(laughs, "XLIFF")
    external = b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x>y</x>'
    assert parse_xml(external, "XLIFF").text == "y"  # the DTD is neither loaded nor applied
    with pytest.raises(FormatError, match="not well-formed"):
        parse_xml(b"<x><y></x>", "XLIFF")


def test_a_file_without_text_says_so():
    with pytest.raises(FormatError, match="empty"):
        read_file(b"", "txt")
    with pytest.raises(FormatError, match="no text to translate"):
        read_file(b"   \n\n", "txt")
    assert Block(["a", "b"]).text == "ab"


# ------------------------------------------------------------------------- found in review
@pytest.mark.parametrize("data", [b"<p>a&#1;b text</p>", b"<p>a\x08b</p>",
                                  "<p>a\uffffb</p>".encode(), b"<p><img alt='a\x01b'>x</p>"])
def test_html_control_characters_are_removed_with_a_note_and_the_page_writes(data):
    parsed = read_file(data, detect(data, "x.html"))
    out = parsed.write([list(b.spans) for b in parsed.blocks], "de")
    assert b"ab" in out and "control character" in parsed.notes[-1]


def test_html_nested_past_the_parsers_depth_is_refused_not_cut():
    deep = b"<body><p>before</p>" + b"<div>" * 300 + b"deep" + b"</div>" * 300 + \
        b"<p>after</p></body>"
    with pytest.raises(FormatError, match="255 deep"):
        read_file(deep, "html")


def test_a_huge_mimetype_member_is_not_read_while_sniffing():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("mimetype", "w", force_zip64=True) as member:
            for _ in range(50):
                member.write(bytes(1 << 20))
        archive.writestr("word/document.xml", "<x/>")
    assert detect(out.getvalue(), "x.docx").name == "docx"  # then open_zip refuses the bomb
    with pytest.raises(FormatError, match="zip bomb"):
        read_file(out.getvalue(), "docx")


def test_a_lone_surrogate_in_pasted_text_is_an_input_error():
    from worker.errors import InputError
    from worker.intake import check_size

    with pytest.raises(InputError, match="surrogate"):
        check_size("\ud800<b>x</b>", 10**6)


def test_entities_are_refused_in_utf16_xml_too():
    data = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "aaa">]>'
            '<x>Hi &a;</x>').encode("utf-16")
    with pytest.raises(FormatError, match="entities"):
        parse_xml(data, "XLIFF")


def test_runs_of_equal_formatting_are_placed_as_one():
    """Word splits a paragraph into runs of equal properties at random places ("Ein gro" +
    "ßer Hund"): they are merged before placement, so no word is cut or moved between them."""
    class Parsed:
        blocks = [Block(["Ein gro", "ßer Hund rennt.", " Er ", "bellt", " laut."], "paragraph",
                        ["", "", "", "b", ""])]

    sentences = [["Ein großer Hund rennt.", "Er bellt laut."]]
    out = place(Parsed(), sentences, ["A big dog runs.", "It barks loudly."],
                [[0, 1, 2, 3], [0, 1, 2]])
    assert out == [["A big dog runs. It ", "", "", "barks", " loudly."]]
    assert [g for g in runs_alike(Parsed.blocks[0])] == [[0, 1, 2], [3], [4]]
