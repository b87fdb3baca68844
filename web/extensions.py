"""Flask extensions shared by the blueprints, and small helpers to reach the app's services."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from translator.inference.detection import language_name as detection_name
from worker.intake import Intake
from worker.settings import Settings
from worker.store import JobStore

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def store() -> JobStore:
    """The job store: records, results, the leaderboard cache."""
    return current_app.extensions["store"]


def intake() -> Intake:
    """Job submission and cancellation."""
    return current_app.extensions["intake"]


def celery():
    """The Celery app, as a client (sends tasks by name, asks workers)."""
    return current_app.extensions["celery"]


def settings() -> Settings:
    return current_app.extensions["settings"]


TEST_LANGUAGE_NAMES = {"xx": "Test source", "yy": "Test target"}


def language_name(code: str) -> str:
    """A language's English name (translator/inference/detection.py knows Lingua's 75)."""
    return TEST_LANGUAGE_NAMES.get(code) or detection_name(code)


def pair_label(pair: str) -> str:
    src, _, tgt = pair.partition("-")
    return f"{language_name(src)} → {language_name(tgt)}"
