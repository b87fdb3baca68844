"""Word alignments from the model's own attention, for placing inline formatting (a bold
word, a link) on the target words it belongs to (translator/formats/inline.py).

Soft attention becomes a word alignment the usual way for attentional models (as OpenNMT's
and Marian's guided outputs do, without a separate aligner): the attention rows of a target
word's subwords are summed, the columns of a source word's subwords are summed, and the
target word is aligned to the source word with the largest total. Words are SentencePiece
words (a "▁" starts one), which are the whitespace-separated words of the text. The end-of-
sentence position is never an alignment. When the words of the output text and of the
hypothesis disagree (a protected span restored, translator/inference/protect.py, can merge or add
words), the alignment is spread evenly instead (target word i to source word i * S / T), which
keeps the order of formatting even where the model's alignment is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence


def word_starts(pieces: Sequence[str]) -> list[int]:
    """The word index of every subword ("▁" starts a word; a first piece without one too)."""
    out, word = [], -1
    for i, piece in enumerate(pieces):
        if piece.startswith("▁") or i == 0:
            word += 1
        out.append(word)
    return out


def word_alignment(src_pieces: Sequence[str], tgt_pieces: Sequence[str],
                   attention: Sequence[Sequence[float]]) -> list[int]:
    """For every target word, the source word it attends to most (see the module docstring).
    `attention[t][s]`: target subword t (EOS row included or not) to source position s."""
    src_word, tgt_word = word_starts(src_pieces), word_starts(tgt_pieces)
    n_src = (src_word[-1] + 1) if src_word else 0
    n_tgt = (tgt_word[-1] + 1) if tgt_word else 0
    totals = [[0.0] * max(n_src, 1) for _ in range(n_tgt)]
    for t, row in enumerate(attention[: len(tgt_pieces)]):
        for s, weight in enumerate(row[: len(src_pieces)]):
            totals[tgt_word[t]][src_word[s]] += weight
    return [max(range(len(row)), key=row.__getitem__) for row in totals]


def even_alignment(n_target: int, n_source: int) -> list[int]:
    """Target word i to source word i * S / T: the fallback when words cannot be matched."""
    if n_source <= 0:
        return [0] * n_target
    return [min(n_source - 1, i * n_source // max(n_target, 1)) for i in range(n_target)]


def output_alignment(text: str, source: str, src_pieces: Sequence[str],
                     tgt_pieces: Sequence[str], attention) -> list[int]:
    """The alignment of the output `text`'s words to the `source` sentence's words: the
    attention's where both sides' words match the pieces', else the even spread."""
    n_target, n_source = len(text.split()), len(source.split())
    if attention is None or not tgt_pieces:
        return even_alignment(n_target, n_source)
    tgt_words = word_starts(tgt_pieces)
    src_words = word_starts(src_pieces)
    if tgt_words[-1] + 1 != n_target or (src_words[-1] + 1 if src_words else 0) != n_source:
        return even_alignment(n_target, n_source)
    return word_alignment(src_pieces, tgt_pieces, attention)
