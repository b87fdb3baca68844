"""Document translation: sentence splitting, layout preservation, chunking, the real model."""

from __future__ import annotations

import json
import logging

import pytest

from translator.inference.document import (
    MAX_WORDS,
    Document,
    count_paragraphs,
    normalize_newlines,
    segment_document,
    translate_document,
    translate_segments,
)


def identity(doc: Document) -> str:
    return doc.assemble(doc.sentences)


def blank_line_positions(text: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if not line.strip()]


@pytest.mark.parametrize("lang, text, expected", [
    ("de", "Dr. Müller kam um 10 Uhr. Er war müde.",
     ["Dr. Müller kam um 10 Uhr.", "Er war müde."]),
    ("de", "Es gibt z. B. Hunde und Katzen. Sie sind nett.",
     ["Es gibt z. B. Hunde und Katzen.", "Sie sind nett."]),
    ("de", "Am 3. Oktober war Feiertag. Das kostet ca. 5 Euro.",
     ["Am 3. Oktober war Feiertag.", "Das kostet ca. 5 Euro."]),
    ("en", "Mr. Smith met Dr. Jones at 3 p.m. Then they left. Was it fun? Yes!",
     ["Mr. Smith met Dr. Jones at 3 p.m.", "Then they left.", "Was it fun?", "Yes!"]),
    ("fr", "M. Dupont est arrivé. Il a vu Mme Martin. Elle était là.",
     ["M. Dupont est arrivé.", "Il a vu Mme Martin.", "Elle était là."]),
    ("cs", "Přišel prof. Novák. Byl to např. pes. Pak odešel.",
     ["Přišel prof. Novák.", "Byl to např. pes.", "Pak odešel."]),
])
def test_sentences_respect_abbreviations(lang, text, expected):
    assert segment_document(text, lang).sentences == expected


def test_language_codes_are_normalised():
    text = "Dr. Müller kam. Er war müde."
    expected = segment_document(text, "de").sentences
    for code in ("DE", "de-AT", "de_CH", " de "):
        assert segment_document(text, code).sentences == expected


@pytest.mark.parametrize("lang", [None, "", "xx", "klingon", "zz-ZZ"])
def test_unknown_or_missing_language_falls_back_to_english(lang, caplog):
    text = "Mr. Smith arrived. He was tired."
    with caplog.at_level(logging.WARNING, logger="translator.inference.document"):
        doc = segment_document(text, lang)
    assert doc.sentences == ["Mr. Smith arrived.", "He was tired."]


def test_unknown_language_warns_only_once(caplog):
    with caplog.at_level(logging.WARNING, logger="translator.inference.document"):
        segment_document("One. Two.", "qq")
        segment_document("Three. Four.", "qq")
    assert sum("'qq'" in r.getMessage() for r in caplog.records) == 1


LAYOUT = (
    "\n\n"
    "Dr. Müller kam um 10 Uhr. Er war müde.\n"
    "Zweite Zeile im selben Absatz.\n"
    "\n"
    "Neuer Absatz, z. B. mit Abkürzung. Und noch ein Satz.\n"
    "\n\n\n"
    "  Eingerückte Zeile. Mit zwei Sätzen.\n"
    "Letzter Absatz.\n"
    "\n"
)


def test_identity_assembly_reproduces_the_layout_exactly():
    doc = segment_document(LAYOUT, "de")
    assert identity(doc) == LAYOUT
    assert len(doc.paragraphs) == count_paragraphs(LAYOUT) == 3
    assert [len(p) for p in doc.paragraphs] == [2, 1, 2]
    assert len(doc.sentences) == 8


def test_line_breaks_inside_a_paragraph_are_units():
    doc = segment_document("Roses are red\nviolets are blue. Sugar is sweet", "en")
    assert doc.sentences == ["Roses are red", "violets are blue.", "Sugar is sweet"]
    assert doc.assemble(["A", "B", "C"]) == "A\nB C"


def test_assemble_replaces_sentences_in_place():
    doc = segment_document("One. Two.\n\nThree.\n", "en")
    assert doc.assemble(["Eins.", "Zwei.", "Drei."]) == "Eins. Zwei.\n\nDrei.\n"


def test_assemble_rejects_a_wrong_count():
    doc = segment_document("One. Two.", "en")
    with pytest.raises(ValueError, match="expected 2 translations, got 1"):
        doc.assemble(["Eins."])
    with pytest.raises(ValueError):
        doc.assemble(["a", "b", "c"])



def test_a_document_round_trips_through_json_and_its_layout():
    text = "  Indented. Second one.\n\n\nThird line here.\nLast! Really?\n"
    doc = segment_document(text, "en")
    again = Document.from_json(doc.to_json())
    assert again == doc and identity(again) == identity(doc)
    assert doc.layout() == [("  ", 2), ("", 0), ("", 0), ("", 1), ("", 2), ("", 0)]
    rebuilt = Document.from_layout(json.loads(json.dumps(doc.layout())), doc.sentences)
    assert rebuilt == doc  # the layout as JSON gives it back (lists, not tuples)
    with pytest.raises(ValueError, match="5 sentences, 4 were given"):
        Document.from_layout(doc.layout(), doc.sentences[:4])

def test_translations_cannot_change_the_line_structure():
    doc = segment_document("One.\n\nTwo. Three.", "en")
    out = doc.assemble(["a\n\nb", "", ""])  # a newline inside, a whole line empty
    assert out == "a b\n\nTwo. Three."
    assert blank_line_positions(out) == [1]


