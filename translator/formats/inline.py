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

With word alignments (translator/inference/align.py: each output word's source word, from the
model's attention), `place_aligned` puts the words themselves on spans: each target word wants the
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

Both ways, the whitespace and punctuation at the edges of a formatted span's new text stay
outside its formatting unless its source span had them there (`_keep_edges_outside`). A word
moved from the start of a sentence to its end comes with the sentence's full stop after it and
a space before it, neither of which its span held: `<i>One</i> two three.` reversed would read
`three two<i> One.</i>`, and reads `three two <i>One</i>.` as a translator would set it. The
space and the stop go to the nearest less formatted span on their side (unformatted text, or
the formatting most of the block has), across spans left empty only, so the text is unchanged
and only where the formatting ends moves. A span keeps final punctuation where its source
span ended with punctuation or held a sentence's end (`<i>three.</i>` keeps its stop).
"""

from __future__ import annotations

from collections.abc import Sequence


def normalized(text: str) -> str:
    """The block's text as sentences are split from it: whitespace runs as single spaces."""
    return " ".join(text.split())


# What ends a sentence or a clause: at the end of a formatted span it is the sentence's, not
# the span's (the module docstring).
TRAILING_PUNCTUATION = ".,;:!?…。，、；：！？"


def _sentence_starts(text: str, sentences: Sequence[str]) -> list[int]:
    """Where each sentence starts in `text` (the block's normalized text), in order."""
    out, pos = [], 0
    for sentence in sentences:
        at = text.find(sentence, pos)
        at = pos if at < 0 else at  # not found as is (should not happen): where it stands
        out.append(at)
        pos = at + len(sentence)
    return out


def owners(spans: Sequence[str], sentences: Sequence[str]) -> list[int]:
    """For each sentence (as split from `normalized("".join(spans))`), the index of the span
    holding most of its characters."""
    text, owner = normalized("".join(spans)), _char_owners(spans)
    return [_majority(owner, at, at + len(sentence))
            for at, sentence in zip(_sentence_starts(text, sentences), sentences)]


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
               translations: Sequence[str], marks: Sequence[str] | None = None) -> list[str]:
    """New text for every span (the module docstring's rule; `marks` as `place_aligned`'s)."""
    if len(sentences) != len(translations):
        raise ValueError(f"{len(sentences)} sentences, {len(translations)} translations")
    if not "".join(" ".join(t.split()) for t in translations):
        return list(spans)  # nothing came back: keep the source
    given: dict[int, list[str]] = {}
    for owner, translation in zip(owners(spans, sentences), translations):
        words = " ".join(translation.split())
        if words:
            given.setdefault(owner, []).append(words)
    return _keep_edges_outside(spans, _fill(spans, given), marks, sentences)


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
    out = []
    for at, sentence in zip(_sentence_starts(text, sentences), sentences):
        cursor, words = at, []
        for word in sentence.split():
            k = text.find(word, cursor)
            k = cursor if k < 0 else k
            words.append(_majority(owner, k, k + len(word)))
            cursor = k + len(word)
        out.append(words)
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
    from translator.inference.align import even_alignment

    if len(sentences) != len(translations) or len(sentences) != len(alignments):
        raise ValueError("one translation and one alignment per sentence")
    if not "".join(" ".join(t.split()) for t in translations):
        return list(spans)
    allowed = list(range(len(spans)))  # every span, the empty ones too (see the docstring)
    if sum(1 for span in spans if span.strip()) <= 1 and len(spans) <= 1:
        return distribute(spans, sentences, translations, marks)
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
    return _keep_edges_outside(spans, _fill(spans, given), marks, sentences)


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


