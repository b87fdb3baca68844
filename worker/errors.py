"""Why a job request cannot be served. The web maps each type to an HTTP status
(web/errors.py); these classes know nothing of HTTP. And `SettingsError`, a setting whose value
cannot be used (worker/settings.py and worker/models.py raise it; `from worker.settings import
SettingsError` still finds it)."""

from __future__ import annotations

from typing import Any


class JobError(Exception):
    """A job request that cannot be served; `job` is the record it concerns, if any."""

    def __init__(self, message: str, job: Any = None):
        super().__init__(message)
        self.message, self.job = message, job


class InputError(JobError):
    """The request's input is invalid: empty, binary, unknown pair, bad beam, ..."""


class TooLargeError(InputError):
    """An input over a size limit."""


class LimitError(JobError):
    """A limit on how much one caller may send (characters per day) is reached."""


class JobNotFound(JobError):
    """No such job (or it expired)."""


class JobStateError(JobError):
    """The job is in the wrong state: already finished, or no result yet."""


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""
