"""Who is calling and what they may see: the one place the web decides about keys, sessions
and job ownership.

- A caller is an API key (the `api_key` field or the X-API-Key header) when one of API_KEYS
  is given; else a browser session that logged in with a key (the session keeps the key's
  hash, never the key); else the browser session itself (a random id in the signed session
  cookie). Its `owner` is what job records hold: `key:<hash>` or `session:<hash>`.
- With API_KEYS set, the APIs need a key, or a logged-in session whose request carries the
  page's CSRF token (the pages' own script); a CSRF token alone is never a key. The pages ask
  for a key once (`/login`) unless OPEN_WEB_FORM lets them submit without one, under
  FORM_RATE_LIMIT and FORM_MAX_CHARS.
- A job is visible to its owner and to ADMIN_KEYS; evaluations of checkpoints on named test
  sets to all unless PRIVATE_EVALUATIONS (an uploaded system's or an uploaded test set's only
  to its owner: they are the user's data). Without API_KEYS a job's id is the capability for
  it (anyone who has the id sees the job, as the README's curl flow needs); lists show only
  the caller's jobs either way. Anyone else gets a 404 (an id reveals nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from flask import abort, g, request, session
from flask_wtf.csrf import ValidationError, validate_csrf

from worker.errors import JobNotFound
from worker.intake import Submitter
from worker.records import Job, Kind

from .extensions import limiter, settings, store


def key_hash(key: str) -> str:
    """How records and sessions name a key (never the key itself)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def api_keys() -> list[str]:
    """Every key that authenticates: API_KEYS and ADMIN_KEYS."""
    keys = f"{settings().api_keys},{settings().admin_keys}"
    return [k.strip() for k in keys.split(",") if k.strip()]


def keys_required() -> bool:
    return bool(api_keys())


@dataclass(frozen=True)
class Caller:
    owner: str
    keyed: bool = False  # an API key, or a session logged in with one
    admin: bool = False


def _given_key() -> str | None:
    given = request.headers.get("X-API-Key") or request.args.get("api_key")
    if given is None and request.is_json:
        body = request.get_json(silent=True)
        given = body.get("api_key") if isinstance(body, dict) else None
    if given is None and request.form:
        given = request.form.get("api_key")
    return given if isinstance(given, str) and given else None


def valid_key(given: str) -> bool:
    raw = given.encode("utf-8", "surrogatepass")
    return any(hmac.compare_digest(raw, k.encode()) for k in api_keys())


def _admin_hashes() -> set[str]:
    return {key_hash(k.strip()) for k in settings().admin_keys.split(",") if k.strip()}


def caller() -> Caller:
    """This request's caller (the module docstring's rules), decided once per request."""
    if "caller" not in g:
        g.caller = _identify()
    return g.caller


def _identify() -> Caller:
    given = _given_key()
    if given is not None:  # a key given is the credential: a wrong one is no one's session
        if valid_key(given):
            digest = key_hash(given)
            return Caller(f"key:{digest}", keyed=True, admin=digest in _admin_hashes())
        return Caller(f"invalid:{key_hash(given)}")
    if logged_in():
        login = session["key"]
        return Caller(f"key:{login}", keyed=True, admin=login in _admin_hashes())
    sid = session.get("sid")
    if not isinstance(sid, str):
        sid = session["sid"] = secrets.token_urlsafe(24)
    return Caller(f"session:{key_hash(sid)}")


def log_in(key: str) -> bool:
    """Remember a valid key in the session (as its hash); False for an invalid one."""
    if not valid_key(key):
        return False
    session["key"] = key_hash(key)
    session.permanent = True
    g.pop("caller", None)
    return True


def logged_in() -> bool:
    """Whether this browser's session holds a valid key (the pages then offer to log out)."""
    login = session.get("key")
    return isinstance(login, str) and login in {key_hash(k) for k in api_keys()}


def log_out() -> None:
    session.pop("key", None)
    g.pop("caller", None)


def _page_token_valid() -> bool:
    token = request.headers.get("X-CSRFToken")
    if not token:
        return False
    try:
        validate_csrf(token)
        return True
    except ValidationError:
        return False


def check_api_key() -> None:
    """With keys required, an API request needs a key, or a session logged in with one (or
    one of the open web form, OPEN_WEB_FORM) together with the page's CSRF token; else 403."""
    if not keys_required():
        return
    if _given_key() is not None:
        if caller().keyed:
            return
        abort(403, "this API key is not valid")
    if _page_token_valid() and (caller().keyed or settings().open_web_form):
        return
    abort(403, "a valid API key is required (api_key field or X-API-Key header)")


def pages_need_login() -> bool:
    """Whether the pages must ask for a key before submitting jobs."""
    return keys_required() and not settings().open_web_form and not caller().keyed


def submitter() -> Submitter:
    """The caller as the intake records it, with the limits that apply to it."""
    who = caller()
    if who.keyed:
        return Submitter(who.owner, daily_chars=0 if who.admin else settings().key_daily_chars)
    if keys_required():  # the open web form
        return Submitter(who.owner, max_chars=settings().form_max_chars)
    return Submitter(who.owner)


def job_char_limit() -> int:
    """The most characters one job of this caller may have beyond the global limits (the
    open web form's FORM_MAX_CHARS); 0: none."""
    return submitter().max_chars


def text_char_limit() -> int:
    """The most characters the translate form accepts from this caller: MAX_TEXT_CHARS, or
    the open web form's lower FORM_MAX_CHARS (what the pages show and enforce)."""
    cap = job_char_limit()
    return min(settings().max_text_chars, cap) if cap else settings().max_text_chars


