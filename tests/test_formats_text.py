"""The text document formats: plain text (txt.py, decoding.py's decoding), SRT and WebVTT subtitles
(srt.py, vtt.py, on pysubs2) and gettext PO files (po.py, on polib).

Fixtures are in tests/data/formats/text/: film.srt (a short film's subtitles: italics, two-line
and dialogue cues), lecture.vtt (a header with metadata, STYLE, NOTE, cue identifiers and
settings, voice tags, a character reference), messages.pot and de.po (as xgettext and msginit
write them; de.po then edited as a translator would: a translated entry, a fuzzy one, an
obsolete one) and letter_cp1252.txt (a German letter in Windows-1252). Variants (Windows line
endings, a BOM, UTF-16) are made from them here. Translations are fake: `shout` uppercases
every word but those holding a placeholder character (% { }), through translate_parsed.
"""

from __future__ import annotations

import codecs
import difflib
import random
import re
from pathlib import Path

import polib
import pysubs2
import pytest

import translator.formats as formats_pkg
from translator.formats import FormatError, detect, read_file, translate_parsed
from translator.formats import po as po_format
from translator.formats import srt as srt_format
from translator.formats import vtt as vtt_format
from translator.formats.decoding import decode_text

DATA = Path(__file__).parent / "data" / "formats" / "text"
TIMING = re.compile(r"^(\d+)\n(\S+ --> \S+)", re.M)  # an SRT cue's number and timing line


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def shout(sentences: list[str]) -> list[str]:
    """A fake translation: every word uppercased, but a token with % { } left as it is."""
    return [" ".join(word if set(word) & set("%{}") else word.upper() for word in s.split())
            for s in sentences]


def identity(parsed) -> bytes:
    return parsed.write([list(block.spans) for block in parsed.blocks], "de")


def translated(parsed, lang: str = "de") -> bytes:
    return parsed.write(translate_parsed(parsed, shout, "en"), lang)


# --- the modules ---------------------------------------------------------------------------------

def test_formats_are_declared_as_the_package_expects():
    assert (srt_format.FORMAT.name, srt_format.FORMAT.extensions,
            srt_format.FORMAT.media_type) == ("srt", (".srt",), "application/x-subrip")
    assert (vtt_format.FORMAT.name, vtt_format.FORMAT.extensions,
            vtt_format.FORMAT.media_type) == ("vtt", (".vtt",), "text/vtt; charset=utf-8")
    assert (po_format.FORMAT.name, po_format.FORMAT.extensions, po_format.FORMAT.media_type) \
        == ("po", (".po", ".pot"), "text/x-gettext-translation; charset=utf-8")
    for fmt in (srt_format.FORMAT, vtt_format.FORMAT, po_format.FORMAT):
        assert fmt.label and set(fmt.extensions) <= set(formats_pkg.EXTENSIONS)
    assert srt_format.FORMAT.sniff(fixture("film.srt"))
    assert vtt_format.FORMAT.sniff(fixture("lecture.vtt"))
    assert po_format.FORMAT.sniff(fixture("de.po"))
    assert not srt_format.FORMAT.sniff(fixture("lecture.vtt"))


# --- plain text and decoding ---------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "First line.\nSecond line.\n",
    "Windows line endings.\r\nSecond line.\r\n",
    "No final newline.\nLast line",
    "    Indented line.\n\tTabbed line.  \nTrailing spaces.   \n",
    "\n\nTwo blank lines above.\n\n\nThree below, then one with spaces.\n   \nEnd.\n",
    "Old Mac endings.\rSecond.\r",
], ids=["lf", "crlf", "no-final-newline", "indentation", "blank-lines", "cr"])
def test_txt_identity_is_byte_identical(text):
    data = text.encode("utf-8")
    parsed = read_file(data, "txt")
    assert identity(parsed) == data
    assert parsed.notes == []


def test_txt_translation_keeps_layout_and_line_endings():
    data = b"  Hello world.\r\n\r\nGood night.  \r\n"
    assert translated(read_file(data, "txt")) == b"  HELLO WORLD.\r\n\r\nGOOD NIGHT.  \r\n"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16-le"])
