"""Extra corpora mixed with the real one (translator/data/mixing.py): tagged synthetic sources,
the ratio kept by repeating the smaller side, extra corpora holding a validation or test
line refused, the cache entries, the vocabulary's control symbol,
the command line, and a run that trains on the mix."""

from __future__ import annotations

import pytest
from helpers import SRC, TGT, tiny_config, write_reverse_corpus

from translator.cli.main import parser
from translator.cli.options import with_extra
from translator.data.compact import CompactCorpus
from translator.data.corpus import CorpusError
from translator.data.mixing import extra_tags, mix_repeats, parse_extra, prepare_mixed
from translator.data.prepare import prepare


@pytest.mark.parametrize("spec, expected", [
    ("synth", ("synth", None)), ("synth:<bt>", ("synth", "<bt>")),
    ("/a/b:c/synth:<ft>", ("/a/b:c/synth", "<ft>")), ("dir:notatag", ("dir:notatag", None)),
])
def test_extra_specs(spec, expected):
    assert parse_extra(spec) == expected


def test_tags_join_the_vocabulary_from_the_command_line():
    args = parser().parse_args(["train", "--out", "x", "--extra", "s1:<bt>", "--extra", "s2",
                                "--extra", "s3:<bt>", "--extra-ratio", "0.5"])
    cfg = with_extra(tiny_config(), args.extra, args.extra_ratio)
    assert cfg.data.extra == ["s1:<bt>", "s2", "s3:<bt>"] and cfg.data.extra_ratio == 0.5
    assert cfg.vocab.symbols == ["<bt>"] == extra_tags(cfg.data.extra)
    with pytest.raises(Exception, match="extra_ratio must be positive"):
        with_extra(tiny_config(), None, 0.0)


def without_held_out(real, synth) -> None:
    """Leave out of `synth`'s training pairs those sharing a line with `real`'s validation
    and test sets (short random sentences of a small vocabulary do meet)."""
    held = {line for split in ("val", "test_2016_flickr") for lang in (SRC, TGT)
            for line in (real / f"{split}.{lang}").read_text().splitlines()}
    pairs = list(zip(*((synth / f"train.{lang}").read_text().splitlines()
                       for lang in (SRC, TGT))))
    kept = [(s, t) for s, t in pairs if s not in held and t not in held]
    for lang, lines in zip((SRC, TGT), zip(*kept)):
        (synth / f"train.{lang}").write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def corpora(tmp_path):
    real = write_reverse_corpus(tmp_path / "real", seed=0)  # 3,000 training pairs
    synth = write_reverse_corpus(tmp_path / "synth", seed=1)
    without_held_out(real, synth)
    return real, synth, tmp_path / "cache"


def test_the_mix_repeats_the_real_pairs_and_tags_the_synthetic_sources(corpora):
    real, synth, cache = corpora
    cfg = with_extra(tiny_config(), [f"{synth}:<bt>"], 0.5)  # 3,000 extra: real x2
    mixed = prepare_mixed(cfg, real, SRC, TGT, cache, processes=1, progress=False)
    plain = prepare(cfg, real, SRC, TGT, cache, 1, progress=False)
    tag = mixed.src_tok.sp.piece_to_id("<bt>")
    assert mixed.src_tok.sp.is_control(tag)
    n = len(plain.corpus)
    extra = CompactCorpus.load(next(p for p in (cache / "corpora").iterdir()
                                    if p != plain.directory))
    assert len(mixed.corpus) == 2 * n + len(extra)
    assert mixed.corpus.pair(0) == plain.corpus.pair(0) == mixed.corpus.pair(n)
    for i in (0, len(extra) - 1):
        src, tgt = mixed.corpus.pair(2 * n + i)
        assert src == [tag, *extra.pair(i)[0]] and tgt == extra.pair(i)[1]
    first_real = [mixed.corpus.pair(i)[0][0] for i in range(2 * n)]
    assert tag not in first_real  # real sources are never tagged
    assert mixed.record["extra"] == [{"data": str(synth.resolve()), "tag": "<bt>"}]
    again = prepare_mixed(cfg, real, SRC, TGT, cache, processes=1, progress=False)
    assert again.directory == mixed.directory  # from the cache
    untagged = prepare_mixed(with_extra(tiny_config(), [str(synth)], 1.0), real, SRC, TGT,
                             cache, processes=1, progress=False)
    assert len(untagged.corpus) == n + len(extra)  # (another vocabulary: no symbol)
    first = (synth / f"train.{SRC}").read_text().splitlines()[0]
    assert untagged.src_tok.decode([untagged.corpus.pair(n)[0]]) == [first]


