"""The WSGI entry point of production servers: `gunicorn --preload web.wsgi:app` (what
`translator serve` runs). The app and its language detector are built here, before gunicorn
forks its workers, so that every worker shares one copy of the detector's models (they are
only read); the first `source=auto` request does not wait for them either.

The app cannot see gunicorn's --bind: WEB_HOST tells it (`translator serve` sets it to its
--host). Without it the app takes itself to be reachable by others, and RATE_LIMIT=auto keeps
its per-address limit on (Settings.job_rate_limit)."""

from __future__ import annotations

from . import create_app

app = create_app()
app.extensions["intake"].detector().load()
