"""Helpers the tests import (`from helpers import ...`): the synthetic reverse-the-words task,
the test workers, and waiting for jobs. The fixtures built on them are in conftest.py."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from pathlib import Path

from translator.config import preset

SRC, TGT = "xx", "yy"


WORDS = ["red", "blue", "cat", "dog", "sun", "moon", "tree", "fish", "bird", "star", "rock",
         "leaf"]


SPLITS = {"train": 3000, "val": 100, "test_2016_flickr": 100}


def reverse_pairs(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Source: 3..8 random words; target: the same words in reverse order."""
    pairs = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


LANGS = ("xx", "yy", "zz")
"""The three languages of the synthetic multilingual task (`write_three_way_corpus`)."""

YY_WORDS = dict(zip(WORDS, ["rojo", "azul", "gato", "perro", "sol", "luna", "arbol", "pez",
                            "ave", "estrella", "roca", "hoja"]))
ZZ_WORDS = dict(zip(WORDS, ["rot", "blau", "katze", "hund", "sonne", "mond", "baum", "fisch",
                            "vogel", "stern", "fels", "blatt"]))


def three_way(words: list[str]) -> dict[str, str]:
    """One sentence in the three languages, each with its own words: xx the words, yy their
    translations in reverse order, zz their translations in order (so every direction is a
    deterministic transform, and a source tells its language)."""
    return {"xx": " ".join(words), "yy": " ".join(YY_WORDS[w] for w in reversed(words)),
            "zz": " ".join(ZZ_WORDS[w] for w in words)}


REAL_CODES = dict(zip(LANGS, ("en", "es", "de")))
"""Real language codes for the three synthetic languages (xx has English words, yy Spanish,
zz German ones), which a language detector recognises: for `source=auto`."""


def write_three_way_corpus(directory: Path, seed: int = 0, train: int = 2000,
                           codes: dict[str, str] | None = None) -> Path:
    """A multi-way corpus in the Multi30K layout: {split}.xx / .yy / .zz aligned by line (or
    each language's file named by `codes`, such as REAL_CODES)."""
    codes = codes or {lang: lang for lang in LANGS}
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in {**SPLITS, "train": train}.items():
        lines = [three_way([rng.choice(WORDS) for _ in range(rng.randint(3, 8))])
                 for _ in range(n)]
        for lang in LANGS:
            (directory / f"{split}.{codes[lang]}").write_text(
                "".join(s[lang] + "\n" for s in lines))
    return directory


def write_reverse_corpus(directory: Path, seed: int = 0) -> Path:
    """Write the reverse task in the Multi30K layout: {split}.xx / {split}.yy."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in SPLITS.items():
        pairs = reverse_pairs(n, rng)
        (directory / f"{split}.{SRC}").write_text("".join(s + "\n" for s, _ in pairs))
        (directory / f"{split}.{TGT}").write_text("".join(t + "\n" for _, t in pairs))
    return directory


def make_document(n_sentences: int, seed: int = 0) -> str:
    """n lines of 3-6 of the reverse task's words (one sentence each), in paragraphs."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))))
        if rng.random() < 0.3:
            lines.append("")
    return "\n".join(lines) + "\n"


def tiny_config(**train):
    """The tiny preset on one thread, with train-section overrides."""
    return preset("tiny").override("train", threads=1, **train)


def step_config():
    """The tiny preset without dropout: updates that must agree between one process and
    several ranks (tests/test_distributed.py)."""
    return tiny_config(max_steps=3, save_every=0).override("model", dropout=0.0,
                                                             emb_dropout=0.0)


def step_parts() -> list:
    """One batch of 12 pairs cut unevenly in two (3 and 9 pairs, so the ranks hold different
    numbers of tokens)."""
    import numpy as np

    return [np.arange(0, 3), np.arange(3, 12)]


# The reverse task's validation BLEU (one thread, seed 1234): ~31 at step 100, ~82 at 200,
# ~86 at 300, 100 at 400 and 500. The tests downstream need 95 or more: 500 steps leave one
# validation of margin (about 50 s on a loaded 2-core machine; no time limit, see conftest).
TRAINED_STEPS = 500


# ------------------------------------------------------------------ queue: real Redis + workers
ROOT = Path(__file__).resolve().parent.parent


PAIR = f"{SRC}-{TGT}"
FORM_PAIR = {"source": SRC, "target": TGT}  # what the pages' forms send


def children_of(pid: int) -> list[int]:
    """PIDs of a process's direct children."""
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class WorkerSet:
    """The test's real Celery workers (an interactive thread-pool worker and a prefork one),
    under the same Supervisor as `translator serve`; `supervise()` restarts any that exits,
    as serve and compose's restart policy do."""

    def __init__(self, env: dict, log_dir: Path):
        from worker.serve import Supervisor, worker_command
        from worker.settings import Settings

        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.settings = Settings.from_env(self.env, dotenv=None)
        self.commands = {
            "text": worker_command(self.settings, "text", 8, "text", "INFO"),
            "docs": worker_command(self.settings, "docs", 2, "docs", "INFO"),
        }
        self.log_dir = log_dir
        self.supervisor = Supervisor(max_restarts=20)
        self._stop = threading.Event()
        self._supervising: threading.Thread | None = None

    @property
    def procs(self) -> dict[str, subprocess.Popen]:
        return self.supervisor.procs

    def start(self, name: str) -> None:
        self.supervisor.add(name, self.commands[name], self.env,
                            log=self.log_dir / f"{name}.log")

    def stop(self, name: str) -> None:
        self.supervisor.stop(name)

    def supervise(self) -> None:
        def loop():
            while not self._stop.wait(0.2):
                self.supervisor.check()

        self._supervising = threading.Thread(target=loop, daemon=True)
        self._supervising.start()

    def stop_all(self) -> None:
        self._stop.set()
        if self._supervising is not None:  # no restart may race with the stop
            self._supervising.join()
        self.supervisor.stop()

    def children(self, name: str) -> list[int]:
        """PIDs of a worker's pool processes."""
        return children_of(self.procs[name].pid)

    def wait_ready(self, app, names=("text", "docs"), timeout: float = 60) -> None:
        from worker.serve import wait_for_workers

        try:
            wait_for_workers(app, names, timeout, self.procs)
        except RuntimeError as exc:
            logs = {n: (self.log_dir / f"{n}.log").read_text()[-2000:] for n in names}
            raise RuntimeError(f"{exc}; logs:\n{logs}") from None


def wait_for_progress(store, job_id: str, timeout: float = 30) -> dict:
    """Wait until some of the job's sentences are translated (it is mid-way)."""
    deadline = time.monotonic() + timeout
    while (job := store.get_job(job_id))["done"] == 0:
        assert time.monotonic() < deadline, f"job {job_id} made no progress: {job}"
        time.sleep(0.02)
    return job


def wait_for_job(store, job_id: str, timeout: float = 60, until=("done", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job["status"] in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


def csrf_token(client, path: str = "/") -> str:
    import re

    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def wait_api_job(client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").get_json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def zip_bytes(members: dict[str, bytes], method: int | None = None) -> bytes:
    """A zip archive of `members` (name -> bytes), deflated unless `method` says otherwise:
    the format tests' hand-made Office files, zip bombs and impostors."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if method is None else method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()