@pytest.mark.parametrize("n_real, n_extra, ratio, expected", [
    (100, 500, 1.0, (5, 1)), (100, 500, 0.5, (10, 1)), (100, 100, 1.0, (1, 1)),
    (100, 100, 2.0, (1, 2)), (100, 30, 1.0, (1, 3)), (100, 500, 5.0, (1, 1)),
    (100, 0, 1.0, (1, 1)), (0, 50, 1.0, (1, 1))])
def test_the_mix_keeps_the_ratio_by_repeating_the_smaller_side(n_real, n_extra, ratio, expected):
    assert mix_repeats(n_real, n_extra, ratio) == expected


def test_extra_pairs_equal_to_an_evaluation_line_are_left_out(corpora, caplog):
    real, synth, cache = corpora
    cfg = with_extra(tiny_config(), [f"{synth}:<bt>"], 1.0)
    clean = prepare_mixed(cfg, real, SRC, TGT, cache, processes=1, progress=False)
    test_target = (real / f"test_2016_flickr.{TGT}").read_text().splitlines()[7]
    val_source = (real / f"val.{SRC}").read_text().splitlines()[2]
    for lang, index, line in ((TGT, 3, test_target), (SRC, 10, val_source)):
        lines = (synth / f"train.{lang}").read_text().splitlines()
        lines[index] = line  # a reference of the test set; a source of the validation set
        (synth / f"train.{lang}").write_text("".join(line + "\n" for line in lines))
    (real / f"val.{SRC}").write_text((real / f"val.{SRC}").read_text() + "\n")  # a blank
    caplog.set_level("WARNING", logger="translator.data.mixing")
    mixed = prepare_mixed(cfg, real, SRC, TGT, cache, processes=1, progress=False)
    assert len(mixed.corpus) == len(clean.corpus) - 2  # the two pairs, once each (x1)
    assert "2 extra pair(s) left out of the mix" in caplog.text
    held = {tuple(mixed.src_tok.encode([val_source])[0]),
            tuple(mixed.tgt_tok.encode([test_target])[0])}
    tag = mixed.src_tok.symbol_id("<bt>")
    for i in range(len(mixed.corpus)):
        src, tgt = mixed.corpus.pair(i)
        if src and src[0] == tag:
            assert tuple(src[1:]) not in held and tuple(tgt) not in held


def test_a_tag_outside_the_vocabulary_is_refused(corpora):
    real, synth, cache = corpora
    cfg = tiny_config().override("data", extra=[f"{synth}:<bt>"])  # no vocab.symbols
    with pytest.raises(CorpusError, match="not a symbol of the vocabulary"):
        prepare_mixed(cfg, real, SRC, TGT, cache, processes=1, progress=False)


def test_a_run_trains_on_the_mix_and_records_it(corpora, tmp_path):
    from translator.checkpoint import load_checkpoint
    from translator.training.pairs import train_run

    real, synth, cache = corpora
    cfg = with_extra(tiny_config(max_steps=5, eval_every=0, save_every=0, average_last=0),
                     [f"{synth}:<bt>"], 1.0)
    train_run(cfg, real, SRC, TGT, tmp_path / "run", progress=False, test_beams=(),
              cache_dir=cache, echo=lambda message: None)
    saved = load_checkpoint(tmp_path / "run" / "best.pt")
    assert saved["config"]["data"]["extra"] == [f"{synth}:<bt>"]
    assert saved["config"]["vocab"]["symbols"] == ["<bt>"]
    assert saved["corpus"]["extra"][0]["tag"] == "<bt>"
