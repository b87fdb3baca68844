"""Evaluation results as files to paste elsewhere: CSV (one row per system, every figure in a
column of its own) and LaTeX (a booktabs table with each score's 95% interval, the
significance marks and the sacreBLEU signatures below it). The input is the list of result
dicts of `score_systems` / `evaluate_checkpoints`. No torch."""

from __future__ import annotations

import csv
import io

from translator.evaluation.metrics import ALPHA, LABELS, METRICS

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def system_name(result: dict) -> str:
    return result.get("system") or result["checkpoint"]


def to_csv(results: list[dict], lead: tuple[str, list[str]] | None = None) -> str:
    """system, each metric's score, its bootstrap mean and 95% half-width, the p-value and the
    difference interval against the baseline (empty where there is none), its signature;
    `lead`: a first column, (its name, a value per result), such as each row's direction."""
    columns = ["system"]
    for k in METRICS:
        columns += [k, f"{k}_mean", f"{k}_ci95", f"{k}_p", f"{k}_diff_mean", f"{k}_diff_low",
                    f"{k}_diff_high", f"{k}_signature"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([lead[0], *columns] if lead else columns)
    for i, r in enumerate(results):
        row = [system_name(r)]
        for k in METRICS:
            mean, ci = ((r.get("bootstrap") or {}).get("ci") or {}).get(k) or (None, None)
            p = (r.get("p_values") or {}).get(k)
            diff = (r.get("difference") or {}).get(k) or {}
            row += [_number(r[k]), _number(mean), _number(ci), _number(p, 4),
                    _number(diff.get("mean")), _number(diff.get("low")),
                    _number(diff.get("high")), r["signatures"][k]]
        writer.writerow([lead[1][i], *row] if lead else row)
    return out.getvalue()


def _number(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def to_latex(results: list[dict]) -> str:
    """A booktabs table (needs \\usepackage{booktabs}): score +- 95% half-width where a paired
    test ran, a dagger where the system differs from the baseline at p < 0.05, and a note
    below it with the test and the signatures (add your own \\caption)."""
    tested = any(r.get("bootstrap") for r in results)
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(METRICS) + "}",
             r"\toprule",
             "System & " + " & ".join(LABELS[k] + (r" ($\downarrow$)" if k == "ter" else "")
                                      for k in METRICS) + r" \\",
             r"\midrule"]
    for r in results:
        cells = [latex_escape(system_name(r))]
        for k in METRICS:
            cell = f"{r[k]:.1f}"
            ci = ((r.get("bootstrap") or {}).get("ci") or {}).get(k)
            if ci and ci[1] is not None:
                cell += rf" $\pm$ {ci[1]:.1f}"
            if (r.get("significant") or {}).get(k):
                cell += r"$^\dagger$"
            cells.append(cell)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    note = []
    if tested:
        bs = next(r["bootstrap"] for r in results if r.get("bootstrap"))
        kind = ("paired approximate randomization" if bs.get("test") == "ar"
                else "paired bootstrap resampling")
        note.append(rf"$\pm$: 95\% bootstrap interval; $^\dagger$: differs from "
                    rf"{latex_escape(system_name(results[0]))} at $p < {ALPHA}$ "
                    rf"({kind}, {bs['samples']} samples, seed {bs['seed']}).")
    signatures = results[0]["signatures"]
    note += [rf"{LABELS[k]}: \texttt{{{latex_escape(signatures[k])}}}" for k in METRICS]
    lines += [r"\par\smallskip", r"{\footnotesize " + "\n".join(
        n + r"\par" for n in note) + "}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ summary tables
# The workbench's exports (a comparison, a leaderboard board) share one row shape, a "summary
# row": {"system": name, optional "id", "beam" and "alpha" (the length penalty), each metric
# {"score", "mean", "ci" (95% half-width), "p_value" (None for the baseline or where no test
# ran), "difference" ({"mean", "low", "high"} of system - baseline, or None)},
# "signatures": {metric: str}}.

def summary_csv(rows: list[dict]) -> str:
    """One line per system: its name (id, beam and length penalty where the rows have them),
    and per metric the score, bootstrap mean, 95% half-width, p-value and difference interval
    against the baseline (empty where there is none), then the signatures."""
    extra = [k for k in ("id", "beam", "alpha") if any(r.get(k) is not None for r in rows)]
    columns = ["system", *extra]
    for k in METRICS:
        columns += [k, f"{k}_mean", f"{k}_ci95", f"{k}_p", f"{k}_diff_mean", f"{k}_diff_low",
                    f"{k}_diff_high"]
    columns += [f"{k}_signature" for k in METRICS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        line = [r["system"], *("" if r.get(k) is None else r[k] for k in extra)]
        for k in METRICS:
            cell = r.get(k) or {}
            diff = cell.get("difference") or {}
            line += [_number(cell.get("score")), _number(cell.get("mean")),
                     _number(cell.get("ci")), _number(cell.get("p_value"), 4),
                     _number(diff.get("mean")), _number(diff.get("low")),
                     _number(diff.get("high"))]
        line += [(r.get("signatures") or {}).get(k, "") for k in METRICS]
        writer.writerow(line)
    return out.getvalue()


def summary_json(rows: list[dict], **about) -> str:
    """{**about, "systems": rows} as indented JSON (`about`: the title, the test, ...)."""
    import json

    return json.dumps({**about, "systems": rows}, indent=2, ensure_ascii=False) + "\n"


def _signed(value: float) -> str:
    return f"{value:+.1f}".replace("-", "$-$")


def summary_latex(rows: list[dict], caption: str = "", test: str | None = None) -> str:
    """A booktabs table ready to paste (needs \\usepackage{booktabs}): per metric the score
    +- its 95% half-width, a dagger where the system differs from the first row (the
    baseline) at p < ALPHA, and a column of the difference's 95% interval where the rows have
    one; below it the test and the signatures. `caption` (plain text) is escaped."""
    diffs = [k for k in METRICS if any((r.get(k) or {}).get("difference") for r in rows)]
    header = ["System"] + [LABELS[k] + (r" ($\downarrow$)" if k == "ter" else "")
                           for k in METRICS] + [rf"$\Delta$ {LABELS[k]}" for k in diffs]
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    for r in rows:
        cells = [latex_escape(r["system"])]
        for k in METRICS:
            cell = r.get(k) or {}
            text = "--" if cell.get("score") is None else f"{cell['score']:.1f}"
            if cell.get("ci") is not None:
                text += rf" $\pm$ {cell['ci']:.1f}"
            if cell.get("p_value") is not None and cell["p_value"] < ALPHA:
                text += r"$^\dagger$"
            cells.append(text)
        for k in diffs:
            d = (r.get(k) or {}).get("difference")
            cells.append(f"{_signed(d['mean'])} [{_signed(d['low'])}, {_signed(d['high'])}]"
                         if d else "--")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    note = []
    if any((r.get(k) or {}).get("ci") is not None for r in rows for k in METRICS):
        note.append(r"$\pm$: half-width of the 95\% bootstrap interval.")
    if any((r.get(k) or {}).get("p_value") is not None for r in rows for k in METRICS):
        kind = ("paired approximate randomization" if test == "ar"
                else "paired bootstrap resampling")
        note.append(rf"$^\dagger$: differs from {latex_escape(rows[0]['system'])} at "
                    rf"$p < {ALPHA}$ ({kind}).")
    if diffs:
        note.append(r"$\Delta$: mean difference from the first row and its 95\% interval "
                    r"over paired bootstrap resamples.")
    signatures = next((r["signatures"] for r in rows if r.get("signatures")), {})
    note += [rf"{LABELS[k]}: \texttt{{{latex_escape(signatures[k])}}}" for k in METRICS
             if signatures.get(k)]
    if note:
        lines += [r"\par\smallskip", r"{\footnotesize " + "\n".join(
            n + r"\par" for n in note) + "}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