def test_txt_identity_with_a_bom_is_byte_identical(codec):
    text = "Grüße aus Köln.\nZweite Zeile.\n"
    data = codecs.BOM_UTF8 + text.encode("utf-8") if codec == "utf-8-sig" else \
        codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    parsed = read_file(data, "txt")
    assert [b.text for b in parsed.blocks] == ["Grüße aus Köln.", "Zweite Zeile."]
    assert identity(parsed) == data


def test_txt_utf16_be_is_written_back_as_utf16_with_its_bom():
    text = "Grüße aus Köln.\nZweite Zeile.\n"
    data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    out = identity(read_file(data, "txt"))
    assert out[:2] in (codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)
    assert out.decode("utf-16") == text


def test_txt_utf16_be_identity_is_byte_identical():
    data = codecs.BOM_UTF16_BE + "Zweite Zeile.\n".encode("utf-16-be")
    assert identity(read_file(data, "txt")) == data


def test_txt_cp1252_is_decoded_with_a_note_naming_the_encoding():
    data = fixture("letter_cp1252.txt")
    expected = data.decode("cp1252")
    parsed = read_file(data, "txt")
    assert parsed.decoded.guessed
    assert "".join(b.text for b in parsed.blocks) == "".join(expected.split("\n"))
    assert parsed.notes == [parsed.decoded.note]
    assert parsed.decoded.encoding in parsed.notes[0] and "UTF-8" in parsed.notes[0]
    assert identity(parsed) == expected.encode("utf-8")  # written back as UTF-8


def test_cp1252_text_with_french_letters_is_not_read_as_cp1250():
    text = fixture("letter_cp1252.txt").decode("cp1252") + \
        "Im Café gibt es Crêpes à la carte – „leider“ nur für 4,50 €.\n"
    assert decode_text(text.encode("cp1252")).text == text


def test_decode_text_utf8_bom_and_utf16():
    plain = decode_text("Straße\n".encode())
    assert (plain.text, plain.encoding, plain.guessed, plain.note) == \
        ("Straße\n", "utf-8", False, None)
    with_bom = decode_text(codecs.BOM_UTF8 + "Straße\n".encode())
    assert (with_bom.text, with_bom.bom) == ("Straße\n", codecs.BOM_UTF8)
    assert with_bom.encode("Straße\n") == codecs.BOM_UTF8 + "Straße\n".encode()
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        wide = decode_text(bom + "Straße\n".encode(codec))
        assert (wide.text, wide.guessed) == ("Straße\n", False)
        assert wide.output_encoding.startswith("utf-16")


def test_decode_text_guesses_cp1252_with_a_note():
    decoded = decode_text(fixture("letter_cp1252.txt"), "text file")
    assert decoded.guessed and decoded.text == fixture("letter_cp1252.txt").decode("cp1252")
    assert decoded.encoding in decoded.note and decoded.output_encoding == "utf-8"


def test_decode_text_refuses_a_bad_bom():
    with pytest.raises(FormatError, match="byte-order mark but is not valid"):
        decode_text(codecs.BOM_UTF8 + b"caf\xe9 \xff\xfe", "text file")


@pytest.mark.parametrize("data", [
    bytes(random.Random(7).randrange(256) for _ in range(4096)) + b"\x00" * 64,
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    + bytes(random.Random(8).randrange(256) for _ in range(2048)),
], ids=["random-with-nuls", "png"])
def test_binary_files_are_refused(data):
    with pytest.raises(FormatError):
        decode_text(data, "text file")
    with pytest.raises(FormatError):
        read_file(data, "txt")


# --- SRT -----------------------------------------------------------------------------------------

def srt_variants() -> dict[str, tuple[bytes, str]]:
    """The film as uploaded from different tools: (bytes, the encoding pysubs2 loads it in)."""
    film = fixture("film.srt")
    return {
        "lf": (film, "utf-8"),
        "crlf": (film.replace(b"\n", b"\r\n"), "utf-8"),
        "bom": (codecs.BOM_UTF8 + film, "utf-8-sig"),
        "utf16": (codecs.BOM_UTF16_LE + film.decode().encode("utf-16-le"), "utf-16"),
    }


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom", "utf16"])
def test_srt_identity_is_pysubs2_reserialisation(variant, tmp_path):
    data, encoding = srt_variants()[variant]
    path = tmp_path / "film.srt"
    path.write_bytes(data)
    expected = pysubs2.load(str(path), encoding=encoding, format_="srt",
                            keep_unknown_html_tags=True).to_string("srt")
    parsed = read_file(data, "srt")
    assert len(parsed.blocks) == 8 and {b.kind for b in parsed.blocks} == {"subtitle"}
    assert identity(parsed) == expected.encode(encoding)


