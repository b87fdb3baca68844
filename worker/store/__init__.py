"""The job store: the one owner of the project's Redis keys. Everything else (intake, tasks,
recovery, the web) reads and writes them through `JobStore`'s methods, over one Redis client.

- `keys`: every key's name, and the key layout (its docstring, repeated below);
- `client`: the Redis client, patient in the workers and quick to fail in the web;
- `jobs`: job records, blobs and results, pending-task bookkeeping, the indexes of jobs;
- `documents`: document jobs' layout, chunks and translated file;
- `system`: the workers' registry, the broker's queue lengths, Redis's health;
- `evaluations`: comparisons of evaluations, and an evaluation's deletion.
"""

from __future__ import annotations

from ..settings import Settings
from . import keys
from .client import PatientBackoff, connect, stop_riding_out
from .documents import ASSEMBLY_CLAIM_SECONDS, DocumentChunks
from .evaluations import COMPARISON_CLAIM_SECONDS, Comparisons
from .jobs import WAIT_SLICE
from .keys import PREFIX, key, new_job_id, valid_id
from .system import SystemState

# The key layout is written once, in keys.py; the package's docstring carries it, so that
# help(worker.store) shows it and tests/test_store.py checks real jobs' keys against it.
__doc__ = f"{__doc__}\n{keys.__doc__}"

__all__ = ["ASSEMBLY_CLAIM_SECONDS", "COMPARISON_CLAIM_SECONDS", "PREFIX", "WAIT_SLICE",
           "JobStore", "PatientBackoff", "key", "new_job_id", "stop_riding_out", "valid_id"]


class JobStore(DocumentChunks, SystemState, Comparisons):
    """Job records, inputs, outputs and the indexes, on one Redis (the broker's): the parts
    (worker/store/jobs.py, documents.py, system.py, evaluations.py) over one client."""

    def __init__(self, settings: Settings, patient: bool = False):
        """`patient` (the workers): ride out a Redis restart by retrying each command with
        backoff for about a minute; otherwise (the web) fail fast so the page can say 503."""
        super().__init__(connect(settings.redis_url, patient), settings)