def _keep_edges_outside(spans: Sequence[str], out: list[str], marks: Sequence[str] | None,
                        sentences: Sequence[str]) -> list[str]:
    """`out` with the whitespace and punctuation a span's new text starts or ends with, where
    its source span had none at that edge, moved into the nearest less formatted span on
    that side (the module docstring's rule)."""
    rank = _formatting_ranks(spans, marks)
    ends = _sentence_end_spans(spans, sentences)
    for i in range(len(out)):
        if out[i].strip():
            _move_lead_out(out, rank, i, _unsourced_lead(out[i], spans[i]))
            _move_tail_out(out, rank, i, _unsourced_tail(out[i], spans[i], i in ends))
    return out


def _move_lead_out(out: list[str], rank: Sequence[int], i: int, lead: str) -> None:
    """Span `i`'s leading `lead` to the end of the less formatted span before it, if any."""
    before = _outer_neighbour(out, rank, i, -1) if lead else None
    if before is not None:
        out[i] = out[i][len(lead):]
        if not "".join(out[:i])[-1:].isspace():  # the text before may end with a space already
            out[before] += lead


def _move_tail_out(out: list[str], rank: Sequence[int], i: int, tail: str) -> None:
    """Span `i`'s trailing `tail` to the start of the less formatted span after it, if any."""
    after = _outer_neighbour(out, rank, i, 1) if tail else None
    if after is not None:
        out[i] = out[i][: len(out[i]) - len(tail)]
        if "".join(out[i + 1:])[:1].isspace():  # the text after may start with a space already
            tail = tail.rstrip()
        out[after] = tail + out[after]


def _formatting_ranks(spans: Sequence[str], marks: Sequence[str] | None) -> list[int]:
    """How formatted each span is: 0 unformatted (an empty mark), 1 formatted like most of the
    block's text, 2 formatted otherwise. Without marks every span is its own formatting."""
    kinds = list(marks) if marks is not None else list(range(len(spans)))
    counts: dict = {}
    for owner in _char_owners(spans):
        counts[kinds[owner]] = counts.get(kinds[owner], 0) + 1
    base = max(counts, key=counts.__getitem__) if counts else None
    return [0 if marks is not None and not marks[i] else 1 if kinds[i] == base else 2
            for i in range(len(spans))]


def _sentence_end_spans(spans: Sequence[str], sentences: Sequence[str]) -> set[int]:
    """The spans that hold the final punctuation of a sentence in the source."""
    text, owner = normalized("".join(spans)), _char_owners(spans)
    out = set()
    for at, sentence in zip(_sentence_starts(text, sentences), sentences):
        end = at + len(sentence)
        if sentence[-1:] and sentence[-1] in TRAILING_PUNCTUATION and 0 < end <= len(owner):
            out.add(owner[end - 1])
    return out


def _unsourced_lead(text: str, source: str) -> str:
    """The whitespace `text` starts with, if its source span did not start with any."""
    lead = text[: len(text) - len(text.lstrip())]
    return "" if source[:1].isspace() else lead


def _unsourced_tail(text: str, source: str, held_sentence_end: bool) -> str:
    """What `text` ends with that its source span did not: punctuation (with any whitespace
    after it), unless the source ended with punctuation or held a sentence's end; else
    whitespace. Never the whole text (a span of punctuation alone keeps it)."""
    body = text.rstrip()
    core = body.rstrip(TRAILING_PUNCTUATION)
    source_end = source.rstrip()[-1:]
    kept = held_sentence_end or (source_end != "" and source_end in TRAILING_PUNCTUATION)
    if core.strip() and len(core) < len(body) and not kept:
        return text[len(core):]
    if core.strip() and len(body) < len(text) and not source[-1:].isspace():
        return text[len(body):]
    return ""


def _outer_neighbour(out: Sequence[str], rank: Sequence[int], i: int,
                     step: int) -> int | None:
    """The nearest span from `i` in direction `step` that is less formatted than span `i`,
    reached across spans left empty only (so moving text there keeps its order)."""
    j = i + step
    while 0 <= j < len(out):
        if rank[j] < rank[i]:
            return j
        if out[j]:
            return None
        j += step
    return None
