"""Documents in their formats through the whole system (web_load's set-up: a private Redis,
the default workers, the web app under gunicorn; rate limit off).

1. speed: a .docx and a .txt holding the same `--sentences` sentences (one per paragraph, the
   docx written by python-docx with a heading and bold runs every few paragraphs), uploaded to
   /api/v1/documents and followed to the end, alternating for `--rounds` rounds: sentences/s
   of each from submission to done, and the docx/txt ratio (median of the rounds' ratios);
2. structure: every sample file of tests/data/formats (files written by pandoc, LibreOffice
   and by hand) translated by the real model through the same API: the output file is read
   back by its own library and our reader, and the counts (blocks, their kinds) and every
   placeholder (%s, {name}, ...) are compared with the input's; each translated Office file is
   opened by LibreOffice (`soffice --convert-to`) to prove it still reads.

    python benchmarks/document_formats.py --checkpoint runs/quick/best.pt [--sentences 5000]
"""

from __future__ import annotations

import io
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from web_load import follow, start_system, system_arguments

from translator.data.corpus import read_split
from translator.formats import Limits, detect, read_file
from worker.redis_server import EmbeddedRedis

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "formats"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%\d*\$?[sd]|\{\{[^}]+\}\}|\{\w*\}")


def upload(base: str, data: bytes, name: str, pair: str) -> dict:
    """POST a multipart file to /api/v1/documents (urllib, no client library)."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for field, value in (("pair", pair.encode()), ("beam_size", b"5")):
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n"
                   .encode() + value + b"\r\n")
    body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename="
               f"\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
               + data + f"\r\n--{boundary}--\r\n".encode())
    request = urllib.request.Request(f"{base}/api/v1/documents", body.getvalue(),
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{name}: {exc.code} {exc.read()[:300]!r}") from None


def fetch(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=120) as response:
        return response.read()


def make_docx(sentences: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for i, sentence in enumerate(sentences):
        if i % 50 == 0:
            document.add_heading(sentence, level=2)
        elif i % 7 == 0:
            document.add_paragraph().add_run(sentence).bold = True
        else:
            document.add_paragraph(sentence)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def speed(base: str, pair: str, sentences: list[str], rounds: int) -> dict:
    files = {"txt": ("\n".join(sentences) + "\n").encode(), "docx": make_docx(sentences)}
    times: dict[str, list[float]] = {"txt": [], "docx": []}
    for round_ in range(rounds):
        for name in (("txt", "docx") if round_ % 2 == 0 else ("docx", "txt")):
            started = time.perf_counter()
            job = follow(base, upload(base, files[name], f"speed.{name}", pair)["id"])
            times[name].append(time.perf_counter() - started)
            assert job["status"] == "done" and job["done"] == len(sentences), job
            print(f"{name}: {len(sentences) / times[name][-1]:.1f} sentences/s", flush=True)
    ratios = [t / d for t, d in zip(times["txt"], times["docx"])]
    return {"sentences": len(sentences), "seconds": times,
            "sentences_per_second": {k: [round(len(sentences) / t, 1) for t in v]
                                     for k, v in times.items()},
            "docx_over_txt": round(statistics.median(ratios), 3), "round_ratios": ratios}


def counts(data: bytes, name: str) -> tuple[dict, list[str]]:
    """Blocks by kind and the placeholders of a file (for PO and XLIFF, whose translated
    entries are no longer blocks: every entry, as `overwrite=True` reads them)."""
    fmt = detect(data, name)
    if fmt.name in ("po", "xliff"):
        parsed = fmt.read(data, Limits(), overwrite=True)
    else:
        parsed = read_file(data, fmt)
    kinds: dict[str, int] = {}
    for block in parsed.blocks:
        kinds[block.kind] = kinds.get(block.kind, 0) + 1
    holders = sorted(m for b in parsed.blocks for m in PLACEHOLDER.findall(b.text))
    return kinds, holders


def target_placeholders(data: bytes, name: str) -> list[tuple[list[str], list[str]]]:
    """(source, translation) placeholders of every entry a PO or XLIFF translation wrote."""
    if name.endswith((".po", ".pot")):
        import polib

        return [(sorted(PLACEHOLDER.findall(e.msgid)), sorted(PLACEHOLDER.findall(e.msgstr)))
                for e in polib.pofile(data.decode("utf-8")) if "fuzzy" in e.flags and e.msgstr]
    from lxml import etree

    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    pairs = []
    for target in root.iter("{*}target"):
        source = target.getparent().find("{*}source")
        if source is not None and (target.get("state") or target.getparent().get("state")):
            pairs.append((sorted(PLACEHOLDER.findall("".join(source.itertext()))),
                          sorted(PLACEHOLDER.findall("".join(target.itertext())))))
    return pairs


def opens_in_libreoffice(data: bytes, suffix: str) -> bool:
    soffice = shutil.which("soffice")
    if soffice is None or suffix not in (".docx", ".odt", ".pptx"):
        return suffix not in (".docx", ".odt", ".pptx")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out{suffix}"
        path.write_bytes(data)
        target = "pdf" if suffix == ".pptx" else "txt:Text"
        subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/profile",
                        "--convert-to", target, "--outdir", tmp, str(path)],
                       capture_output=True, timeout=180)
        out = path.with_suffix(".pdf" if suffix == ".pptx" else ".txt")
        return out.exists() and out.stat().st_size > 0


def structure(base: str, pair: str) -> list[dict]:
    rows = []
    for path in sorted(p for p in SAMPLES.rglob("*") if p.is_file()
                       and p.suffix.lower() not in (".sh", ".py", ".json")):
        data = path.read_bytes()
        try:
            before = counts(data, path.name)
        except Exception as exc:  # noqa: BLE001 (hostile samples are the tests' business)
            rows.append({"file": str(path.relative_to(SAMPLES)), "skipped": str(exc)[:80]})
            continue
        job = follow(base, upload(base, data, path.name, pair)["id"])
        out = fetch(base, job["links"]["result_file"]) if job["status"] == "done" else b""
        after = counts(out, path.name) if out else ({}, [])
        if path.suffix in (".po", ".pot", ".xlf", ".xliff") and out:
            pairs = target_placeholders(out, path.name)
            same_placeholders = all(src == tgt for src, tgt in pairs)
            placeholders = sum(len(src) for src, _ in pairs)
        else:
            same_placeholders, placeholders = before[1] == after[1], len(before[1])
        rows.append({"file": str(path.relative_to(SAMPLES)), "status": job["status"],
                     "blocks": before[0], "same_blocks": before[0] == after[0],
                     "placeholders": placeholders, "same_placeholders": same_placeholders,
                     "opens_in_libreoffice": opens_in_libreoffice(out, path.suffix.lower())})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = system_arguments(__doc__)
    p.add_argument("--sentences", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--skip", default="", help="comma-separated phases to skip")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    src, tgt = args.pair.split("-")
    train = read_split(args.data, "train", src, tgt).src
    sentences = [s for s in train if len(s.split()) >= 4][: args.sentences]
    state = Path(tempfile.mkdtemp(prefix="document_formats_"))
    results: dict = {"checkpoint": args.checkpoint}
    with EmbeddedRedis(state) as redis_server:
        supervisor, base = start_system(redis_server, state, args.checkpoint, args.pair,
                                        train[:20])
        try:
            if "speed" not in args.skip:
                results["speed"] = speed(base, args.pair, sentences, args.rounds)
            if "structure" not in args.skip:
                results["structure"] = structure(base, args.pair)
        finally:
            supervisor.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
