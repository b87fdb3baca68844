"""Every setting of the worker and the web, read from environment variables (and an optional
`.env` file in the working directory; real environment variables win).

Each field's metadata holds its variable name and meaning; the README's settings table is
checked against these fields by a test. What MODELS names (the models and the route of a pair
over them) is read by worker/models.py. Import this module without importing torch.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from translator.defaults import (
    BATCH_MAX_SEGMENTS,
    BATCH_TOKENS,
    BEAM_SIZE,
    MAX_BEAM,
    MAX_UNZIPPED_BYTES,
    MAX_ZIP_RATIO,
    MIN_BEAM,
    MULTI30K_DIR,
    PIVOT_LANGUAGE,
)
from translator.languages import valid_language

from .errors import SettingsError
from .models import directions, read_models, route_via

DEVICES = ("cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
PUBLIC_RATE_LIMIT = "60/minute;600/hour"
"""What RATE_LIMIT=auto is on a server others may reach (Settings.job_rate_limit)."""


@dataclass(frozen=True)
class JobRateLimit:
    """The per-address limit on job requests in force ("": none) and why it applies."""

    limit: str
    why: str

    def describe(self) -> str:
        if self.limit:
            return f"rate limit {self.limit} per client address ({self.why})"
        return f"no rate limit ({self.why})"


def _env(name: str, help: str, default):
    return field(default=default, metadata={"env": name, "help": help})


@dataclass(frozen=True)
class Settings:
    redis_url: str = _env("REDIS_URL", "Redis URL for broker, results and job records; empty: "
                          "start a private redis-server under STATE_DIR", "")
    state_dir: str = _env("STATE_DIR", "the embedded Redis's data (AOF) and URL, serve's lock "
                          "and the web's secret key", "var")
    models: str = _env("MODELS", "checkpoints by language pair: `de-en=path.pt,fr-en=path.pt`, "
                       "or a models directory of `translator train-pairs` (its index.json "
                       "lists the pairs), or both: `models/,de-fr=path.pt`; checkpoints "
                       "joined by `+` are an ensemble: `de-en=a.pt+b.pt`; a checkpoint "
                       "without a pair serves every direction it translates (a "
                       "multilingual model: `runs/multi/best.pt`), a pair's own model "
                       "winning over it",
                       "de-en=runs/quick/best.pt")
    max_models: int = _env("MAX_MODELS", "most models one worker process keeps loaded (the "
                           "least recently used is dropped; a multilingual model is one, "
                           "however many pairs it serves); 0: no limit", 0)
    pivot_language: str = _env("PIVOT_LANGUAGE", "a pair without a model is translated "
                               "through this language when both halves have one; empty: "
                               "no pivoting", PIVOT_LANGUAGE)
    detect_accuracy: str = _env("DETECT_ACCURACY", "language detection (source `auto`, "
                                "/detect): `high` (99.7% on Multi30K, ~1.3 GB shared by the "
                                "web processes) or `low` (96.8%, ~130 MB): benchmarks/RESULTS.md",
                                "high")
    detect_languages: str = _env("DETECT_LANGUAGES", "ISO 639-1 codes the detector considers "
                                 "(comma-separated); empty: all 75 it knows, so that a text "
                                 "in an unserved language is recognised as such", "")
    worker_pairs: str = _env("WORKER_PAIRS", "pairs this worker serves (comma-separated); "
                             "empty: every pair in MODELS", "")
    checkpoint_dirs: str = _env("CHECKPOINT_DIRS", "directories whose run checkpoints can be "
                                "evaluated (comma-separated)", "runs")
    testsets_dir: str = _env("MULTI30K_DIR", "Multi30K directory for named test sets",
                             MULTI30K_DIR)
    torch_threads: int = _env("TORCH_THREADS", "torch CPU threads per worker process", 1)
    beam_size: int = _env("BEAM_SIZE", "default beam size of translation jobs", BEAM_SIZE)
    batch_tokens: int = _env("BATCH_TOKENS", "source tokens x beam per decoding batch",
                             BATCH_TOKENS)
    device: str = _env("DEVICE", "where the workers decode: `cpu` or `cuda`", "cpu")
    precision: str = _env("PRECISION", "decoding precision: `fp32`, `bf16` or `int8` (CPU only); "
                          "`auto`: int8 on the CPU (1.20x fp32 beam-5 speed at equal BLEU, "
                          "benchmarks/RESULTS.md), fp32 on CUDA. Evaluations decode in fp32",
                          "auto")
    batch_window_ms: float = _env("BATCH_WINDOW_MS", "the interactive worker gathers requests "
                                  "into one batch while they arrive less than this apart (for "
                                  "at most 10 times as long)", 5.0)
    batch_max_segments: int = _env("BATCH_MAX_SEGMENTS", "most segments the interactive worker "
                                   "decodes as one batch (1: each request alone, no "
                                   "micro-batching)", BATCH_MAX_SEGMENTS)
    chunk_sentences: int = _env("CHUNK_SENTENCES", "sentences per document chunk (chunks are "
                                "translated in parallel by the batch workers)", 100)
    soft_time_limit: int = _env("TASK_SOFT_TIME_LIMIT", "seconds before a task is asked to stop "
                                "(a clear error on the job); 0: none", 300)
    time_limit: int = _env("TASK_TIME_LIMIT", "seconds before a task's process is killed", 360)
    visibility_timeout: int = _env("VISIBILITY_TIMEOUT", "seconds before Redis redelivers a task "
                                   "whose worker vanished (above TASK_TIME_LIMIT)", 600)
    result_expires: int = _env("RESULT_EXPIRES", "seconds Celery keeps task results", 86400)
    job_ttl: int = _env("JOB_TTL", "seconds job records, inputs and outputs are kept", 7 * 86400)
    evaluation_ttl: int = _env("EVALUATION_TTL", "seconds evaluations (checkpoints' and uploaded "
                               "systems', with their outputs and comparisons) are kept; their "
                               "owner may delete one sooner", 90 * 86400)
    max_document_bytes: int = _env("MAX_DOCUMENT_BYTES", "largest document accepted", 2_000_000)
    max_unzipped_bytes: int = _env("MAX_UNZIPPED_BYTES", "largest total uncompressed size of "
                                   "an uploaded docx/odt/pptx (checked before unzipping, in the "
                                   "web and the worker)", MAX_UNZIPPED_BYTES)
    max_zip_ratio: int = _env("MAX_ZIP_RATIO", "largest uncompressed/compressed ratio of a "
                              "member of an uploaded Office file (zip bombs)", MAX_ZIP_RATIO)
    max_text_chars: int = _env("MAX_TEXT_CHARS", "largest text job (all segments together)", 5000)
    max_segments: int = _env("MAX_SEGMENTS", "most segments in one text job", 100)
    secret_key: str = _env("SECRET_KEY", "Flask secret for sessions and CSRF tokens; empty: a "
                           "random key kept in STATE_DIR/secret_key", "")
    api_keys: str = _env("API_KEYS", "comma-separated keys the JSON and LibreTranslate APIs "
                         "require (api_key field or X-API-Key header); empty: no keys", "")
    admin_keys: str = _env("ADMIN_KEYS", "comma-separated API keys that see and cancel every "
                           "job (they are API keys too)", "")
    open_web_form: bool = _env("OPEN_WEB_FORM", "with API_KEYS set, `1` lets the pages submit "
                               "jobs without a key (under FORM_RATE_LIMIT and "
                               "FORM_MAX_CHARS); by default they ask for a key once", False)
    form_rate_limit: str = _env("FORM_RATE_LIMIT", "job requests per client address from the "
                                "open web form (OPEN_WEB_FORM)", "20/minute;200/day")
    form_max_chars: int = _env("FORM_MAX_CHARS", "largest text or document (characters) the "
                               "open web form accepts (OPEN_WEB_FORM)", 2000)
    key_rate_limit: str = _env("KEY_RATE_LIMIT", "job requests per API key (Flask-Limiter "
                               "syntax, e.g. `600/hour`); empty: none beyond RATE_LIMIT", "")
    key_daily_chars: int = _env("KEY_DAILY_CHARS", "characters one API key may send per UTC "
                                "day; 0: no limit", 0)
    private_evaluations: bool = _env("PRIVATE_EVALUATIONS", "`1`: evaluations of named test "
                                     "sets are private like jobs, and the leaderboard shows "
                                     "only the caller's (by default they are public)", False)
    tls: bool = _env("TLS", "`1` when the site is served over HTTPS (behind a proxy, which "
                     "redirects plain HTTP): HSTS and Secure cookies; `make run` serves plain "
                     "HTTP", False)
    proxy_hops: int = _env("PROXY_HOPS", "reverse proxies in front of the web app that set "
                           "X-Forwarded-For/-Proto (so per-address limits count clients, not "
                           "the proxy); 0: none, trust no such header", 0)
    rate_limit: str = _env("RATE_LIMIT", "job requests per client address (Flask-Limiter "
                           "syntax, e.g. `600/hour`); `none` or empty: no limit; `auto`: "
                           f"{PUBLIC_RATE_LIMIT} on a server others may reach, none on a "
                           "`translator serve` bound to loopback without PROXY_HOPS, TLS or "
                           "API keys (README, \"Rate limits\")", "auto")
    web_host: str = _env("WEB_HOST", "the address the web app listens on, for RATE_LIMIT=auto: "
                         "`translator serve` sets it to its --host; set it where a gunicorn "
                         "of your own binds to loopback; empty: unknown, taken as reachable "
                         "by others", "")
    translate_timeout: float = _env("TRANSLATE_TIMEOUT", "seconds the LibreTranslate-style "
                                    "`/translate` waits for its job", 30.0)
    file_url_seconds: int = _env("FILE_URL_SECONDS", "seconds a signed download URL of "
                                 "LibreTranslate's /translate_file stays valid", 3600)
    web_workers: int = _env("WEB_WORKERS", "gunicorn worker processes of the web app", 2)
    web_threads: int = _env("WEB_THREADS", "gunicorn threads per web process: requests that "
                            "can wait for their job at once (each waits in a BLMOVE, not "
                            "working; 64 measured best of 4, 16, 64 in benchmarks/RESULTS.md)",
                            64)
    text_processes: int = _env("TEXT_PROCESSES", "interactive worker processes `translator "
                               "serve` starts, each decoding with cores/processes torch threads "
                               "(2 measured 1.25x one on 2 cores: benchmarks/RESULTS.md)", 2)

    def job_rate_limit(self) -> JobRateLimit:
        """The per-address limit on job requests in force, and why: the one rule for it.

        A RATE_LIMIT value wins (`none` or empty: no limit). `auto`, the default, is
        PUBLIC_RATE_LIMIT wherever others may reach the server (public_signs), and no limit,
        as LibreTranslate has by default, on a private server: the web app bound to loopback
        (WEB_HOST, which `translator serve` sets from --host) without PROXY_HOPS, TLS or API
        keys. Decided by how the server is started, never by a client's address: a proxy on
        the same host makes every client look local."""
        value = self.rate_limit.strip()
        if value.lower() != "auto":
            return JobRateLimit("" if value.lower() in ("", "none") else value,
                                f"RATE_LIMIT={value or '(empty)'} is set")
        signs = self.public_signs()
        if signs:
            return JobRateLimit(PUBLIC_RATE_LIMIT, "RATE_LIMIT=auto on a server others may "
                                "reach: " + ", ".join(signs))
        return JobRateLimit("", f"RATE_LIMIT=auto on a private server bound to "
                                f"{self.web_host.strip()}; RATE_LIMIT='{PUBLIC_RATE_LIMIT}' "
                                f"turns it on")

    def public_signs(self) -> list[str]:
        """What says others may reach this server: a bind address (WEB_HOST) that is unknown
        or not loopback, PROXY_HOPS, TLS, API keys (or admin keys)."""
        host = self.web_host.strip()
        signs = [] if is_loopback(host) else [
            f"bound to {host}" if host else "WEB_HOST unset (not started by translator serve)"]
        if self.proxy_hops:
            signs.append(f"PROXY_HOPS={self.proxy_hops}")
        if self.tls:
            signs.append("TLS=1")
        if any(k.strip() for k in f"{self.api_keys},{self.admin_keys}".split(",")):
            signs.append("API keys are set")
        return signs

    def format_limits(self):
        """What an uploaded file may expand to (translator.formats.Limits)."""
        from translator.formats import Limits

        return Limits(self.max_unzipped_bytes, self.max_zip_ratio)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: str | Path = ".env"
                 ) -> Settings:
        env = dict(read_dotenv(dotenv)) if dotenv else {}
        env.update(os.environ if environ is None else environ)
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None:
                continue
            kind = type(f.default)
            if kind is bool:
                if raw.strip().lower() not in ("", "0", "1", "true", "false", "yes", "no"):
                    raise SettingsError(f"{f.metadata['env']}={raw!r} is not 0 or 1")
                values[f.name] = raw.strip().lower() in ("1", "true", "yes")
                continue
            try:
                values[f.name] = kind(raw) if kind is not str else raw
            except ValueError:
                raise SettingsError(f"{f.metadata['env']}={raw!r} is not a valid "
                                    f"{kind.__name__}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        self.model_paths()
        if self.visibility_timeout <= self.time_limit:
            raise SettingsError("VISIBILITY_TIMEOUT must be above TASK_TIME_LIMIT, or Redis "
                                "redelivers tasks that are still running")
        if self.soft_time_limit >= self.time_limit or self.soft_time_limit < 0:
            raise SettingsError("TASK_SOFT_TIME_LIMIT must be below TASK_TIME_LIMIT (0: none)")
        if self.proxy_hops < 0:
            raise SettingsError("PROXY_HOPS must be 0 or more")
        check_rate_limits(self)
        if self.key_daily_chars < 0:
            raise SettingsError("KEY_DAILY_CHARS must be 0 (no limit) or more")
        if self.max_models < 0:
            raise SettingsError("MAX_MODELS must be 0 (no limit) or more")
        if self.pivot_language and not valid_language(self.pivot_language):
            raise SettingsError(f"PIVOT_LANGUAGE={self.pivot_language!r} is not a language code")
        if self.detect_accuracy not in ("high", "low"):
            raise SettingsError("DETECT_ACCURACY must be high or low")
        self.detection_languages()
        for name in ("torch_threads", "beam_size", "batch_tokens", "batch_max_segments",
                     "chunk_sentences",
                     "max_document_bytes", "max_unzipped_bytes", "max_zip_ratio",
                     "max_text_chars", "max_segments", "web_workers", "web_threads",
                     "text_processes", "file_url_seconds", "form_max_chars"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)} must be at least 1")
        if not MIN_BEAM <= self.beam_size <= MAX_BEAM:
            raise SettingsError(f"BEAM_SIZE must be from {MIN_BEAM} to {MAX_BEAM}")
        if self.device not in DEVICES:
            raise SettingsError(f"DEVICE must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"PRECISION must be one of {', '.join(PRECISIONS)}, "
                                f"not {self.precision!r}")
        if self.device == "cuda" and self.precision == "int8":
            raise SettingsError("PRECISION=int8 is for the CPU only: use fp32 or bf16 with "
                                "DEVICE=cuda")

    def decode_precision(self) -> str:
        """PRECISION with `auto` resolved for DEVICE: int8 on the CPU, fp32 on CUDA. Never bf16:
        not every CPU or GPU runs it, and only the worker's machine can tell (an explicit bf16
        is checked when the worker loads its models: translator/inference/precision.py)."""
        if self.precision == "auto":
            return "int8" if self.device == "cpu" else "fp32"
        return self.precision

    def model_paths(self) -> dict[str, str]:
        """{pair: checkpoint path} from MODELS, e.g. {"de-en": "runs/quick/best.pt"}: its
        `pair=path` entries and the pairs of its models directories (a later entry wins).
        What every request's routing reads: no run's scores are looked up for it."""
        return {pair: entry["checkpoint"]
                for pair, entry in read_models(self.models, False).items()}

    def model_entries(self) -> dict[str, dict]:
        """{pair: {"checkpoint": path, "test": {...}, ...}}: a models directory's index
        entries, or for a `pair=path` entry its run's summary.json scores where there is one
        (the listings: /status, /languages, /api/v1/models)."""
        return read_models(self.models, True)

    def route(self, pair: str) -> list[str] | None:
        """The model pairs that translate `pair`: itself when it has a model, else through
        PIVOT_LANGUAGE (`de-fr` -> ["de-en", "en-fr"]) when both halves have one; None."""
        return route_via(pair, self.model_paths(), self.pivot_language)

    def reachable(self) -> dict[str, dict[str, str | None]]:
        """{source: {target: None (a model) or the pivot language}} of every translatable
        direction, sorted."""
        return directions(self.model_paths(), self.pivot_language)

    def detection_languages(self) -> tuple[str, ...]:
        codes = tuple(c.strip().lower() for c in self.detect_languages.split(",") if c.strip())
        from translator.inference.detection import NAMES

        unknown = [c for c in codes if c not in NAMES]
        if unknown:
            raise SettingsError(f"DETECT_LANGUAGES names codes the detector does not know: "
                                f"{', '.join(unknown)}")
        return codes

    def served_pairs(self) -> list[str]:
        models = self.model_paths()
        wanted = [p.strip().lower() for p in self.worker_pairs.split(",") if p.strip()]
        unknown = [p for p in wanted if p not in models]
        if unknown:
            raise SettingsError(f"WORKER_PAIRS names pairs without a model in MODELS: {unknown}")
        return wanted or list(models)

    def checkpoint_roots(self) -> list[Path]:
        return [Path(p.strip()) for p in self.checkpoint_dirs.split(",") if p.strip()]


def is_loopback(host: str) -> bool:
    """Whether a bind address serves this machine only: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_rate_limits(settings: Settings) -> None:
    """Each rate limit setting in Flask-Limiter's syntax (RATE_LIMIT may also be `auto` or
    `none`)."""
    from limits import parse_many

    for name in ("rate_limit", "key_rate_limit", "form_rate_limit"):
        value = getattr(settings, name).strip()
        if name == "rate_limit" and value.lower() in ("auto", "none"):
            continue
        try:
            if value:
                parse_many(value)
        except ValueError:
            raise SettingsError(f"{env_name(name)}={value!r} is not a rate limit such as "
                                f"{PUBLIC_RATE_LIMIT!r}") from None


def env_name(field_name: str) -> str:
    return next(f.metadata["env"] for f in fields(Settings) if f.name == field_name)


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's table."""
    rows = []
    for f in fields(Settings):
        default = "" if f.default is MISSING else (
            str(int(f.default)) if isinstance(f.default, bool) else str(f.default))
        rows.append((f.metadata["env"], default, f.metadata["help"]))
    return rows


def read_dotenv(path: str | Path) -> dict[str, str]:
    """KEY=VALUE pairs of a .env file (python-dotenv's parser); {} when there is none."""
    from dotenv import dotenv_values

    if not Path(path).is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}