def test_srt_blocks_are_the_texts_between_tags():
    parsed = read_file(fixture("film.srt"), "srt")
    assert parsed.blocks[0].spans == ["", "Previously on The Lighthouse...", ""]
    assert parsed.blocks[1].spans == ["I told you not to come back here, not after what happened."]
    assert parsed.blocks[3].spans == ["", "The storm had been raging", " ",
                                      "for three days and nights.", ""]
    assert parsed.blocks[4].spans == ["He said he'd be back by ", "noon", "."]


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom"])
def test_srt_translation_keeps_every_number_and_timing(variant):
    data, encoding = srt_variants()[variant]
    out = translated(read_file(data, "srt")).decode(encoding)
    source = srt_format.normalize_newlines(data.decode(encoding))
    assert TIMING.findall(out) == TIMING.findall(source)
    before = pysubs2.SSAFile.from_string(source, format_="srt")
    after = pysubs2.SSAFile.from_string(out, format_="srt")
    assert [(e.start, e.end) for e in after] == [(e.start, e.end) for e in before]
    assert "PREVIOUSLY ON THE LIGHTHOUSE..." in out and "Lighthouse" not in out


def cue_texts(out: str) -> list[str]:
    """The text of every cue of an SRT or VTT text, as written."""
    return [block.split("\n", 2)[2] for block in out.strip().split("\n\n")
            if TIMING.match(block)]


def test_srt_italics_are_kept():
    texts = cue_texts(translated(read_file(fixture("film.srt"), "srt")).decode())
    assert texts[0] == "<i>PREVIOUSLY ON THE LIGHTHOUSE...</i>"
    for index in (3, 7):  # italic on both lines: one italic run around both lines now
        assert texts[index].startswith("<i>") and texts[index].endswith("</i>")
        assert texts[index].count("<i>") == 1
    assert "<i>" not in texts[4]  # one italic word of a sentence: the inline rule drops it


def test_srt_two_line_subtitles_stay_two_lines():
    source = cue_texts(fixture("film.srt").decode())
    texts = cue_texts(translated(read_file(fixture("film.srt"), "srt")).decode())
    assert [len(t.split("\n")) for t in texts] == [len(t.split("\n")) for t in source]
    assert texts[1] == "I TOLD YOU NOT TO COME BACK\nHERE, NOT AFTER WHAT HAPPENED."
    assert texts[5] == "THEN WE WAIT. THE BOAT WON'T\nMAKE IT IN THIS WEATHER."


def test_srt_dialogue_is_broken_before_each_dash():
    texts = cue_texts(translated(read_file(fixture("film.srt"), "srt")).decode())
    assert texts[2] == "- WHERE'S THOMAS?\n- HE LEFT BEFORE DAWN."


def test_srt_bold_and_font_tags_are_kept():
    data = (b"1\n00:00:01,000 --> 00:00:02,000\n<b>Stop!</b>\n\n"
            b"2\n00:00:03,000 --> 00:00:04,000\n<font color=\"#ffff00\">Who's there?</font>\n")
    parsed = read_file(data, "srt")
    assert [b.spans for b in parsed.blocks] == [["", "Stop!", ""], ["", "Who's there?", ""]]
    assert "<b>" not in pysubs2.SSAFile.from_string(data.decode()).to_string("srt")
    assert cue_texts(identity(parsed).decode()) == ["<b>Stop!</b>",
                                                    "<font color=\"#ffff00\">Who's there?</font>"]
    assert cue_texts(translated(parsed).decode()) == [
        "<b>STOP!</b>", "<font color=\"#ffff00\">WHO'S THERE?</font>"]


def test_srt_a_last_line_of_digits_is_text_not_a_cue_number():
    data = b"1\n00:00:01,000 --> 00:00:02,000\nThe code is\n1234\n"
    parsed = read_file(data, "srt")
    assert parsed.blocks[0].text == "The code is 1234"
    assert cue_texts(identity(parsed).decode()) == ["The code is\n1234"]