def test_crlf_and_cr_line_endings_are_normalised():
    text = "First line. Second.\r\nNext line.\r\n\r\n\r\nNew paragraph.\rLast.\r\n"
    doc = segment_document(text, "en")
    assert identity(doc) == normalize_newlines(text)
    assert identity(doc) == "First line. Second.\nNext line.\n\n\nNew paragraph.\nLast.\n"
    assert "\r" not in "".join(doc.sentences)


def test_empty_text():
    doc = segment_document("", "en")
    assert doc.sentences == []
    assert doc.paragraphs == []
    assert doc.assemble([]) == ""


def test_whitespace_only_text_keeps_its_line_count():
    doc = segment_document("  \n\t\n   ", "de")
    assert doc.sentences == []
    assert identity(doc) == "\n\n"


def test_a_huge_line_without_punctuation_is_chunked():
    words = [f"w{i}" for i in range(5000)]
    text = "Intro.\n" + " ".join(words) + "\n"
    doc = segment_document(text, "en")
    chunks = doc.sentences[1:]
    assert doc.sentences[0] == "Intro."
    assert len(chunks) == 5000 // MAX_WORDS
    assert all(len(c.split()) <= MAX_WORDS for c in chunks)
    assert " ".join(chunks).split() == words
    assert identity(doc) == text


def test_a_long_sentence_is_chunked_but_its_neighbours_are_not():
    long = " ".join(["Word"] * (MAX_WORDS + 1)) + "."
    doc = segment_document(f"Short one. {long} Another.", "en")
    lengths = [len(s.split()) for s in doc.sentences]
    assert lengths == [2, MAX_WORDS, 1, 1]


class CountingTranslator:
    """Delegates to a real Translator and records each translate() call (a spy, not a fake)."""

    def __init__(self, translator):
        self.inner, self.calls = translator, []

    @property
    def src_lang(self):
        return self.inner.src_lang

    def translate(self, texts, **kwargs):
        self.calls.append((list(texts), kwargs))
        return self.inner.translate(texts, **kwargs)


REVERSE_DOC = (
    "red cat sun. blue dog moon tree.\n"
    "fish bird star\n"
    "\n\n"
    "rock leaf red blue\n"
    "\n"
    "  moon sun cat dog fish\n"
)


def test_translate_document_with_the_trained_model(trained_translator):
    spy = CountingTranslator(trained_translator)
    out = translate_document(spy, REVERSE_DOC, beam_size=2)
    doc = segment_document(REVERSE_DOC, trained_translator.src_lang)

    assert len(spy.calls) == 1  # every sentence in one batched call
    assert spy.calls[0] == (doc.sentences, {"beam_size": 2})
    assert count_paragraphs(out) == count_paragraphs(REVERSE_DOC) == 3
    assert out.count("\n") == REVERSE_DOC.count("\n")
    assert blank_line_positions(out) == blank_line_positions(REVERSE_DOC)
    assert out.split("\n")[6].startswith("  ")
    assert out == doc.assemble(trained_translator.translate(doc.sentences, beam_size=2))
    assert out != REVERSE_DOC  # the model really translated (the task reverses word order)


def test_translate_document_of_empty_text_skips_the_model(trained_translator):
    spy = CountingTranslator(trained_translator)
    assert translate_document(spy, "") == ""
    assert translate_document(spy, "\n \n") == "\n\n"
    assert spy.calls == []


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a dev extra; skip the property test without it
    given = None

if given is not None:
    _alphabet = st.sampled_from(list("ab .?!\n\r\t") + ["Dr.", "z. B.", "É", "\r\n", "\x0c"])

    @settings(max_examples=200, deadline=None)
    @given(text=st.lists(_alphabet, max_size=60).map("".join),
           lang=st.sampled_from([None, "de", "en", "fr", "cs", "xx"]))
    def test_assembly_preserves_paragraphs_and_blank_lines(text, lang):
        doc = segment_document(text, lang)
        out = identity(doc)
        assert count_paragraphs(out) == count_paragraphs(text) == len(doc.paragraphs)
        assert blank_line_positions(out) == blank_line_positions(normalize_newlines(text))
        replaced = doc.assemble(["x"] * len(doc.sentences))
        assert blank_line_positions(replaced) == blank_line_positions(out)


def test_translate_segments_splits_sentences_in_one_call_and_keeps_line_breaks():
    calls = []

    def shout(sentences: list[str]) -> list[str]:
        calls.append(list(sentences))
        return [f"<{s.upper()}>" for s in sentences]

    segments = ["One man runs. A dog barks! Why?", "", "First line.\nSecond line. Third.",
                "no punctuation here"]
    out = translate_segments(shout, segments, "en")
    assert calls == [["One man runs.", "A dog barks!", "Why?", "First line.", "Second line.",
                      "Third.", "no punctuation here"]]
    assert out == ["<ONE MAN RUNS.> <A DOG BARKS!> <WHY?>", "",
                   "<FIRST LINE.>\n<SECOND LINE.> <THIRD.>", "<NO PUNCTUATION HERE>"]
    assert translate_segments(shout, ["", "  "], "en") == ["", ""] and len(calls) == 1


def test_a_line_without_capitals_is_still_split_into_sentences():
    assert segment_document("ein mann fährt fahrrad. eine frau liest! zwei hunde spielen?",
                            "de").sentences == ["ein mann fährt fahrrad.", "eine frau liest!",
                                                "zwei hunde spielen?"]
    # lower-case abbreviations (short words, inner dots) do not end a sentence
    assert segment_document("z.b. ein test. und dr. müller kommt.", "de").sentences == [
        "z.b. ein test.", "und dr. müller kommt."]
    assert segment_document("Ein Mann. eine Frau.", "de").sentences == ["Ein Mann. eine Frau."]