def owns(job: Job) -> bool:
    """Whether the caller is the job's owner, or an admin key (which owns every job)."""
    who = caller()
    return who.admin or (job.owner is not None and job.owner == who.owner)


def can_cancel(job: Job) -> bool:
    """Its owner and admin keys cancel a job (anyone, with no keys, who has its id); a public
    evaluation is visible to all but not theirs to cancel."""
    return owns(job) or not keys_required()


def public(job: Job) -> bool:
    """A checkpoint's evaluation on a named test set, unless PRIVATE_EVALUATIONS."""
    return job.kind == Kind.EVALUATION and job.testset != "upload" and not job.system \
        and not settings().private_evaluations


def can_delete(job: Job) -> bool:
    """Only its owner and admin keys delete an evaluation: unlike cancelling, deleting loses
    data, so without API_KEYS an id is not enough (public evaluations list their ids)."""
    return owns(job)


def deletable_job(job_id: str) -> Job:
    """The job if the caller may delete it; JobNotFound (404) otherwise."""
    job = visible_job(job_id)
    if not can_delete(job):
        raise JobNotFound(f"no job {str(job_id)[:40]!r} that you may delete")
    return job


def listed(job: Job) -> bool:
    """Whether a list (the leaderboard) may show the job to the caller: theirs, an admin's
    view, or a public evaluation; never "the id is the capability" (a list hands out ids)."""
    return owns(job) or public(job)


def can_see(job: Job) -> bool:
    """Whether the caller may open the job: what a list may show them, or, without API_KEYS,
    any job whose id they have (the id is the capability)."""
    return listed(job) or not keys_required()


def visible_job(job_id: str) -> Job:
    """The job if the caller may see it; JobNotFound (404) otherwise, as for no job."""
    job = store().require_job(job_id)
    if not can_see(job):
        raise JobNotFound(f"no job {str(job_id)[:40]!r} (it may have expired)")
    return job


def cancellable_job(job_id: str) -> Job:
    """The job if the caller may cancel it; JobNotFound (404) otherwise."""
    job = visible_job(job_id)
    if not can_cancel(job):
        raise JobNotFound(f"no job {str(job_id)[:40]!r} (it may have expired)")
    return job


def visible_result(job_id: str) -> tuple[Job, dict]:
    visible_job(job_id)
    return store().require_result(job_id)


def listed_owner() -> str | None:
    """Whose jobs a list shows: the caller's (None: every job, for an admin key)."""
    who = caller()
    return None if who.admin else who.owner


# Job-creating requests (POST) are limited three ways, each counted on all routes together:
# RATE_LIMIT per client address (as Settings.job_rate_limit resolves it: none on a private
# loopback server by default), KEY_RATE_LIMIT per API key (not for admin keys), and
# FORM_RATE_LIMIT per address for the open web form (OPEN_WEB_FORM, keys required, no key).
def address_limit() -> str:
    """The per-address limit in force on job requests ("": none)."""
    return settings().job_rate_limit().limit


_by_address = limiter.shared_limit(lambda: address_limit() or "1/second", scope="jobs",
                                   methods=["POST"], exempt_when=lambda: not address_limit())
_by_key = limiter.shared_limit(lambda: settings().key_rate_limit or "1/second", scope="key",
                               methods=["POST"], key_func=lambda: caller().owner,
                               exempt_when=lambda: not settings().key_rate_limit
                               or not caller().keyed or caller().admin)
_by_open_form = limiter.shared_limit(lambda: settings().form_rate_limit or "1/second",
                                     scope="form", methods=["POST"],
                                     exempt_when=lambda: not settings().form_rate_limit
                                     or not keys_required() or caller().keyed)


def job_limited(view):
    return _by_address(_by_key(_by_open_form(view)))


# A comparison is queued by a GET (the workbench's pages and API): it counts as a job request
# of the address, only when it queued one (a comparison stored or already queued costs nothing).
comparison_limited = limiter.shared_limit(
    lambda: address_limit() or "1/second", scope="jobs", methods=["GET"],
    exempt_when=lambda: not address_limit(),
    deduct_when=lambda response: bool(g.get("queued_comparison")))


# What a 429 of each limit above tells its caller besides when to try again.
WHAT_ELSE = {
    "jobs": "job requests per client address are limited to {limit} (RATE_LIMIT): on a "
            "server of your own, raise it or set RATE_LIMIT=none",
    "key": "job requests per API key are limited to {limit} (KEY_RATE_LIMIT)",
    "form": "job requests per address from the open web form are limited to {limit} "
            "(FORM_RATE_LIMIT): log in with an API key to send more",
}


def seconds_until_reset() -> int | None:
    """Seconds until the limit this request broke lets it through again, as Flask-Limiter's
    Retry-After header counts them (None: unknown, when the limiter's storage cannot say)."""
    broken = limiter.current_limit
    try:
        return max(1, int(broken.reset_at - time.time())) if broken else None
    except Exception:  # the storage failed after the hit: the message says "later"
        return None


def too_many_message(scope: str | None, limit: str, retry_after: int | None) -> str:
    """The message of a 429 from a job limit: which limit, when to try again, what else helps."""
    wait = f"try again in {retry_after} s" if retry_after else "try again later"
    advice = WHAT_ELSE.get(scope or "", "{limit}").format(limit=limit)
    return f"too many requests: {wait}; {advice}"