def test_srt_numbering_other_than_one_two_three_is_noted():
    data = b"10\n00:00:01,000 --> 00:00:02,000\nOne.\n\n11\n00:00:03,000 --> 00:00:04,000\nTwo.\n"
    parsed = read_file(data, "srt")
    assert any("numbered" in note for note in parsed.notes)
    assert [n for n, _ in TIMING.findall(identity(parsed).decode())] == ["1", "2"]


def test_srt_unchanged_spans_keep_the_original_line_breaks():
    parsed = read_file(fixture("film.srt"), "srt")
    spans = [list(b.spans) for b in parsed.blocks]
    spans[0] = ["", "Previously...", ""]
    texts = cue_texts(parsed.write(spans, "de").decode())
    assert texts[0] == "<i>Previously...</i>"
    assert texts[1] == "I told you not to come back here,\nnot after what happened."


@pytest.mark.parametrize(("spans", "lines", "expected"), [
    (["one two three four"], 2, ["one two\\Nthree four"]),
    (["a bb ccc dddd eeeee ffffff"], 3, ["a bb ccc\\Ndddd eeeee\\Nffffff"]),
    (["single"], 2, ["single"]),
    (["two words"], 3, ["two\\Nwords"]),
    (["one two ", " three four"], 2, ["one two\\N", "three four"]),  # a run across spans
    (["one two three"], 1, ["one two three"]),
])
def test_rebreak_puts_breaks_at_the_word_boundaries_nearest_equal_lengths(spans, lines,
                                                                          expected):
    assert srt_format.rebreak(spans, lines) == expected


def test_rebreak_dialogue_prefers_dashes():
    assert srt_format.rebreak(["- Yes, of course I will come. - No."], 2, dialogue=True) == \
        ["- Yes, of course I will come.\\N- No."]
    assert srt_format.rebreak(["- Yes, of course I will come. No."], 2, dialogue=True) == \
        ["- Yes, of course\\NI will come. No."]


# --- WebVTT --------------------------------------------------------------------------------------

PLAIN_VTT = (b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello <i>there</i>,\nmy friend.\n\n"
             b"00:00:03.500 --> 00:00:05.000\n- Ready?\n- Always.\n")


def test_vtt_plain_identity_is_pysubs2_reserialisation():
    expected = pysubs2.SSAFile.from_string(PLAIN_VTT.decode(), format_="vtt",
                                           keep_unknown_html_tags=True).to_string("vtt")
    assert identity(read_file(PLAIN_VTT, "vtt")) == expected.encode()


def test_vtt_identity_keeps_header_style_notes_identifiers_and_settings():
    source = fixture("lecture.vtt").decode()
    parsed = read_file(fixture("lecture.vtt"), "vtt")
    out = identity(parsed).decode()
    assert out.startswith("WEBVTT - Introduction to Tide Pools\nKind: captions\nLanguage: de\n\n"
                          "STYLE\n::cue(v[voice=\"Narrator\"]) { color: #ffd700; }\n\n")
    for kept in ("NOTE\nCaptions reviewed by the accessibility team, March 2024.\n\n",
                 "intro-1\n00:00:00.500 --> 00:00:03.200 align:center line:90%\n",
                 "intro-2\n00:00:03.600 --> 00:00:07.150 align:center line:90%\n",
                 "and reveals a hidden world.\n\nNOTE The next cue sits at the top so that it "
                 "does not cover the map.\n\n3\n00:00:07.500 --> 00:00:10.000 position:10% "
                 "line:0 align:start\n<i>Pacific Ocean, 47°N</i>\n\n",
                 "<v Dr. Rivera>If you look closely", "anemones &amp; crabs"):
        assert kept in out
    without_notes = "\n\n".join(p for p in source.split("\n\n") if not p.startswith("NOTE"))
    events = pysubs2.SSAFile.from_string(without_notes, format_="vtt",
                                         keep_unknown_html_tags=True)
    again = pysubs2.SSAFile.from_string(out, format_="vtt", keep_unknown_html_tags=True)
    assert [(e.start, e.end) for e in again] == [(e.start, e.end) for e in events]


