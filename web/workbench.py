"""What the workbench's pages show, from the documents the worker computed: the comparison's
summary and its segment rows (sorted by the chrF difference, filtered by words, paged, with
each output's word differences placed on its own text), and the summary rows the exports
write, of a comparison and of a leaderboard board. Plain functions on dicts (no Flask, no
Redis): web/compare.py serves them. No torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from translator.evaluation.comparison import word_differences
from translator.evaluation.metrics import ALPHA, METRICS
from worker.errors import InputError

SORTS = ("index", "diff", "-diff")
"""Segment order: as in the test set, the chrF difference (system - baseline) rising (where
the system loses most first), or falling (where it gains most first)."""
PER_PAGE, MAX_PER_PAGE = 50, 200
MAX_SYSTEMS = 8
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class Query:
    """A comparison request: the baseline, the systems compared with it, which of them the
    segment table shows (`vs`, 1-based), and the table's order, filter and page."""

    baseline: str
    systems: tuple[str, ...]
    vs: int = 1
    sort: str = "index"
    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def system(self) -> str:
        return self.systems[self.vs - 1]

    def args(self, **changes) -> dict:
        """The query string's arguments (for url_for), with `changes`; defaults left out."""
        values = {"baseline": self.baseline, "system": list(self.systems), "vs": self.vs,
                  "sort": self.sort, "q": self.q, "page": self.page,
                  "per_page": self.per_page, **changes}
        defaults = {"vs": 1, "sort": "index", "q": "", "page": 1, "per_page": PER_PAGE}
        return {k: v for k, v in values.items() if defaults.get(k, object()) != v}


def _integer(args: Mapping, name: str, default: int) -> int:
    value = args.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a whole number") from None


def parse_query(args) -> Query:
    """The Query of a request's arguments (a MultiDict: `system` may repeat); InputError
    (with what to give) when the ids are missing or a value is malformed. Pages and sizes out
    of range are brought into it: `per_page` 1 to MAX_PER_PAGE."""
    baseline = (args.get("baseline") or "").strip()
    systems = []
    for value in args.getlist("system"):
        value = value.strip()
        if value and value not in systems:
            systems.append(value)
    if not baseline or not systems:
        raise InputError("give the evaluations to compare: ?baseline=ID&system=ID (the ids of "
                         "two evaluations; `system` may be repeated)")
    if baseline in systems:
        raise InputError("the baseline and the system are the same evaluation: compare it with "
                         "another one")
    if len(systems) > MAX_SYSTEMS:
        raise InputError(f"at most {MAX_SYSTEMS} systems are compared with one baseline")
    sort = args.get("sort") or "index"
    if sort not in SORTS:
        raise InputError(f"`sort` must be one of {', '.join(SORTS)}")
    q = " ".join((args.get("q") or "").split())
    if len(q) > MAX_QUERY_CHARS:
        raise InputError(f"the filter is limited to {MAX_QUERY_CHARS} characters")
    return Query(baseline, tuple(systems),
                 vs=min(max(1, _integer(args, "vs", 1)), len(systems)), sort=sort, q=q,
                 page=max(1, _integer(args, "page", 1)),
                 per_page=min(MAX_PER_PAGE, max(1, _integer(args, "per_page", PER_PAGE))))


# ------------------------------------------------------------------ the summary
def summary(doc: dict) -> list[dict]:
    """Per system (the baseline first): {"id", "name", each metric's {"score", "mean", "ci",
    "p_value", "difference"}, "significant": {metric: p < ALPHA} and "verdict": {metric:
    "better" | "worse" | "not significant"} (both None for the baseline; TER is better
    lower), "signatures", "confidence": its correlation with sentence chrF or None}."""
    out = []
    confidence = doc.get("confidence") or [None] * len(doc["ids"])
    for i, (job_id, name, row) in enumerate(zip(doc["ids"], doc["names"], doc["rows"])):
        entry = {"id": job_id, "name": name, **{k: row[k] for k in METRICS},
                 "signatures": row.get("signatures") or {}, "confidence": confidence[i]}
        entry["significant"] = None if i == 0 else {
            k: row[k].get("p_value") is not None and row[k]["p_value"] < ALPHA for k in METRICS}
        entry["verdict"] = None if i == 0 else {
            k: verdict(k, row[k]["score"], doc["rows"][0][k]["score"], entry["significant"][k])
            for k in METRICS}
        out.append(entry)
    return out


def verdict(metric: str, score: float, baseline: float, significant: bool) -> str:
    """"better" or "worse" than the baseline's score where the difference is significant
    (TER is better lower), else "not significant"."""
    if not significant:
        return "not significant"
    return "better" if (score > baseline) != (metric == "ter") else "worse"


def comparison_rows(doc: dict) -> list[dict]:
    """The comparison's summary as export.summary_* rows."""
    return [{"system": s["name"], "id": s["id"], **{k: s[k] for k in METRICS},
             "signatures": s["signatures"]} for s in summary(doc)]


def board_rows(board: dict) -> list[dict]:
    """A leaderboard board's rows (Job.to_dict() with "name", "p_values", "difference" against
    the board's first row) as export.summary_* rows."""
    out = []
    for row in board.get("rows") or []:
        scores = row.get("scores") or {}
        intervals = scores.get("intervals") or {}
        p_values, difference = row.get("p_values") or {}, row.get("difference") or {}
        entry = {"system": display_name(row), "id": row.get("id"), "beam": row.get("beam"),
                 "alpha": row.get("alpha")}
        for k in METRICS:
            interval = intervals.get(k) or {}
            diff = difference.get(k) if isinstance(difference, dict) else None
            entry[k] = {"score": scores.get(k), "mean": interval.get("mean"),
                        "ci": interval.get("ci"), "p_value": p_values.get(k),
                        "difference": diff if isinstance(diff, dict) else None}
        entry["signatures"] = scores.get("signatures") or {}
        out.append(entry)
    return out


