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

With word alignments (translator/align.py: each output word's source word, from the model's
attention), `place_aligned` puts the words themselves on spans: each target word wants the
span of the source word it is aligned to, and since a format writes text into its spans where
they are (markup is never moved, so tags stay well-formed, each exactly once, nested as they
were), the words are given to spans in order: the labelling that never goes back to an earlier
span and puts the fewest words in a span formatted unlike theirs (a format gives each span its
formatting, `Block.marks`: the plain text on both sides of a bold word is alike); a word in
an unformatted span loses at worst its formatting, while one in another formatted span gains
a wrong one and costs more the fewer source words that span holds. Markup never moves, so
when a translation reverses the order of two tags' words, one tag keeps its words and the
other's go to the plain text beside it. Found by dynamic programming over
(word, span). Formatting left with no word (the model dropped what it marked, or the reversal
above) then takes the neighbouring word at its place, so no tag ends up empty while the
words around it could spare one (`_refill_emptied`).
"""

from __future__ import annotations

from collections.abc import Sequence


def normalized(text: str) -> str:
    """The block's text as sentences are split from it: whitespace runs as single spaces."""
    return " ".join(text.split())


def owners(spans: Sequence[str], sentences: Sequence[str]) -> list[int]:
    """For each sentence (as split from `normalized("".join(spans))`), the index of the span
    holding most of its characters."""
    text, owner = normalized("".join(spans)), _char_owners(spans)
    out, pos = [], 0
    for sentence in sentences:
        at = text.find(sentence, pos)
        at = pos if at < 0 else at  # not found as is (should not happen): where it stands
        out.append(_majority(owner, at, at + len(sentence)))
        pos = at + len(sentence)
    return out


def _majority(owner: Sequence[int], start: int, end: int) -> int:
    """The span owning most characters of normalized text [start, end) (the first on a
    tie; the span at `start` if the range holds none)."""
    counts: dict[int, int] = {}
    for i in range(start, min(end, len(owner))):
        counts[owner[i]] = counts.get(owner[i], 0) + 1
    if counts:
        return max(counts, key=lambda k: (counts[k], -k))
    return owner[min(start, len(owner) - 1)] if owner else 0


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
    return _fill(spans, given)


def _char_owners(spans: Sequence[str]) -> list[int]:
    """The span of every character of `normalized("".join(spans))`."""
    owner: list[int] = []
    pending_space = False
    for index, span in enumerate(spans):
        for ch in span:
            if ch.isspace():
                pending_space = bool(owner)
                continue
            if pending_space:
                owner.append(index)
                pending_space = False
            owner.append(index)
    return owner


def _source_word_owners(spans: Sequence[str], sentences: Sequence[str]) -> list[list[int]]:
    """For each sentence, the span holding most of each of its words."""
    text, owner = normalized("".join(spans)), _char_owners(spans)
    out, pos = [], 0
    for sentence in sentences:
        at = text.find(sentence, pos)
        at = pos if at < 0 else at
        cursor, words = at, []
        for word in sentence.split():
            k = text.find(word, cursor)
            k = cursor if k < 0 else k
            words.append(_majority(owner, k, k + len(word)))
            cursor = k + len(word)
        out.append(words)
        pos = at + len(sentence)
    return out


def _monotone(desired: list[int], allowed: list[int], penalty: dict[int, float],
              same=lambda a, b: a == b) -> list[int]:
    """Labels from `allowed` (span indexes, ascending), never decreasing along the words,
    minimising the summed penalty of the words not in a span like their desired one (and,
    among equals, the words not in that very span)."""
    if not desired:
        return []
    inf = float("inf")
    cost = [[(0.0 if d == span else 1e-3) if same(d, span) else penalty[span]
             for span in allowed] for d in desired]
    best, back = [cost[0][:]], []
    for t in range(1, len(desired)):
        row, pointers, run, arg = [], [], inf, 0
        for j in range(len(allowed)):
            if best[-1][j] < run:
                run, arg = best[-1][j], j
            row.append(run + cost[t][j])
            pointers.append(arg)
        best.append(row)
        back.append(pointers)
    j = min(range(len(allowed)), key=lambda k: best[-1][k])
    labels = [j]
    for pointers in reversed(back):
        j = pointers[j]
        labels.append(j)
    return [allowed[k] for k in reversed(labels)]