def test_vtt_blocks_and_character_references():
    parsed = read_file(fixture("lecture.vtt"), "vtt")
    assert [b.text for b in parsed.blocks] == [
        "Welcome to the tide pools of the northern coast.",
        "Twice a day, the ocean pulls back and reveals a hidden world.",
        "Pacific Ocean, 47°N",
        "Sea stars, anemones & crabs all depend on the rhythm of the tides.",
        "If you look closely, you'll see them move."]
    assert parsed.notes == []


def test_vtt_translation_keeps_timings_settings_voices_and_lines():
    out = translated(read_file(fixture("lecture.vtt"), "vtt")).decode()
    assert "intro-2\n00:00:03.600 --> 00:00:07.150 align:center line:90%\n<v Narrator>TWICE A " \
           "DAY, THE OCEAN PULLS\nBACK AND REVEALS A HIDDEN WORLD.\n\n" in out
    assert "<i>PACIFIC OCEAN, 47°N</i>" in out
    assert "SEA STARS, ANEMONES &amp; CRABS ALL\nDEPEND ON THE RHYTHM OF THE TIDES." in out
    assert "<v Dr. Rivera>IF YOU LOOK CLOSELY, YOU'LL SEE THEM MOVE." in out
    assert "Captions reviewed by the accessibility team" in out  # notes are not translated
    source = fixture("lecture.vtt").decode()
    timing = re.compile(r"^\S+ --> .*$", re.M)
    assert timing.findall(out) == timing.findall(source.replace("\n01:05", "\n00:01:05"))


def test_vtt_plain_translation_has_pysubs2_layout():
    out = translated(read_file(PLAIN_VTT, "vtt")).decode()
    assert out == ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nHELLO THERE,\nMY FRIEND.\n\n"
                   "2\n00:00:03.500 --> 00:00:05.000\n- READY?\n- ALWAYS.\n\n")


def test_vtt_text_outside_cues_is_kept_and_noted():
    data = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\nstray words\n"
    parsed = read_file(data, "vtt")
    assert [b.text for b in parsed.blocks] == ["Hi."]
    assert any("outside any cue" in note for note in parsed.notes)
    assert identity(parsed).decode().endswith("Hi.\n\nstray words\n\n")


def test_vtt_with_a_bom_and_windows_line_endings():
    data = codecs.BOM_UTF8 + fixture("lecture.vtt").replace(b"\n", b"\r\n")
    parsed = read_file(data, "vtt")
    assert len(parsed.blocks) == 5
    out = identity(parsed)
    assert out.startswith(codecs.BOM_UTF8 + b"WEBVTT - Introduction")
    assert out[3:] == identity(read_file(fixture("lecture.vtt"), "vtt"))


@pytest.mark.parametrize(("data", "message"), [
    (b"00:00:01.000 --> 00:00:02.000\nHi.\n", "first line must be WEBVTT"),
    (b"WEBVTT\n\nintro\n00:00:01.000 -> 00:00:02.000\nHi.\n", "cue 'intro'"),
    (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n00:00:03,000 --> 00:00:04,000\nYo.\n",
     "cue 2 \\(line 6"),
    (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n00:00:03.000 --> 00:00:04.000\nYo.\n",
     "separated by a blank line"),
    (b"WEBVTT\n00:00:01.000 --> 00:00:02.000\nHi.\n", "followed by a blank line"),
    (b"WEBVTT\n\nNOTE nothing else\n", "no cues"),
])
def test_vtt_bad_files_are_format_errors(data, message):
    with pytest.raises(FormatError, match=message):
        read_file(data, "vtt")


# --- PO ------------------------------------------------------------------------------------------

def entries(data: bytes) -> dict[tuple[str | None, str], polib.POEntry]:
    return {(e.msgctxt, e.msgid): e for e in polib.pofile(data.decode())}


def test_po_fixtures_are_what_polib_writes():
    """So that the changes checked below are ours, not polib's re-serialisation."""
    for name in ("de.po", "messages.pot"):
        text = fixture(name).decode()
        assert str(polib.pofile(text)) == text


def test_po_blocks_are_the_untranslated_entries():
    parsed = read_file(fixture("de.po"), "po")
    assert [(b.kind, b.text) for b in parsed.blocks] == [
        ("entry", "Welcome back, {name}!"),
        ("entry", "Open"),
        ("entry", "Open"),
        ("entry", "%(count)d of %(total)d files copied"),
        ("plural", "%d file was deleted."),
        ("plural", "%d files were deleted."),
        ("entry", "Usage: app [OPTIONS] FILE\n"),
        ("entry", "The file could not be saved because the disk is full. Free some space and "
                  "try again, or save it somewhere else."),
    ]
    assert parsed.notes == []


