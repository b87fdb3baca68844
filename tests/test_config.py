"""Tests for translator.config: strict sections, presets, YAML files."""

from __future__ import annotations

import pytest

from translator.config import (
    PRESETS,
    Config,
    ConfigError,
    ModelConfig,
    load_config,
    preset,
)


def test_defaults_are_valid():
    cfg = Config.from_dict({})
    assert cfg == Config()
    assert cfg.model.decoder == "fused" and cfg.train.device == "cpu"


def test_unknown_key_in_section_rejected():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in section 'model': hiden_size"):
        Config.from_dict({"model": {"hiden_size": 3}})


def test_unknown_section_rejected():
    with pytest.raises(ConfigError, match=r"unknown section\(s\): optimizer"):
        Config.from_dict({"optimizer": {"lr": 1.0}})


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("model", "emb_dim", "256"),  # string for int
        ("model", "emb_dim", True),  # bool for int
        ("model", "emb_dim", 256.0),  # float for int
        ("train", "lr", "fast"),  # string for float
        ("train", "lr", False),  # bool for float
        ("train", "amp", 1),  # int for bool
        ("train", "device", 0),  # int for str
        ("vocab", "joint", "yes"),  # string for bool
    ],
)
def test_wrong_type_rejected(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be"):
        Config.from_dict({section: {key: value}})


def test_int_accepted_for_float_and_coerced():
    cfg = Config.from_dict({"train": {"lr": 1, "max_minutes": 5}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert isinstance(cfg.train.max_minutes, float)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("model", "decoder", "gru"),
        ("vocab", "model_type", "word"),
        ("train", "schedule", "linear"),
        ("train", "device", "tpu"),
    ],
)
def test_bad_choice_rejected(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be one of"):
        Config.from_dict({section: {key: value}})


def test_section_validation():
    with pytest.raises(ConfigError, match=r"vocab\.size must be at least 16"):
        Config.from_dict({"vocab": {"size": 8}})
    with pytest.raises(ConfigError, match="dropout"):
        Config.from_dict({"model": {"dropout": 1.0}})
    with pytest.raises(ConfigError, match="tie_embeddings needs attn_dim == emb_dim"):
        Config.from_dict({"model": {"attn_dim": 128}})
    cfg = Config.from_dict({"model": {"attn_dim": 128, "tie_embeddings": False}})
    assert cfg.model.attn_dim == 128


def test_section_must_be_mapping():
    with pytest.raises(ConfigError, match="section 'model' must be a mapping"):
        Config.from_dict({"model": [1, 2]})
    with pytest.raises(ConfigError, match="must be a mapping"):
        Config.from_dict(["model"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a mapping"):
        ModelConfig.from_dict("x", "model")
    assert Config.from_dict({"model": None}) == Config()


@pytest.mark.parametrize("name", ["tiny", "base"])
def test_presets_load(name):
    cfg = preset(name)
    assert isinstance(cfg, Config)
    for section, values in PRESETS[name].items():
        for key, value in values.items():
            assert getattr(getattr(cfg, section), key) == value


def test_tiny_preset_values_and_isolation():
    cfg = preset("tiny")
    assert cfg.model.emb_dim == 64 and cfg.vocab.size == 64
    assert cfg.train.schedule == "constant"
    assert preset("base") == Config()
    cfg.model.emb_dim = 1  # mutating one result must not leak into the next
    assert preset("tiny").model.emb_dim == 64


def test_unknown_preset_rejected():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        preset("huge")


def test_override_keeps_base_and_checks():
    base = preset("tiny")
    cfg = base.override("train", max_steps=10)
    assert cfg.train.max_steps == 10 and cfg.model.emb_dim == 64
    assert base.train.max_steps == 0
    with pytest.raises(ConfigError):
        base.override("train", max_step=10)


def test_yaml_file_override(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "model:\n  decoder: input_feeding\n  dropout: 0.1\ntrain:\n  lr: 0.0005\n  max_steps: 20\n",
        encoding="utf-8",
    )
    cfg = load_config(path, base=preset("tiny"))
    assert cfg.model.decoder == "input_feeding"
    assert cfg.model.dropout == 0.1
    assert cfg.train.lr == 0.0005 and cfg.train.max_steps == 20
    assert cfg.model.emb_dim == 64  # from the tiny preset
    assert cfg.train.schedule == "constant"
    default_based = load_config(path)
    assert default_based.model.emb_dim == Config().model.emb_dim


def test_empty_yaml_gives_base(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n", encoding="utf-8")
    assert load_config(path) == Config()


def test_yaml_unknown_key_rejected(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(path)


def test_yaml_non_mapping_rejected(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("- model\n- train\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)


def test_invalid_yaml_rejected(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("model: [unclosed\n  decoder: : fused\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError):
        load_config(binary)


def test_missing_yaml_rejected(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["tiny", "base"])
def test_to_dict_from_dict_round_trip(name):
    cfg = preset(name).override("model", decoder="input_feeding")
    data = cfg.to_dict()
    assert set(data) == {"data", "vocab", "model", "train"}
    again = Config.from_dict(data)
    assert again == cfg
    assert again.to_dict() == data


def test_yaml_dump_round_trip(tmp_path):
    import yaml

    cfg = preset("tiny")
    path = tmp_path / "dumped.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()), encoding="utf-8")
    assert load_config(path) == cfg


def test_checkpoint_config_leaves_out_later_keys_at_their_defaults():
    """A default run's checkpoint has no key that releases before accum_steps reject; a run
    that used them keeps them; both read back to the same config."""
    from translator.config import LATER_TRAIN_KEYS

    cfg = preset("base")
    saved = cfg.for_checkpoint()
    assert not set(LATER_TRAIN_KEYS) & set(saved["train"])
    assert Config.from_dict(saved) == cfg
    accumulated = cfg.override("train", accum_steps=4)
    assert accumulated.for_checkpoint()["train"]["accum_steps"] == 4
    assert Config.from_dict(accumulated.for_checkpoint()) == accumulated


def test_emb_scale_is_the_quick_presets_and_absent_keys_mean_the_old_model():
    from translator.config import LATER_MODEL_KEYS

    assert preset("quick").model.emb_scale and not preset("base").model.emb_scale
    assert preset("quick") == Config().override("model", emb_scale=True)  # nothing else
    assert "emb_scale" in LATER_MODEL_KEYS
    old = preset("tiny").for_checkpoint()
    assert "emb_scale" not in old["model"]  # loads in 0.1.0, whose config rejects the key
    assert Config.from_dict(old).model.emb_scale is False  # and reads back as it was trained
    new = preset("quick").for_checkpoint()
    assert new["model"]["emb_scale"] is True and Config.from_dict(new) == preset("quick")