def place_aligned(spans: Sequence[str], sentences: Sequence[str], translations: Sequence[str],
                  alignments: Sequence[Sequence[int] | None],
                  marks: Sequence[str] | None = None) -> list[str]:
    """New text for every span from the word alignments (the module docstring's rule); a
    sentence without an alignment gets the even spread over its words. `marks` (the spans'
    formatting, from the format): a word in a span with the mark of the one it wants costs
    nothing."""
    from ..align import even_alignment

    if len(sentences) != len(translations) or len(sentences) != len(alignments):
        raise ValueError("one translation and one alignment per sentence")
    if not "".join(" ".join(t.split()) for t in translations):
        return list(spans)
    allowed = list(range(len(spans)))  # every span, the empty ones too (see the docstring)
    if sum(1 for span in spans if span.strip()) <= 1 and len(spans) <= 1:
        return distribute(spans, sentences, translations)
    source_owners = _source_word_owners(spans, sentences)
    words, desired = [], []
    for owners_, translation, alignment in zip(source_owners, translations, alignments):
        target = translation.split()
        if alignment is None or len(alignment) != len(target) or not owners_:
            alignment = even_alignment(len(target), len(owners_))
        for word, source in zip(target, alignment):
            words.append(word)
            desired.append(owners_[min(source, len(owners_) - 1)] if owners_ else allowed[0])
    held = {i: sum(o.count(i) for o in source_owners) for i in allowed}
    total = sum(held.values()) or 1
    # A word in an unformatted span loses at worst its formatting; one in a formatted span
    # that is not its own gains a wrong one, the worse the fewer words that span held.
    penalty = {i: 1.0 if marks is not None and not marks[i] else 1.0 + total / (1 + held[i])
               for i in allowed}
    same = (lambda a, b: a == b) if marks is None else (lambda a, b: marks[a] == marks[b])
    labels = _monotone(desired, allowed, penalty, same)
    if marks is not None:
        _refill_emptied(labels, held, marks)
    given: dict[int, list[str]] = {}
    for word, label in zip(words, labels):
        given.setdefault(label, []).append(word)
    return _fill(spans, given)


def _refill_emptied(labels: list[int], held: dict[int, int], marks: Sequence[str]) -> None:
    """A formatted span that held source words, whose formatting no word was given (the model
    dropped or reordered what it marked; a mark nested in it counts: `b/i` has a `b`), takes
    one word at its place in the output, so a link or a bold
    word does not vanish: the word just before or just after it (the labels stay in order:
    the span stands between the two), one from plain text first, the later one on a tie, and
    never the last word of another formatted span (which would only move the loss). A span
    both of whose neighbours are such words stays empty."""
    for span in sorted(held):
        mark = marks[span]
        if not held[span] or not mark or any(marks[label] == mark or marks[label].startswith(
                mark + "/") for label in set(labels)):
            continue  # unformatted, or its formatting (or one nested in it) has words
        after = next((t for t, label in enumerate(labels) if label > span), len(labels))
        candidates = [t for t in (after, after - 1) if 0 <= t < len(labels)
                      and (not marks[labels[t]] or labels.count(labels[t]) > 1)]
        if candidates:
            t = min(candidates, key=lambda t: bool(marks[labels[t]]))
            labels[t] = span


def _fill(spans: Sequence[str], given: dict[int, list[str]]) -> list[str]:
    """Span texts from the words given to each span, each span keeping the whitespace it began
    and ended with; two spans with words are kept apart by a space, and a span emptied between
    two spaces does not leave both (`into <a></a> a park`, not `into  a park`)."""
    out: list[str] = []
    previous = None
    for index, span in enumerate(spans):
        if index in given:
            lead = span[: len(span) - len(span.lstrip())]
            trail = span[len(span.rstrip()):]
            if previous is not None and not lead and not out[previous][-1:].isspace() \
                    and not "".join(out[previous + 1:]):
                lead = " "
            text = lead + " ".join(given[index]) + trail
            previous = index
        elif not span.strip():
            text = span
        else:
            text = ""
        written = "".join(out)
        if text[:1].isspace() and written[-1:].isspace():
            text = text.lstrip()
        out.append(text)
    return out