def test_po_identity_changes_exactly_the_msgstrs_and_flags():
    source = fixture("de.po")
    out = identity(read_file(source, "po"))
    before, after = entries(source), entries(out)
    assert before.keys() == after.keys()
    kept = {(None, "Cancel"), (None, "Save changes before closing?"),
            (None, "Could not read %s: permission denied."), (None, "Quit")}  # Quit: obsolete
    for key, old in before.items():
        new = after[key]
        for attr in ("msgctxt", "msgid_plural", "comment", "tcomment", "occurrences",
                     "previous_msgid", "obsolete"):
            assert getattr(new, attr) == getattr(old, attr), (key, attr)
        if key in kept:
            assert (new.msgstr, new.flags) == (old.msgstr, old.flags)
        elif old.msgid_plural:
            assert new.msgstr_plural == {0: old.msgid, 1: old.msgid_plural}
            assert new.flags == ["fuzzy"] + old.flags
        else:
            assert new.msgstr == old.msgid and new.flags == ["fuzzy"] + old.flags
    assert polib.pofile(out.decode()).obsolete_entries()[0].msgstr == "Beenden"
    diff = list(difflib.ndiff(source.decode().splitlines(), out.decode().splitlines()))
    removed = {line[2:] for line in diff if line.startswith("- ")}
    added = [line[2:] for line in diff if line.startswith("+ ")]
    assert removed == {'#, python-brace-format', '#, python-format', 'msgstr ""',
                       'msgstr[0] ""', 'msgstr[1] ""'}
    assert all(line.startswith(("#, fuzzy", "msgstr", '"')) for line in added)
    assert added.count("#, fuzzy") == 4 and added.count("#, fuzzy, python-format") == 2


def test_po_translation_fills_only_untranslated_entries_and_marks_them_fuzzy():
    out = translated(read_file(fixture("de.po"), "po"))
    po = polib.pofile(out.decode())
    found = {(e.msgctxt, e.msgid): e for e in po}
    assert found[("menu", "Open")].msgstr == "OPEN" and found[("verb", "Open")].msgstr == "OPEN"
    assert found[(None, "Cancel")].msgstr == "Abbrechen"
    assert "fuzzy" not in found[(None, "Cancel")].flags
    assert found[(None, "Save changes before closing?")].msgstr == \
        "Änderungen vor dem Schließen speichern?"
    fuzzy_before = found[(None, "Could not read %s: permission denied.")]
    assert fuzzy_before.msgstr == "%s konnte nicht gelesen werden."
    assert fuzzy_before.previous_msgid == "Could not read %s."
    assert found[(None, "Usage: app [OPTIONS] FILE\n")].msgstr == "USAGE: APP [OPTIONS] FILE\n"
    assert found[(None, "Welcome back, {name}!")].tcomment == "" and \
        found[(None, "Welcome back, {name}!")].comment.startswith("Translators:")
    assert all("fuzzy" in e.flags for e in po if e.msgstr == e.msgstr.upper() and e.msgstr
               and not e.obsolete)
    assert po.metadata["Language"] == "de"
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"
    assert po.metadata["Last-Translator"] == "Jana Schmidt <jana@example.org>"


def test_po_placeholders_survive_translation():
    found = entries(translated(read_file(fixture("de.po"), "po")))
    assert found[(None, "Welcome back, {name}!")].msgstr == "WELCOME BACK, {name}!"
    assert found[(None, "%(count)d of %(total)d files copied")].msgstr == \
        "%(count)d OF %(total)d FILES COPIED"
    plural = found[(None, "%d file was deleted.")]
    assert plural.msgstr_plural == {0: "%d FILE WAS DELETED.", 1: "%d FILES WERE DELETED."}
    assert plural.flags == ["fuzzy", "python-format"]


@pytest.mark.parametrize("placeholder", ["%s", "%d", "%(name)s", "%1$s", "{name}", "{0}",
                                         "{{x}}", "%.2f"])
