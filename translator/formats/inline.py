"""The one rule that turns a block's sentence translations into new text for its spans (the
pieces of text between its inline markup), the same for every format.

Each sentence of the block is given to the span that holds most of its characters (the first
such span on a tie); a span's new text is the translations of its sentences joined by single
spaces, between the whitespace the span began and ended with. A span that receives no sentence
becomes empty (its markup stays: a bold run or a link around no text), and a span that held
only whitespace keeps it. So formatting that covers a whole sentence (a bold heading, a linked
paragraph, an italic subtitle) stays on its translation; formatting on a few words inside a
longer sentence is dropped from those words, and the sentence takes the formatting of its
larger part. Whitespace inside a translation collapses to single spaces, and two spans that
receive sentences are kept apart by a space when nothing between them is whitespace. If every
translation of a block comes back empty, the block keeps its source text (an empty paragraph
or subtitle would lose it).

Issue 15 replaces this rule by placing each span on the words aligned to it.
"""

from __future__ import annotations

from collections.abc import Sequence


def normalized(text: str) -> str:
    """The block's text as sentences are split from it: whitespace runs as single spaces."""
    return " ".join(text.split())


def owners(spans: Sequence[str], sentences: Sequence[str]) -> list[int]:
    """For each sentence (as split from `normalized("".join(spans))`), the index of the span
    holding most of its characters."""
    owner_of_char: list[int] = []  # span index of every character of the normalized text
    pending_space = False
    for index, span in enumerate(spans):
        for ch in span:
            if ch.isspace():
                pending_space = bool(owner_of_char)
                continue
            if pending_space:
                owner_of_char.append(index)
                pending_space = False
            owner_of_char.append(index)
    text = normalized("".join(spans))
    out, pos = [], 0
    for sentence in sentences:
        at = text.find(sentence, pos)
        if at < 0:  # not found as is (should not happen): the span where the search stands
            out.append(owner_of_char[min(pos, len(owner_of_char) - 1)] if owner_of_char else 0)
            continue
        counts: dict[int, int] = {}
        for i in range(at, min(at + len(sentence), len(owner_of_char))):
            if not text[i].isspace():
                counts[owner_of_char[i]] = counts.get(owner_of_char[i], 0) + 1
        out.append(max(counts, key=lambda k: (counts[k], -k)) if counts else 0)
        pos = at + len(sentence)
    return out


def distribute(spans: Sequence[str], sentences: Sequence[str],
               translations: Sequence[str]) -> list[str]:
    """New text for every span (the module docstring's rule)."""
    if len(sentences) != len(translations):
        raise ValueError(f"{len(sentences)} sentences, {len(translations)} translations")
    if not "".join(" ".join(t.split()) for t in translations):
        return list(spans)  # nothing came back: keep the source
    given: dict[int, list[str]] = {}
    for owner, translation in zip(owners(spans, sentences), translations):
        words = " ".join(translation.split())
        if words:
            given.setdefault(owner, []).append(words)
    out: list[str] = []
    previous = None  # the last span that received sentences
    for index, span in enumerate(spans):
        if index in given:
            lead = span[: len(span) - len(span.lstrip())]
            trail = span[len(span.rstrip()):]
            if previous is not None and not lead and not out[previous][-1:].isspace() \
                    and not "".join(out[previous + 1:]):
                lead = " "  # sentences of two spans met without whitespace: keep them apart
            out.append(lead + " ".join(given[index]) + trail)
            previous = index
        elif not span.strip():
            out.append(span)
        else:
            out.append("")
    return out
