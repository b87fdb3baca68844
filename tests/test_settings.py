"""worker.settings: environment parsing, validation, .env files, and the table in
docs/settings.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from worker.settings import Settings, SettingsError, settings_table

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_docs_settings_table_matches_the_code():
    text = SETTINGS_DOC.read_text()
    table = text.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    rows = [line for line in table.strip().splitlines()[2:]]
    parsed = []
    for row in rows:
        name, default, meaning = (c.strip() for c in row.strip("|").split(" | ", 2))
        default = "" if default == "(empty)" else default.strip("`")
        parsed.append((name.strip("`"), default, meaning))
    assert parsed == settings_table()


def test_defaults_and_types():
    s = Settings.from_env({}, dotenv=None)
    assert s.redis_url == "" and s.torch_threads == 1
    s = Settings.from_env({"TORCH_THREADS": "3", "BATCH_WINDOW_MS": "2.5"}, dotenv=None)
    assert s.torch_threads == 3 and s.batch_window_ms == 2.5


@pytest.mark.parametrize("env, message", [
    ({"TORCH_THREADS": "two"}, "not a valid int"),
    ({"TORCH_THREADS": "0"}, "at least 1"),
    ({"DEVICE": "tpu"}, "DEVICE must be one of"), ({"PRECISION": "fp16"}, "PRECISION must be"),
    ({"DEVICE": "cuda", "PRECISION": "int8"}, "CPU only"), ({"WEB_THREADS": "0"}, "at least 1"),
    ({"MODELS": "de-en"}, "src-tgt=path"),
    ({"MODELS": "../x=a.pt"}, "src-tgt=path"),
    ({"TASK_TIME_LIMIT": "900"}, "VISIBILITY_TIMEOUT"),
    ({"TASK_SOFT_TIME_LIMIT": "400"}, "SOFT"),
    ({"WORKER_PAIRS": "fr-en"}, "without a model"),
])
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        s = Settings.from_env(env, dotenv=None)
        s.served_pairs()


def test_models_and_pairs():
    s = Settings.from_env({"MODELS": " de-en = a.pt , FR-EN=b.pt", "WORKER_PAIRS": "fr-en"},
                          dotenv=None)
    assert s.model_paths() == {"de-en": "a.pt", "fr-en": "b.pt"}
    assert s.served_pairs() == ["fr-en"]


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nBEAM_SIZE=3\nexport TORCH_THREADS='2'\nMAX_SEGMENTS=7\n")
    s = Settings.from_env({"MAX_SEGMENTS": "9"}, dotenv=env_file)
    assert (s.beam_size, s.torch_threads, s.max_segments) == (3, 2, 9)
    assert Settings.from_env({}, dotenv=tmp_path / "missing.env").beam_size == 5
    assert re.match(r"^\d+$", str(s.time_limit))


def test_auto_precision_is_int8_on_the_cpu_and_fp32_on_cuda():
    assert Settings.from_env({}, dotenv=None).decode_precision() == "int8"
    assert Settings.from_env({"DEVICE": "cuda"}, dotenv=None).decode_precision() == "fp32"
    assert Settings.from_env({"PRECISION": "bf16"}, dotenv=None).decode_precision() == "bf16"
