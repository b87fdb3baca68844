"""Carry-through: numbers, URLs, e-mail addresses, characters outside the vocabulary (emoji,
currency signs) and unknown names come out of translation exactly as they went in.

The technique is copy-through by attention alignment, the standard remedy of attentional
models for what they cannot translate (Luong et al. 2015, "Addressing the rare word problem";
OpenNMT's `replace_unk`):

1. `find_spans` marks the protected spans of a source sentence: placeholders of software
   strings (printf's %s, %d, %.2f, %(name)s, %1$s; {name}, {0}, {{ x }}, ${var}: masked like
   URLs, so that a PO or XLIFF string keeps every one exactly), e-mail addresses, URLs, numbers
   (with their separators, currency and percent signs: 2.500, 12,99, 12.03.2024, 10:30, $20,
   50 %, and digit groups as in phone numbers: 030 1234567), runs of characters the source
   vocabulary lacks (emoji, €: SentencePiece reads them as <unk>) and, given a `CasingTable` of
   the training source, capitalised words that training never saw, in no inflection, compound
   or hyphenated part (names: "Bello", "Mehmet"; not "Dschungellandschaft" or "T-Shirt").
   URLs, e-mail addresses and placeholders are masked by one <unk> (`MASKED`): spelt out in
   subwords they would cost the model attention and sentence positions (measured against no masks in
   benchmarks/RESULTS.md, "Carry-through").
2. The model translates the sentence; the search returns its attention.
3. `restore` aligns each target word to the source subword it attends to most (the attention
   rows of its subwords summed). A span already in the output verbatim is left alone. Otherwise
   the target words aligned to it (the first contiguous run of them, e.g. "fifty" for "50", or
   a mangled name) are replaced by the span, keeping their punctuation; if no target word is
   aligned to it, the span is inserted after the target word aligned to the source nearest
   before it (at the start if there is none, before the final punctuation at the end).

So every span appears in the output: the 100% of the figure is by construction; where it goes
is the model's attention. This module imports no torch: attention arrives as nested lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from translator.data.casing import CasingTable

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"(?<![\w@.])(?:(?:https?|ftp)://|mailto:|www\.)[^\s<>\"“”„«»]+",
                 re.IGNORECASE)
LINK = re.compile(f"{URL.pattern}|{EMAIL.pattern}", re.IGNORECASE)  # both, in text order
CURRENCY = "$€£¥₹₽₩₺¢"
_FIGURE = r"\d+(?:[.,:/]\d+)*"
NUMBER = re.compile(  # "12,99", "12.03.2024", "10:30", "$20", "50 %", "030 1234567"
    rf"(?<![\w{CURRENCY}])[{CURRENCY}]?{_FIGURE}(?: {_FIGURE})*(?:\s?[%‰{CURRENCY}])?(?!\w)")
NAME = re.compile(r"(?<![\w-])[^\W\d_][\w-]*", re.UNICODE)
TRAILING = ".,;:!?)]}'\"“”»›…"
PLACEHOLDER = re.compile(  # printf (%s, %d, %.2f, %(name)s, %1$s), {name}, {0}, {{ x }}, ${var}
    r"%\(\w+\)[#0 +-]*\d*(?:\.\d+)?[sdifuxXeEgGcr]|%\d+\$[#0 +-]*\d*(?:\.\d+)?[sdifuxXeEgGc]"
    r"|(?<![\w%])%[#0+-]*\d*(?:\.\d+)?[sdifuxXeEgGc](?![a-zA-Z])"
    r"|\{\{[^{}\n]{1,60}\}\}|\$\{\w{1,40}\}|\{[\w.:-]{0,40}\}")
MASKED = frozenset({"url", "email", "placeholder"})
VERBATIM = re.compile(f"{LINK.pattern}|{PLACEHOLDER.pattern}", re.IGNORECASE)  # never recased
MASK = "\ue000"  # a private-use character: outside every vocabulary, so one <unk>


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # email, url, number, symbol (outside the vocabulary), name
    text: str


def find_spans(text: str, in_vocab: Callable[[str], bool],
               table: CasingTable | None = None) -> list[Span]:
    """The protected spans of `text`, in order, not overlapping."""
    spans: list[Span] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s.start or start >= s.end for s in spans)

    for m in URL.finditer(text):  # URLs first: an address inside one ("user@host") is its own
        end = _url_end(text, m.start(), m.end())
        spans.append(Span(m.start(), end, "url", text[m.start():end]))
    for kind, pattern in (("placeholder", PLACEHOLDER), ("email", EMAIL), ("number", NUMBER)):
        for gap_start, gap_end in _gaps(spans, len(text)):  # numbers after a URL's digits too
            for m in pattern.finditer(text, gap_start, gap_end):
                if free(m.start(), m.end()):
                    spans.append(Span(m.start(), m.end(), kind, m.group()))
        spans.sort(key=lambda s: s.start)
    spans.extend(_outside_vocabulary(text, in_vocab, free))
    if table is not None:
        for m in NAME.finditer(text):
            word = m.group()
            if word[0].isupper() and len(word) > 1 and not table.familiar(word) \
                    and free(m.start(), m.end()):
                spans.append(Span(m.start(), m.end(), "name", word))
    return sorted(spans, key=lambda s: s.start)


def _url_end(text: str, start: int, end: int) -> int:
    """A URL without the punctuation that ends its sentence; a closing bracket stays when the
    URL opened it (".../Berlin_(Stadt)")."""
    while end > start and text[end - 1] in TRAILING:
        closing = {")": "(", "]": "["}.get(text[end - 1])
        if closing and text[start:end].count(closing) >= text[start:end].count(text[end - 1]):
            break
        end -= 1
    return end


def _gaps(spans: Sequence[Span], length: int) -> list[tuple[int, int]]:
    """The stretches of text between `spans` (sorted)."""
    gaps, pos = [], 0
    for span in spans:
        if span.start > pos:
            gaps.append((pos, span.start))
        pos = max(pos, span.end)
    return gaps + [(pos, length)] if pos < length else gaps


def _outside_vocabulary(text: str, in_vocab: Callable[[str], bool], free) -> list[Span]:
    """Runs of non-space characters the vocabulary lacks (joiners and variation selectors
    stay with the run they follow). A run inside a word takes the whole word ("Ayşe" when the
    vocabulary has no "ş"): half a word would come out as a stray letter."""
    runs: list[Span] = []
    start = None
    for i, char in enumerate(text + " "):
        glue = start is not None and char in "\u200d\ufe0f\ufe0e"
        if not char.isspace() and (glue or not in_vocab(char)):
            start = i if start is None else start
        elif start is not None:
            begin, end = start, i
            while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] == "-"):
                begin -= 1
            while end < len(text) and (text[end].isalnum() or text[end] == "-"):
                end += 1
            if runs and runs[-1].end > begin:  # a second run in the same word: one span
                begin = runs.pop().start
            kind = "name" if text[begin:end].replace("-", "").isalpha() else "symbol"
            if free(begin, end):
                runs.append(Span(begin, end, kind, text[begin:end]))
            start = None
    return runs


def model_parts(text: str, spans: Sequence[Span]) -> list[tuple[str, int | None]]:
    """`text` cut at the spans: (part, index of its span or None), masked spans as MASK.
    The tokenizer encodes the parts one by one, so it knows which subwords each span has."""
    parts: list[tuple[str, int | None]] = []
    pos = 0
    for k, span in enumerate(spans):
        if span.start > pos:
            parts.append((text[pos:span.start], None))
        parts.append((MASK if span.kind in MASKED else span.text, k))
        pos = span.end
    if pos < len(text):
        parts.append((text[pos:], None))
    return parts


@dataclass
class Word:
    """A target word: its subwords split into leading punctuation, core and trailing
    punctuation, and the source position it attends to most."""

    lead: str
    core: str
    trail: str
    source: int | None
    protected: str = ""  # the kind of the span this word is

    @property
    def text(self) -> str:
        return self.lead + self.core + self.trail


def target_words(pieces: Sequence[str], unk: Sequence[bool],
                 attention: Sequence[Sequence[float]] | None) -> list[Word]:
    """Group target subwords into words ("▁" starts one); <unk> subwords are dropped but keep
    their attention (a span can replace them)."""
    groups: list[list[int]] = []
    for t, piece in enumerate(pieces):
        if piece.startswith("▁") or not groups:
            groups.append([])
        groups[-1].append(t)
    words = []
    for group in groups:
        texts = ["" if unk[t] else pieces[t] for t in group]
        joined = "".join(texts).replace("▁", " ").strip()
        core = joined.strip(TRAILING + "([{„‚«‹¿¡")
        lead = joined[: joined.index(core)] if core else ""
        trail = joined[len(lead) + len(core):]
        source = _aligned_source(group, attention) if attention is not None else None
        if joined or any(unk[t] for t in group):
            words.append(Word(lead, core, trail, source))
    return words


def _aligned_source(group: Sequence[int], attention: Sequence[Sequence[float]]) -> int | None:
    rows = [attention[t] for t in group if t < len(attention)]
    if not rows:
        return None
    sums = [sum(column) for column in zip(*rows)]
    return max(range(len(sums)), key=sums.__getitem__)


def restore(words: list[Word], spans: Sequence[Span],
            positions: Sequence[frozenset[int]]) -> list[Word]:
    """Put every span into `words` (see the module docstring); `positions[k]` are the source
    subword positions of span k."""
    seen: dict[str, int] = {}
    for span, owned in zip(spans, positions):
        seen[span.text] = seen.get(span.text, 0) + 1
        if _count(words, span.text) >= seen[span.text]:
            continue
        aligned = [i for i, w in enumerate(words) if w.source in owned and not w.protected]
        if aligned:
            run = [aligned[0]]
            while run[-1] + 1 in aligned:
                run.append(run[-1] + 1)
            first, last = words[run[0]], words[run[-1]]
            words[run[0]: run[-1] + 1] = [Word(first.lead, span.text, last.trail, first.source,
                                               protected=span.kind)]
        else:
            _insert(words, span, min(owned) if owned else 0)
    return [w for w in words if w.text or w.protected]


def _insert(words: list[Word], span: Span, source: int) -> None:
    before = [i for i, w in enumerate(words) if w.source is not None and w.source < source]
    at = before[-1] + 1 if before else 0
    new = Word("", span.text, "", source, protected=span.kind)
    if at == len(words) and words and words[-1].trail:
        last = words[-1]  # "bicycle." + span -> "bicycle span."
        words[-1] = Word(last.lead, last.core, "", last.source, last.protected)
        new.trail = last.trail
    words.insert(at, new)


def _count(words: Sequence[Word], text: str) -> int:
    """How often `text` is in the output already: restored spans of exactly that text, and
    matches in the model's own words that are not part of a longer number, URL or address
    ("1" is not in "1,5", "30" not in "10:30", "2024" not in ".../2024")."""
    placed = sum(1 for w in words if w.protected and w.core == text)
    joined = " ".join(w.text for w in words if w.text and not w.protected)
    left = r"(?<![\w./:@?=&%#$€£¥])" if text[:1].isalnum() else ""
    right = r"(?![\w]|[.,:/@]\w)" if text[-1:].isalnum() else ""
    return placed + len(re.findall(left + re.escape(text) + right, joined))