def display_name(row: dict) -> str:
    return str(row.get("name") or row.get("system") or row.get("model") or row.get("id") or "")


# ------------------------------------------------------------------ the segments
def segment_rows(doc: dict, vs: int = 1) -> list[dict]:
    """Every segment of the baseline against system `vs` (1-based, after the baseline):
    {"index" (1-based, the line in the files), "source" (None without sources), "references",
    "baseline" and "system" ({"output", "chrf", "bleu", "confidence" (None where the system
    is not a checkpoint)}), "diff" (system - baseline sentence chrF), "bleu_diff"}."""
    hyps, sentence = doc["hypotheses"], doc["sentence"]
    sources, refs = doc.get("sources"), doc["references"]

    def side(s: int, i: int) -> dict:
        scores = sentence[s][i]
        return {"output": hyps[s][i], "chrf": scores["chrf"], "bleu": scores["bleu"],
                "confidence": scores.get("confidence")}

    rows = []
    for i in range(len(hyps[0])):
        a, b = side(0, i), side(vs, i)
        rows.append({"index": i + 1, "source": sources[i] if sources else None,
                     "references": [stream[i] for stream in refs], "baseline": a, "system": b,
                     "diff": b["chrf"] - a["chrf"], "bleu_diff": b["bleu"] - a["bleu"]})
    return rows


def words(text: str) -> set[str]:
    """The lower-cased words of a text, for the filter (letters and digits; punctuation
    separates)."""
    return set(re.findall(r"\w+", text.casefold()))


def matches(row: dict, wanted: set[str]) -> bool:
    """Whether every wanted word occurs in the source, a reference or either output."""
    texts = [row["source"] or "", *row["references"], row["baseline"]["output"],
             row["system"]["output"]]
    return wanted <= words(" ".join(texts))


def select(rows: list[dict], sort: str = "index", q: str = "") -> list[dict]:
    """The rows that match the filter `q` (all its words, case-insensitive), in `sort`'s
    order (ties in the test set's order)."""
    wanted = words(q)
    chosen = [r for r in rows if matches(r, wanted)] if wanted else list(rows)
    if sort == "diff":
        chosen.sort(key=lambda r: (r["diff"], r["index"]))
    elif sort == "-diff":
        chosen.sort(key=lambda r: (-r["diff"], r["index"]))
    return chosen


def paged(rows: list[dict], page: int, per_page: int) -> tuple[list[dict], int, int]:
    """(this page's rows, the page, the number of pages): a page past the end shows the
    last."""
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(max(1, page), pages)
    return rows[(page - 1) * per_page:page * per_page], page, pages


def spans(text: str, marks: list[dict]) -> list[dict]:
    """The output as [{"text", "mark"}]: its own text, with the marked words ("only" in this
    output) placed where they occur; "mark" is "confirmed" where a reference has the word,
    "unconfirmed" where none does, "" elsewhere. Where the tokenizer changed the text (an
    entity, a hyphen at a line end), the tokens joined by spaces instead."""
    out: list[dict] = []

    def add(piece: str, mark: str) -> None:
        if out and not mark and not out[-1]["mark"]:  # plain text in one piece
            out[-1]["text"] += piece
        elif piece:
            out.append({"text": piece, "mark": mark})

    cursor = 0
    for m in marks:
        at = text.find(m["word"], cursor)
        if at < 0:
            out.clear()
            for i, m in enumerate(marks):
                add(" " if i else "", "")
                add(m["word"], kind(m))
            return out
        add(text[cursor:at], "")
        add(m["word"], kind(m))
        cursor = at + len(m["word"])
    add(text[cursor:], "")
    return out


def kind(mark: dict) -> str:
    if not mark["only"]:
        return ""
    return "confirmed" if mark["in_reference"] else "unconfirmed"


def with_words(row: dict) -> dict:
    """The row with "words" (`comparison.word_differences` of the two outputs: {"baseline",
    "system"}, each [{"word", "only", "in_reference"}]) and "spans" (the same placed on each
    output's text, for the page)."""
    a, b = row["baseline"]["output"], row["system"]["output"]
    marks_a, marks_b = word_differences(a, b, row["references"])
    return {**row, "words": {"baseline": marks_a, "system": marks_b},
            "spans": {"baseline": spans(a, marks_a), "system": spans(b, marks_b)}}


def view(doc: dict, query: Query) -> dict:
    """Everything a done comparison's page (and the API) shows for `query`."""
    rows = select(segment_rows(doc, query.vs), query.sort, query.q)
    page_rows, page, pages = paged(rows, query.page, query.per_page)
    analysis = doc.get("analysis") or {}
    names = doc["names"]
    return {"summary": summary(doc), "names": names, "ids": doc["ids"],
            "signatures": doc.get("signatures") or doc["rows"][0].get("signatures") or {},
            "test": doc.get("test"), "total": len(doc["hypotheses"][0]),
            "references": len(doc["references"]), "has_sources": bool(doc.get("sources")),
            "analysis": analysis, "ngrams": [
                {"name": names[i + 1], "a": d.get("a") or [], "b": d.get("b") or []}
                for i, d in enumerate(analysis.get("ngram_differences") or [])],
            "segments": [with_words(r) for r in page_rows], "matching": len(rows),
            "page": page, "pages": pages, "seconds": doc.get("seconds")}


def api_segment(row: dict) -> dict:
    """A segment row as the API answers it (no "spans": those are the page's)."""
    return {k: v for k, v in row.items() if k != "spans"}