def test_po_placeholders_are_kept_verbatim(placeholder):
    msgid = f"Value {placeholder} was saved"
    data = f'msgid ""\nmsgstr ""\n\n#, python-format\nmsgid "{msgid}"\nmsgstr ""\n'.encode()
    parsed = read_file(data, "po")
    assert parsed.blocks[0].spans == [msgid]
    assert entries(identity(parsed))[(None, msgid)].msgstr == msgid
    assert entries(translated(parsed))[(None, msgid)].msgstr == \
        f"VALUE {placeholder} WAS SAVED"


def test_po_overwrite_translates_every_entry_again():
    parsed = po_format.read(fixture("de.po"), None, overwrite=True)
    assert len(parsed.blocks) == 11
    found = entries(translated(parsed))
    assert found[(None, "Cancel")].msgstr == "CANCEL"
    assert found[(None, "Could not read %s: permission denied.")].msgstr == \
        "COULD NOT READ %s: PERMISSION DENIED."
    assert found[(None, "Cancel")].flags == ["fuzzy"]
    assert polib.pofile(translated(parsed).decode()).obsolete_entries()[0].msgstr == "Beenden"


def test_pot_gets_language_and_utf8_and_notes_the_missing_plural_forms():
    parsed = read_file(fixture("messages.pot"), "po")
    assert len(parsed.blocks) == 11
    assert any("Plural-Forms" in note for note in parsed.notes)
    out = translated(parsed, "fr")
    po = polib.pofile(out.decode())
    assert po.metadata["Language"] == "fr"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"
    assert po.metadata["Plural-Forms"] == "nplurals=INTEGER; plural=EXPRESSION;"
    assert '"Language: fr\\n"' in out.decode()
    assert po.find("%d file was deleted.").msgstr_plural == {
        0: "%d FILE WAS DELETED.", 1: "%d FILES WERE DELETED."}


def po_with_plural(header: str, forms: str) -> bytes:
    return (f'msgid ""\nmsgstr ""\n"Language: xx\\n"\n{header}\n'
            f'#, python-format\nmsgid "%d apple"\nmsgid_plural "%d apples"\n{forms}').encode()


def test_po_three_plural_forms_are_filled_from_msgid_plural():
    data = po_with_plural('"Plural-Forms: nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 '
                          '&& (n%100<10 || n%100>=20) ? 1 : 2);\\n"\n',
                          'msgstr[0] ""\nmsgstr[1] ""\nmsgstr[2] ""\n')
    parsed = read_file(data, "po")
    assert [b.text for b in parsed.blocks] == ["%d apple", "%d apples"]
    found = entries(translated(parsed, "pl"))
    assert found[(None, "%d apple")].msgstr_plural == {0: "%d APPLE", 1: "%d APPLES",
                                                       2: "%d APPLES"}


def test_po_only_empty_plural_forms_are_filled():
    data = po_with_plural('"Plural-Forms: nplurals=3; plural=(n%10==1 ? 0 : 1);\\n"\n',
                          'msgstr[0] "%d jabłko"\nmsgstr[1] "%d jabłka"\nmsgstr[2] ""\n')
    parsed = read_file(data, "po")
    assert [b.text for b in parsed.blocks] == ["%d apples"]
    assert entries(translated(parsed, "pl"))[(None, "%d apple")].msgstr_plural == {
        0: "%d jabłko", 1: "%d jabłka", 2: "%d APPLES"}


def test_po_one_plural_form_takes_the_plural_msgid():
    data = po_with_plural('"Plural-Forms: nplurals=1; plural=0;\\n"\n', 'msgstr[0] ""\n')
    parsed = read_file(data, "po")
    assert [b.text for b in parsed.blocks] == ["%d apples"]
    assert entries(translated(parsed, "ja"))[(None, "%d apple")].msgstr_plural == {
        0: "%d APPLES"}


def test_po_without_plural_forms_gets_two_and_a_note():
    data = po_with_plural("", 'msgstr[0] ""\nmsgstr[1] ""\n')
    parsed = read_file(data, "po")
    assert any("no Plural-Forms" in note for note in parsed.notes)
    out = translated(parsed)
    assert "Plural-Forms" not in out.decode()
    assert entries(out)[(None, "%d apple")].msgstr_plural == {0: "%d APPLE", 1: "%d APPLES"}


