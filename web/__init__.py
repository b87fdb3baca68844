"""The Flask front end: pages, the JSON API (/api/v1) and a LibreTranslate-compatible API.

It never imports torch or the translator's model code: jobs are sent to the Celery workers by
task name (`worker.intake`) and read back from their records in Redis.

    flask --app web run                       # development
    gunicorn --preload web.wsgi:app           # production (what `translator serve` runs)
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from flask import Flask
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from worker.celery_app import make_app as make_celery
from worker.intake import Intake
from worker.settings import Settings
from worker.store import JobStore

from .errors import register_error_handlers
from .extensions import csrf, limiter


def _secret_key(settings: Settings) -> str:
    """SECRET_KEY, or a random one kept in STATE_DIR (shared by all gunicorn workers)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.state_dir, "secret_key")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # exclusive create: concurrent gunicorn workers agree on one key
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    for _ in range(50):  # another process may be writing it right now
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it or set SECRET_KEY")


CSP = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
    "img-src": "'self' data:", "object-src": "'none'", "base-uri": "'none'",
    "form-action": "'self'", "frame-ancestors": "'none'",
}
"""The pages' Content-Security-Policy: our own static script and style only (no inline
script or style anywhere), no framing."""


def secure_headers(app: Flask, settings: Settings) -> None:
    """Security headers on every response (Flask-Talisman): the CSP above, nosniff, no
    framing, a Referrer-Policy, and HttpOnly, SameSite=Lax session cookies; HSTS and Secure
    cookies only with TLS=1 (`make run` serves plain HTTP on loopback). No redirect to https:
    the TLS proxy in front does that, and health checks call the app over plain HTTP."""
    Talisman(app, force_https=False, strict_transport_security=settings.tls,
             session_cookie_secure=settings.tls, session_cookie_http_only=True,
             session_cookie_samesite="Lax", content_security_policy=CSP,
             frame_options="DENY", referrer_policy="same-origin",
             x_content_type_options=True, permissions_policy={
                 "camera": "()", "microphone": "()", "geolocation": "()"})


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory. `test_config` may hold Flask settings and a `SETTINGS` object."""
    app = Flask(__name__)
    test_config = dict(test_config or {})
    settings: Settings = test_config.pop("SETTINGS", None) or Settings.from_env()
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        # The largest request: a document and its reference, as multipart form data.
        MAX_CONTENT_LENGTH=2 * settings.max_document_bytes + 64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down: serve (and answer 503), do not crash
        RATELIMIT_HEADERS_ENABLED=True,
        # no limit at all: no check on every request
        RATELIMIT_ENABLED=bool(settings.job_rate_limit().limit or settings.key_rate_limit
                               or ((settings.api_keys or settings.admin_keys)
                                   and settings.open_web_form and settings.form_rate_limit)),
    )
    app.config.update(test_config)
    app.json.sort_keys = False  # answers keep the order they are built in
    app.extensions["settings"] = settings
    store, celery = JobStore(settings), make_celery(settings)
    app.extensions["store"] = store
    app.extensions["intake"] = Intake(store, celery)
    app.extensions["celery"] = celery

    if settings.proxy_hops:  # the client's address and scheme as the proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,
                                x_proto=settings.proxy_hops)
    csrf.init_app(app)
    limiter.init_app(app)
    secure_headers(app, settings)

    # auth, filters and health add their views and filters to pages.bp as they are imported
    from . import api, auth, compare, filters, health, libre, pages  # noqa: F401

    app.register_blueprint(pages.bp)
    app.register_blueprint(compare.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(compare.api, url_prefix="/api/v1")
    app.register_blueprint(libre.bp)
    csrf.exempt(api.bp)  # API clients authenticate with keys; the pages' own JS sends a token
    csrf.exempt(compare.api)
    csrf.exempt(libre.bp)
    register_error_handlers(app)
    return app
