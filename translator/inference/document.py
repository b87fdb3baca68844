"""Document translation: split a text into sentences, translate them together, rebuild the layout.

Layout model (after normalising line endings: ``\\r\\n`` and ``\\r`` become ``\\n``):

* The text is a sequence of lines separated by ``\\n``. A line that is empty or holds only
  whitespace is *blank*; it is kept as an empty line. Paragraphs are the maximal runs of
  non-blank lines, so the number of blank lines between paragraphs, and any leading or trailing
  blank lines (including a final newline), survive unchanged.
* Every non-blank line is its own unit: it is split into sentences on its own, so a single line
  break inside a paragraph (verse, addresses, lists) is kept, and a sentence never spans lines.
  The line's leading whitespace (indentation) is kept; trailing whitespace is dropped.
* Sentences come from the Moses-style `sentence_splitter` package (non-breaking prefix lists
  for ~24 European languages, de/en/fr/cs among them). A line with no capital letter at all is
  split as if the word after each full stop were capitalised (the rules want a capital there).
  Unknown or missing language codes fall back to the English rules, with one warning per code.
* A "sentence" longer than `MAX_WORDS` words (text without punctuation) is cut into chunks of at
  most `MAX_WORDS` words, each translated as a segment of its own.
* On assembly, the translations of one line are joined by a single space. Whitespace inside a
  translation (including newlines) is collapsed to single spaces, so a translation can never
  add or remove a line. If every translation of a non-blank line comes back empty, the source
  text of that line is kept, because an empty line would merge or split paragraphs.

Other Unicode line separators (``\\x0b``, ``\\x0c``, ``\\x85``, ``\\u2028``, ...) are treated as
whitespace inside a line, not as line breaks.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from sentence_splitter import SentenceSplitter, SentenceSplitterException

log = logging.getLogger(__name__)

MAX_WORDS = 100  # longest segment (in whitespace-separated words) sent to the model
FALLBACK_LANG = "en"


class SupportsTranslate(Protocol):
    """What `translate_document` needs from a translator (`translator.Translator` fits)."""

    @property
    def src_lang(self) -> str | None: ...

    def translate(self, texts: list[str], **kwargs: Any) -> list[str]: ...


@dataclass(frozen=True)
class Line:
    """One line of the document: its indentation and its sentences (none for a blank line)."""

    indent: str
    sentences: tuple[str, ...]

    @property
    def blank(self) -> bool:
        return not self.sentences


@dataclass(frozen=True)
class Document:
    """A segmented text: every line in order, blank lines included."""

    lines: tuple[Line, ...]

    @property
    def sentences(self) -> list[str]:
        """All sentences (and long-sentence chunks) in reading order."""
        return [s for line in self.lines for s in line.sentences]

    @property
    def paragraphs(self) -> list[list[Line]]:
        """The maximal runs of non-blank lines."""
        groups: list[list[Line]] = []
        previous_blank = True
        for line in self.lines:
            if not line.blank:
                if previous_blank:
                    groups.append([])
                groups[-1].append(line)
            previous_blank = line.blank
        return groups

    def layout(self) -> list[tuple[str, int]]:
        """The document without its text: (indentation, number of sentences) per line."""
        return [(line.indent, len(line.sentences)) for line in self.lines]

    @classmethod
    def from_layout(cls, layout: list, sentences: list[str]) -> Document:
        """The document with `layout` (from `layout()`) and `sentences` in reading order.
        Raises ValueError if their counts disagree."""
        if sum(n for _, n in layout) != len(sentences):
            raise ValueError(f"the layout has {sum(n for _, n in layout)} sentences, "
                             f"{len(sentences)} were given")
        lines, pos = [], 0
        for indent, n in layout:
            lines.append(Line(indent, tuple(sentences[pos: pos + n])))
            pos += n
        return cls(tuple(lines))

    def to_json(self) -> str:
        """{"layout": [[indent, n], ...], "sentences": [...]}: the layout and the text apart,
        so that a reader can take one without the other."""
        return json.dumps({"layout": self.layout(), "sentences": self.sentences})

    @classmethod
    def from_json(cls, data: str | bytes) -> Document:
        value = json.loads(data)
        return cls.from_layout(value["layout"], value["sentences"])

    def assemble(self, translations: list[str]) -> str:
        """Rebuild the text with `translations` in place of `sentences`, keeping the layout.

        Raises ValueError if there is not exactly one translation per sentence.
        """
        expected = len(self.sentences)
        if len(translations) != expected:
            raise ValueError(f"expected {expected} translations, got {len(translations)}")
        out, pos, kept = [], 0, 0
        for line in self.lines:
            n = len(line.sentences)
            text = _join(translations[pos : pos + n])
            if not text and not line.blank:
                text, kept = _join(line.sentences), kept + 1
            out.append(line.indent + text if text else "")
            pos += n
        if kept:
            log.warning("%d line(s) had only empty translations; kept their source text", kept)
        return "\n".join(out)


def normalize_newlines(text: str) -> str:
    """Turn ``\\r\\n`` and lone ``\\r`` into ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def count_paragraphs(text: str) -> int:
    """Number of blank-line-separated blocks of non-blank lines in `text`."""
    count, previous_blank = 0, True
    for line in normalize_newlines(text).split("\n"):
        blank = not line.strip()
        count += previous_blank and not blank
        previous_blank = blank
    return count


