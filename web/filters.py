"""What the templates see besides their views' variables: the filters `when`, `duration` and
`size`, and the names every template may use (language names, the limits, the beam range, the
low-confidence mark, download names). Registered app-wide through the pages' blueprint."""

from __future__ import annotations

from datetime import datetime, timezone

from translator.defaults import LOW_CONFIDENCE, MAX_BEAM, MIN_BEAM

from .access import job_char_limit, keys_required, logged_in, text_char_limit
from .downloads import download_name, format_label
from .extensions import language_name, pair_label, settings
from .pages import bp
from .workbench import MAX_SYSTEMS


@bp.app_template_filter("when")
def when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


@bp.app_template_filter("size")
def size(chars: int | None) -> str:
    if not chars:
        return "—"
    return f"{chars:,} chars" if chars < 10_000 else f"{chars / 1000:,.0f}k chars"


@bp.app_context_processor
def inject() -> dict:
    return {"pair_label": pair_label, "language_name": language_name,
            "limits": settings(), "min_beam": MIN_BEAM,
            "max_beam": MAX_BEAM, "low_confidence": LOW_CONFIDENCE,
            "format_label": format_label, "download_name": download_name,
            "logged_in": logged_in, "keys_required": keys_required,
            "text_char_limit": text_char_limit, "job_char_limit": job_char_limit,
            "max_systems": MAX_SYSTEMS}
