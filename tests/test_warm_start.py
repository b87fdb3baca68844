"""Tests for translator/training/warm_start.py: a run that starts from another run's weights
(`translator train --init`), and the checkpoints it refuses."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import SRC, TGT, tiny_config

from translator.checkpoint import load_checkpoint
from translator.cli.main import main
from translator.errors import UserError
from translator.training.trainer import Trainer


def test_a_warm_started_run_begins_with_the_checkpoints_weights_and_a_new_schedule(
        trained_run, reverse_corpus, tmp_path):
    start = trained_run["dir"] / "best.pt"
    saved = load_checkpoint(start)
    # a small learning rate: a fresh Adam's first steps move every weight by about `lr`
    cfg = tiny_config(max_steps=4, eval_every=4, warmup_steps=2, lr=1e-4)
    trainer = Trainer(cfg, reverse_corpus, SRC, TGT, tmp_path / "warm", progress=False,
                      init_from=start)
    assert trainer.state.step == 0  # a new run: step, optimizer and schedule from nothing
    assert not trainer.optimizer.state
    assert trainer.src_tok.model_bytes == saved["spm"]["src"]  # its vocabulary, not a new one
    assert trainer.tgt_tok.model_bytes == saved["spm"]["tgt"]
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, saved["model"][name]), name
    summary = trainer.run()
    # four updates from a trained model keep what it knew; four from nothing learn nothing
    assert summary["best_val_bleu"] >= 90, summary
    fresh = Trainer(cfg, reverse_corpus, SRC, TGT, tmp_path / "fresh", progress=False).run()
    assert fresh["best_val_bleu"] < 20, fresh
    first = json.loads((tmp_path / "warm" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["type"] == "start" and first["init_from"] == str(start)
    torch.set_num_threads(1)


def test_a_checkpoint_of_other_settings_or_languages_is_refused(trained_run, reverse_corpus,
                                                                tmp_path):
    start = trained_run["dir"] / "best.pt"
    wider = tiny_config(max_steps=1).override("model", enc_hidden=48)
    with pytest.raises(UserError, match=r"settings differ.*model\.enc_hidden"):
        Trainer(wider, reverse_corpus, SRC, TGT, tmp_path / "a", progress=False,
                init_from=start)
    with pytest.raises(UserError, match="other languages"):
        Trainer(tiny_config(max_steps=1), reverse_corpus, TGT, SRC, tmp_path / "b",
                progress=False, init_from=start)
    tagged = tiny_config(max_steps=1).override("vocab", symbols=["<bt>"])
    with pytest.raises(UserError, match="its vocabulary has no <bt>"):
        Trainer(tagged, reverse_corpus, SRC, TGT, tmp_path / "c", progress=False,
                init_from=start)
    assert not any((tmp_path / name / "last.pt").exists() for name in "abc")


def test_dropout_and_the_vocabulary_settings_may_differ(trained_run, reverse_corpus, tmp_path):
    """Dropout shapes no weight; the vocabulary settings are the checkpoint's (its tokenizers
    are the run's), so other ones in the run's config are replaced, not refused."""
    start = trained_run["dir"] / "best.pt"
    cfg = tiny_config(max_steps=1).override("model", dropout=0.2).override("vocab", size=80)
    trainer = Trainer(cfg, reverse_corpus, SRC, TGT, tmp_path / "run", progress=False,
                      init_from=start)
    assert trainer.cfg.model.dropout == 0.2
    assert trainer.cfg.vocab.size == load_checkpoint(start)["config"]["vocab"]["size"] != 80
    torch.set_num_threads(1)


def test_cli_init(capsys, trained_run, reverse_corpus, tmp_path):
    out_dir = tmp_path / "run"
    code = main(["train", "--preset", "tiny", "--data", str(reverse_corpus), "--src", SRC,
                 "--tgt", TGT, "--out", str(out_dir), "--max-steps", "2", "--threads", "1",
                 "--no-test", "-q", "--init", str(trained_run["dir"] / "best.pt")])
    torch.set_num_threads(1)
    assert code == 0
    summary = json.loads((out_dir / "summary.json").read_text())
    first = json.loads((out_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert summary["step"] == 2 and first["init_from"] == str(trained_run["dir"] / "best.pt")
    assert summary["init_from"] == first["init_from"]  # kept in the checkpoints' state too
    code = main(["train", "--preset", "tiny", "--data", str(reverse_corpus), "--src", TGT,
                 "--tgt", SRC, "--out", str(tmp_path / "other"), "--max-steps", "2",
                 "--threads", "1", "-q", "--init", str(trained_run["dir"] / "best.pt")])
    torch.set_num_threads(1)
    err = capsys.readouterr().err
    assert code == 2 and "other languages" in err and "Traceback" not in err
