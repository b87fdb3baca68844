"""The pages' login: `/login` and `/logout`, and the check before every page that sends a
browser without a key to the login page when the pages need one (web/access.py decides who
the caller is and whether a key is needed)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, redirect, render_template, request, url_for

from .access import log_in, log_out, pages_need_login
from .forms import CancelForm, LoginForm
from .pages import bp

OPEN_PAGES = {"pages.login", "pages.logout", "pages.status", "pages.healthz"}


@bp.before_request
def _ask_for_a_key():
    """With API_KEYS (and no OPEN_WEB_FORM), the pages ask for a key once; the status pages
    and the public leaderboard stay open."""
    if request.endpoint in OPEN_PAGES or not pages_need_login():
        return None
    if request.endpoint == "pages.checkpoints" and request.method == "GET":
        return None
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        if log_in(form.key.data or ""):
            target = request.args.get("next") or ""
            return redirect(target if _local_path(target) else url_for("pages.translate"))
        error = "this API key is not valid"
    elif request.method == "POST":
        error = "the form has expired; try again"
    return render_template("login.html", form=form, error=error), 403 if error else 200


def _local_path(target: str) -> bool:
    """Only a plain path of this site is a place to go after the login: never an open
    redirect (`//evil`, `/\\evil`, a control character browsers drop)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(ch) < 33 or ch in "\\\x7f" for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.post("/logout")
def logout():
    CancelForm().validate_on_submit() or abort(400, "missing CSRF token")
    log_out()
    return redirect(url_for("pages.login"))
