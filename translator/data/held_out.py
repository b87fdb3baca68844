"""Validation and test lines kept out of training: every text that becomes training data
besides the real corpus is checked against the evaluation splits of the parallel corpus it
trains beside. Monolingual text to back- or forward-translate that holds one of their lines is
refused (`translator backtranslate`, the recipe: the user's text, fixed before hours of work);
an extra pair mixed in with `--extra` with a side equal to one is left out of the mix
(translator/data/mixing.py: machine-made sources meet test sources now and then)."""

from __future__ import annotations

import logging
from pathlib import Path

from translator.data.corpus import CorpusError, find_split_file, normalize, read_lines
from translator.defaults import EVALUATION_SPLITS

log = logging.getLogger(__name__)


def evaluation_lines(data_dir: str | Path | None, langs: tuple[str, ...]) -> set[str]:
    """Every non-empty line of `data_dir`'s evaluation splits in `langs` (normalised as
    corpora are). A directory that is not there is an error (the check would silently not
    happen); one with no evaluation split in these languages is allowed, with a warning."""
    out: set[str] = set()
    if data_dir is None:
        return out
    if not Path(data_dir).is_dir():
        raise CorpusError(f"{data_dir} is not a directory: training text is checked against "
                          f"the validation and test sets of the parallel corpus there (--data)")
    for split in EVALUATION_SPLITS:
        for lang in langs:
            try:
                out.update(normalize(line) for line in read_lines(
                    find_split_file(data_dir, split, lang)))
            except CorpusError:
                continue  # that split or language is not there
    out.discard("")  # a blank line is no sentence to keep out
    if not out:
        log.warning("%s has no validation or test split in %s: nothing to keep out of the "
                    "training data", data_dir, " or ".join(langs))
    return out


def refuse_evaluation_lines(lines: list[str], forbidden: set[str], path: str | Path) -> None:
    found = [line for line in lines if line in forbidden]
    if found:
        raise CorpusError(f"{path} holds {len(found)} line(s) of the evaluation sets (e.g. "
                          f"{found[0][:80]!r}): remove them; validation and test lines never "
                          f"become training data")
