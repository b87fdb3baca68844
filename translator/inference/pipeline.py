"""What happens to a sentence around the search: normalise, truecase (translator/data/casing.py:
a segment in capitals or lower case, or runs of words in capitals inside one),
protect spans (translator/inference/protect.py) and encode before it; restore spans, restore
ALL-CAPS and decode after it. `Translator` runs every input through `prepare` and every
hypothesis through `finish`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from translator.data.casing import Casing, CasingTable, casing_of, truecase, truecase_runs
from translator.data.corpus import normalize
from translator.data.vocab import UNK_ID, Tokenizer, encode_parts
from translator.inference.protect import (
    MASKED,
    VERBATIM,
    Span,
    find_spans,
    model_parts,
    restore,
    target_words,
)


@dataclass
class Prepared:
    text: str  # what the model reads
    ids: list[int]
    casing: Casing = Casing.NORMAL
    spans: list[Span] = field(default_factory=list)
    positions: list[frozenset[int]] = field(default_factory=list)  # subwords of each span

    @property
    def needs_attention(self) -> bool:
        return bool(self.spans)


def prepare(texts: Sequence[str], tok: Tokenizer, table: CasingTable | None,
            protect: bool = True, recase: bool = True) -> list[Prepared]:
    """Prepare inputs for the model; plain sentences are encoded in one SentencePiece call.
    `protect=False` finds no spans, `recase=False` leaves casing alone."""
    prepared = [_prepare_one(t, tok, table, protect, recase) for t in texts]
    plain = [i for i, p in enumerate(prepared) if p.ids is None]
    for i, ids in zip(plain, tok.encode([prepared[i].text for i in plain])):
        prepared[i].ids = ids
    return prepared


def _prepare_one(text: str, tok: Tokenizer, table: CasingTable | None,
                 protect: bool, recase: bool) -> Prepared:
    """A sentence with spans is encoded part by part here; a plain one is left to `prepare`
    (ids None), an empty one gets no ids."""
    text = normalize(text)
    casing = casing_of(VERBATIM.sub(" ", text)) if recase else Casing.NORMAL
    if casing == Casing.LOWER and table is None:
        casing = Casing.NORMAL  # nothing to tell which words are capitalised
    if casing != Casing.NORMAL:
        text = _outside_links(text, lambda part, first: truecase(part, table, first))
    elif recase and table is not None:
        text = _outside_links(text, lambda part, first: truecase_runs(part, table, first))
    spans = find_spans(text, tok.has_char, table) if protect and text else []
    if not spans:
        return Prepared(text, None if text else [], casing)  # type: ignore[arg-type]
    ids, positions = encode_parts(tok, model_parts(text, spans))
    return Prepared(text, ids, casing, spans, [positions[k] for k in range(len(spans))])


def _outside_links(text: str, rewrite: Callable[[str, bool], str]) -> str:
    """`rewrite(part, first)` applied to the parts of `text` between URLs, e-mail addresses
    and placeholders, which stay as they are (`first`: the part starts the text)."""
    out, pos = [], 0
    for m in VERBATIM.finditer(text):
        out += [rewrite(text[pos:m.start()], not out), m.group()]
        pos = m.end()
    out.append(rewrite(text[pos:], not out))
    return "".join(out)


def finish(prepared: Prepared, tokens: Sequence[int], tok: Tokenizer,
           attention: Sequence[Sequence[float]] | None) -> str:
    """The output text of one hypothesis: spans restored, ALL-CAPS restored."""
    if not prepared.spans:
        text = tok.decode([tokens])[0]
        return text.upper() if prepared.casing == Casing.UPPER else text
    pieces = tok.id_pieces(tokens)
    words = target_words(pieces, [t == UNK_ID for t in tokens], attention)
    words = restore(words, prepared.spans, prepared.positions)
    upper = prepared.casing == Casing.UPPER
    out = []
    for w in words:
        if upper and w.protected not in MASKED:
            out.append(w.text.upper())
        else:
            out.append(w.text)
    return " ".join(t for t in out if t)
