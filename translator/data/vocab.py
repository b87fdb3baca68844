"""SentencePiece subword models: training from sentences and a small tokenizer wrapper.

Models are kept as serialized bytes so that a checkpoint carries them in one file.
Ids: 0 = <pad>, 1 = <unk>, 2 = <s> (BOS), 3 = </s> (EOS).
"""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import sentencepiece as spm

from translator.config import ConfigError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

T = TypeVar("T")


class Tokenizer:
    """Encodes text to subword ids and decodes ids back to detokenized text."""

    def __init__(self, model_bytes: bytes):
        self.model_bytes = model_bytes
        self.sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self._known_chars: dict[str, bool] = {}

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.sp.encode(list(texts), out_type=int)

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return self.sp.decode([[i for i in seq if i > EOS_ID] for seq in ids])

    def pieces(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str)

    def id_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    def symbol_id(self, symbol: str) -> int | None:
        """The id of a control symbol (a language token such as `<2de>`); None when the
        vocabulary was trained without it."""
        token_id = self.sp.piece_to_id(symbol)
        return None if token_id == UNK_ID else token_id

    def has_char(self, char: str) -> bool:
        """Whether `char` is in the vocabulary (after SentencePiece's normalisation)."""
        known = self._known_chars.get(char)
        if known is None:
            known = self._known_chars[char] = UNK_ID not in self.sp.encode(char)
        return known


def train_model_bytes(sentences: list[str], size: int, model_type: str, coverage: float,
                      symbols: Sequence[str] = ()) -> bytes:
    """Train one SentencePiece model in memory; shrink the vocabulary if the data is too small.
    `symbols` become control symbols (an id each, never produced from raw text)."""
    model = io.BytesIO()
    kwargs = dict(
        sentence_iterator=iter(sentences), model_writer=model, model_type=model_type,
        vocab_size=size, character_coverage=coverage, pad_id=PAD_ID, unk_id=UNK_ID,
        bos_id=BOS_ID, eos_id=EOS_ID, input_sentence_size=len(sentences),
        shuffle_input_sentence=False, num_threads=2, minloglevel=2,
        hard_vocab_limit=False,  # a small corpus gets the largest vocabulary it supports
    )
    if symbols:
        kwargs["control_symbols"] = list(symbols)
    try:
        spm.SentencePieceTrainer.train(**kwargs)
    except RuntimeError as exc:  # e.g. a vocabulary smaller than the corpus' characters
        message = str(exc).split("] ", 1)[-1].split(" Increase vocab_size")[0]
        raise ConfigError(f"SentencePiece cannot build a {size}-piece vocabulary for this "
                          f"corpus: {message} (raise vocab.size or lower "
                          f"character_coverage in the config)") from None
    return model.getvalue()


def sample_sentences(items: Iterable[T], k: int, rng: random.Random,
                     text: Callable[[T], str] = str) -> list[str]:
    """A uniform sample of at most `k` non-empty sentences from a stream (reservoir sampling,
    Algorithm R), without holding the stream: `text(item)` gives an item's sentence and is
    called only for items kept while the reservoir fills and for items drawn into it. A stream
    of at most `k` sentences comes back whole, in order."""
    sample: list[str] = []
    seen = 0
    for item in items:
        if len(sample) < k:
            sentence = text(item)
            if sentence:
                sample.append(sentence)
                seen += 1
            continue
        seen += 1
        j = rng.randrange(seen)
        if j < k and (sentence := text(item)):
            sample[j] = sentence
    return sample


def train_tokenizers(
    src: Iterable, tgt: Iterable, size: int, model_type: str = "unigram",
    joint: bool = True, character_coverage: float = 1.0, max_sentences: int = 200_000,
    seed: int = 1234, text: Callable = str, symbols: Sequence[str] = (),
) -> tuple[Tokenizer, Tokenizer]:
    """Train source and target tokenizers (one shared model when `joint`) on a sample of at
    most `max_sentences` sentences (of both sides together when joint, else of each); `src`
    and `tgt` may be streams of raw items that `text` turns into sentences."""
    rng = random.Random(seed)  # noqa: S311 (a seeded sample of sentences, not a secret)
    if joint:
        shared = train_model_bytes(sample_sentences(itertools.chain(src, tgt), max_sentences, rng,
                                                    text), size, model_type, character_coverage,
                                   symbols)
        return Tokenizer(shared), Tokenizer(shared)
    return (
        Tokenizer(train_model_bytes(sample_sentences(src, max_sentences, rng, text), size,
                                    model_type, character_coverage, symbols)),
        Tokenizer(train_model_bytes(sample_sentences(tgt, max_sentences, rng, text), size,
                                    model_type, character_coverage)),
    )


def encode_parts(tok: Tokenizer, parts: Sequence[tuple[str, int | None]]
                 ) -> tuple[list[int], dict[int, frozenset[int]]]:
    """Encode a sentence given as parts (text, tag): the ids and, per tag, the positions of its
    subwords. A part that continues a word (no space before it) loses the word-start marker
    SentencePiece gives every encoded text."""
    ids: list[int] = []
    positions: dict[int, frozenset[int]] = {}
    for i, (text, tag) in enumerate(parts):
        pieces = tok.sp.encode(text, out_type=str)
        if i and pieces and not text[:1].isspace() and pieces[0].startswith("▁"):
            rest = pieces[0][1:]
            if not rest:
                pieces = pieces[1:]
            elif tok.sp.piece_to_id(rest) != UNK_ID:
                pieces = [rest, *pieces[1:]]
        start = len(ids)
        ids.extend(tok.sp.piece_to_id(p) for p in pieces)
        if tag is not None:
            positions[tag] = frozenset(range(start, len(ids)))
    return ids, positions