def segment_document(text: str, lang: str | None) -> Document:
    """Split `text` into lines and sentences for language `lang` (see the module docstring)."""
    splitter = _splitter(_language_key(lang))
    lines = [_segment_line(line, splitter) for line in normalize_newlines(text).split("\n")]
    return Document(tuple(lines))


def count_sentences(line: str, lang: str | None) -> int:
    """The sentences of one line by the splitter's rules (no cutting of long ones)."""
    content = " ".join(line.split())
    return len(_split(content, _splitter(_language_key(lang)))) if content else 0


def translate_document(translator: SupportsTranslate, text: str, lang: str | None = None,
                       **translate_kwargs: Any) -> str:
    """Translate a whole document in one batched call, keeping its paragraphs and line breaks.

    `lang` (the source language, for sentence splitting) defaults to `translator.src_lang`;
    `translate_kwargs` (beam_size, batch_tokens, search options) go to `translator.translate`.
    """
    lang = lang if lang is not None else translator.src_lang
    return translate_segments(lambda sentences: translator.translate(sentences,
                                                                     **translate_kwargs),
                              [text], lang)[0]


def translate_segments(translate: Callable[[list[str]], list[str]], segments: list[str],
                       lang: str | None) -> list[str]:
    """Translate each segment as a small document: its sentences (of every segment together)
    go to one `translate(sentences)` call, and each segment is put back with its own line
    breaks. What the interactive paths use, so that a pasted paragraph is not one long
    "sentence" to the model."""
    def scored(sentences: list[str]) -> list[tuple[str, float | None]]:
        return [(text, None) for text in translate(sentences)]

    return [segment.text for segment in translate_segments_scored(scored, segments, lang)]


@dataclass(frozen=True)
class TranslatedSegment:
    """A segment's translation, and (source, translation, confidence) per sentence."""

    text: str
    sentences: list[tuple[str, str, float | None]]


def translate_segments_scored(
    translate: Callable[[list[str]], Sequence[tuple[str, float | None]]], segments: list[str],
    lang: str | None,
) -> list[TranslatedSegment]:
    """`translate_segments` with a `translate` that gives (text, confidence) per sentence
    (`Translator.translate_scored`), keeping each sentence's confidence."""
    docs = [segment_document(segment, lang) for segment in segments]
    sentences = [s for doc in docs for s in doc.sentences]
    scored = list(translate(sentences)) if sentences else []
    out, pos = [], 0
    for doc in docs:
        n = len(doc.sentences)
        mine = scored[pos: pos + n]
        out.append(TranslatedSegment(
            doc.assemble([text for text, _ in mine]),
            [(src, text, conf) for src, (text, conf) in zip(doc.sentences, mine)]))
        pos += n
    return out


def chunk_words(sentence: str, max_words: int = MAX_WORDS) -> list[str]:
    """Cut `sentence` into pieces of at most `max_words` whitespace-separated words."""
    words = sentence.split()
    return [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]


def _segment_line(line: str, splitter: SentenceSplitter) -> Line:
    """Split one line into sentences; a whitespace-only line becomes a blank `Line`."""
    content = line.strip()
    if not content:
        return Line("", ())
    indent = line[: len(line) - len(line.lstrip())]
    pieces = [chunk for s in _split(content, splitter) for chunk in chunk_words(s)]
    return Line(indent, tuple(pieces or chunk_words(content)))


_AFTER_STOP = re.compile(r"(\S*?)([.!?…]+[\"'”»)]*\s+)(\w)")


def _split(content: str, splitter: SentenceSplitter) -> list[str]:
    """The splitter's sentences of `content`. The Moses rules end a sentence only before a
    capital, so a line without any capital letter ("ein mann fährt. eine frau liest.") is split
    as if each word after a full stop were capitalised, and the sentences are cut from the
    original text. Not after a word of three letters or fewer, or one with a dot inside: in
    lower case those are mostly abbreviations ("dr.", "ca.", "z.b.")."""
    if any(c.isupper() for c in content):
        return splitter.split(content)

    def capitalise(m: re.Match) -> str:
        word, stop, first = m.groups()
        if len(word) <= 3 or "." in word or len(first.upper()) != 1:
            return m.group()
        return word + stop + first.upper()

    probe = _AFTER_STOP.sub(capitalise, content)
    out, pos = [], 0
    for piece in splitter.split(probe):
        at = probe.find(piece, pos)
        if at < 0:  # the splitter changed the text: split the original as it is
            return splitter.split(content)
        out.append(content[at: at + len(piece)])
        pos = at + len(piece)
    return out


def _join(texts: tuple[str, ...] | list[str]) -> str:
    """Join segments by single spaces, collapsing any whitespace (newlines too) inside them."""
    return " ".join(word for t in texts for word in t.split())


def _language_key(lang: str | None) -> str:
    """'de', 'DE', 'de-AT' and 'de_AT' all become 'de'; None becomes the fallback language."""
    if not lang or not lang.strip():
        return FALLBACK_LANG
    return lang.strip().lower().replace("_", "-").split("-")[0]


@cache
def _splitter(lang: str) -> SentenceSplitter:
    """The splitter for `lang`, or the English one (warning once per code) if it is unknown."""
    try:
        return SentenceSplitter(language=lang)
    except SentenceSplitterException:
        log.warning("no sentence-splitting rules for language %r; using %r rules",
                    lang, FALLBACK_LANG)
        return _splitter(FALLBACK_LANG)
