"""The one source of each default shared across the project: decoding, evaluation, test sets.

The library (`Translator`, `SearchConfig`, `evaluate_checkpoints`), the `translator` command,
the worker's settings and job validation, the web forms and the benchmarks take their defaults
from here, so a default is changed in one place. This module imports nothing (the web app
imports it without loading torch).
"""

BEAM_SIZE = 5
"""Default beam size of translation and evaluation (1 = greedy search)."""

MIN_BEAM = 1
MAX_BEAM = 12
"""The beam sizes accepted from jobs and forms: MIN_BEAM to MAX_BEAM inclusive."""

BATCH_TOKENS = 4000
"""Source tokens x beam per decoding batch. (Not training's token budget per batch,
`TrainConfig.batch_tokens` in translator/config.py, which is part of a run's configuration.)"""

BATCH_MAX_SEGMENTS = 512
"""Most segments the interactive worker's micro-batcher decodes as one batch (worker/batcher.py;
the setting BATCH_MAX_SEGMENTS, where 1 turns micro-batching off)."""

LENGTH_PENALTY = 1.0
"""GNMT length-penalty exponent alpha: hypotheses are ranked by log p / ((5 + len) / 6) ** alpha;
0 = no length normalisation. 1.0 was chosen on validation for three models (De->En at 1,700
and 7,000 updates, En->De at 1,500): each preferred 1.0-1.6 to 0.6 and gained 0.18-0.31 test
BLEU at 1.0 (benchmarks/length_penalty.py, benchmarks/RESULTS.md)."""

TEST_SPLIT = "test_2016_flickr"
"""The Multi30K test set scored after training and evaluated by default."""

EVALUATION_SPLITS = ("val", "test_2016_flickr", "test_2017_flickr", "test_2018_flickr",
                     "test_2017_mscoco")
"""Multi30K's validation and test splits: no line of them may become training data
(back-translation refuses them; the task-2 captions drop them)."""

MULTILINGUAL_CALIBRATION_SENTENCES = 500
"""Validation lines per direction a multilingual model's confidence calibrations are fitted on
(a checkpoint's by translator/training/calibrate.py, an ensemble's by
translator/inference/ensemble.py): the same sample for every direction."""

MULTILINGUAL_VAL_SENTENCES = 200
"""Validation sentences per direction of a multilingual run when `train.eval_max_sentences` is
0: a fixed sample (the same lines for every direction), so that twelve directions cost about
2.4 bilingual validations, not twelve."""

MULTI30K_DIR = "../shared/data/multi30k"
"""Default corpus directory (Multi30K layout); the environment variable MULTI30K_DIR overrides
it where the code reads that variable (the `translator` command, the worker, the benchmarks)."""

CACHE_DIR = "~/.cache/translator"
"""Where training keeps prepared corpora and SentencePiece models (translator/data/prepare.py); the
environment variable TRANSLATOR_CACHE and `--cache-dir` override it."""

LOW_CONFIDENCE = 0.25
"""Translations whose confidence (0..1, translator/inference/confidence.py) is below this are
flagged as doubtful on the pages; chosen from the confidence deciles in benchmarks/RESULTS.md."""

MAX_UNZIPPED_BYTES = 50_000_000
"""Largest total uncompressed size of an uploaded Office file (docx, odt, pptx): checked from
the zip's directory before any member is read, in the web and in the worker."""

MAX_ZIP_RATIO = 100
"""Largest uncompressed/compressed size ratio of an Office file's members (a zip bomb's is in
the thousands; real documents' XML stays below about 20)."""

PIVOT_LANGUAGE = "en"
"""The language every other is paired with: the serving pivot (a pair without a model goes
through it: the setting PIVOT_LANGUAGE, worker/settings.py) and the hub of English-centric
multilingual training (`translator train --langs ... --english-centric`)."""