def test_po_with_windows_line_endings_and_cp1252_is_read():
    text = fixture("de.po").decode().replace("charset=UTF-8", "charset=CP1252")
    parsed = read_file(text.replace("\n", "\r\n").encode("cp1252"), "po")
    assert len(parsed.blocks) == 8
    out = identity(parsed).decode("utf-8")
    assert "Änderungen vor dem Schließen speichern?" in out and "charset=UTF-8" in out


def test_po_all_translated_is_a_format_error_unless_overwritten():
    data = b'msgid ""\nmsgstr ""\n"Language: de\\n"\n\nmsgid "Cancel"\nmsgstr "Abbrechen"\n'
    with pytest.raises(FormatError, match="already translated"):
        read_file(data, "po")
    assert [b.text for b in po_format.read(data, None, overwrite=True).blocks] == ["Cancel"]


@pytest.mark.parametrize(("data", "message"), [
    (b'msgid ""\nmsgstr ""\n"Content-Type text/plain\\n"\n\nmsgid "Hi"\nmsgstr ""\n',
     "header has a line that is not 'Name: value' \\(line 3\\)"),
    (b'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=many; plural=n;\\n"\n\n'
     b'msgid "Hi"\nmsgstr ""\n', "Plural-Forms"),
    (b'msgid ""\nmsgstr ""\n\nmsgid "Hello\nmsgstr ""\n', "unterminated .* line 4"),
    (b'msgid ""\nmsgstr ""\n\nmsgid "Hello"\nmsgstr "Hallo\n', "unterminated .* line 5"),
    (b'msgid ""\nmsgstr ""\n\nthis is not a PO line\nmsgid "Hello"\nmsgstr ""\n',
     "syntax error at line 4"),
    (b'msgid "He"llo"\nmsgstr ""\n', "malformed string at line 1"),
])
def test_po_bad_files_are_format_errors(data, message):
    with pytest.raises(FormatError, match=message):
        read_file(data, "po")


# --- detection -----------------------------------------------------------------------------------

def test_detect_an_srt_that_is_not_srt():
    with pytest.raises(FormatError, match=r"named \.srt but holds plain text"):
        detect(b"Just some notes about the film.\nNothing else.\n", "notes.srt")
    with pytest.raises(FormatError, match=r"named \.srt but holds WebVTT"):
        detect(fixture("lecture.vtt"), "lecture.srt")


def test_detect_by_content_and_name():
    assert detect(fixture("de.po")).name == "po"  # no name: the content decides
    assert detect(fixture("messages.pot"), "messages.pot").name == "po"
    assert detect(fixture("film.srt"), "film.srt").name == "srt"
    assert detect(fixture("film.srt")).name == "srt"
    assert detect(fixture("lecture.vtt"), "lecture.vtt").name == "vtt"
    data, _ = srt_variants()["utf16"]
    assert detect(data, "film.srt").name == "srt"
    assert detect(srt_variants()["crlf"][0], "film.srt").name == "srt"
    assert detect(srt_variants()["bom"][0], "film.srt").name == "srt"


# --- bad input through read_file -----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "po"])
def test_an_empty_file_is_a_format_error(fmt):
    with pytest.raises(FormatError, match="empty"):
        read_file(b"", fmt)


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "po"])
def test_a_file_of_blank_lines_has_no_text(fmt):
    with pytest.raises(FormatError):
        read_file(b"\n \n\n", fmt)


def test_srt_broken_timestamp_names_the_cue():
    text = fixture("film.srt").decode().replace("00:00:08,600 --> 00:00:10,900",
                                                "00:00:08,600 --> 00:0010,900")
    with pytest.raises(FormatError, match=r"broken timing line in cue 3 \(line 11: "
                                          r"'00:00:08,600 --> 00:0010,900'\)"):
        read_file(text.encode(), "srt")


@pytest.mark.parametrize(("text", "message"), [
    ("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:00:03.000 - 00:00:04,000\nYo.\n",
     "cue 2 \\(line 6"),
    ("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\nYo.\n", "cue 2 \\(line 5\\) has no timing"),
    ("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n00:00:03,000 --> 00:00:04\nYo.\n", "a cue"),
    ("Just text.\nNo subtitles here.\n", "no subtitles"),
])
def test_srt_bad_timings_are_format_errors(text, message):
    with pytest.raises(FormatError, match=message):
        read_file(text.encode(), "srt")
