"""Document formats: read an uploaded file into translatable blocks, write the translated copy.

One module per format (txt, md, html, docx, odt, pptx, srt, vtt, xliff, po), each with a
`FORMAT` (translator/formats/base.py says what a format provides). This package imports no
torch and no model code: the web checks uploads with it too. `detect` finds a file's format from
its content and its name, and says clearly when they disagree.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import PurePath

from .base import Block, Format, FormatError, Limits, Parsed

__all__ = ["Block", "Format", "FormatError", "Limits", "Parsed", "block_sentences", "detect",
           "formats", "get_format", "place", "read_file", "translate_parsed", "EXTENSIONS"]

MODULES = ("txt", "md", "html", "docx", "odt", "pptx", "srt", "vtt", "xliff", "po")

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SRT = re.compile(r"\A\s*\d+[ \t]*\r?\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->")
_PO = re.compile(r'^\s*msgid\s+"', re.M)
_HTML = re.compile(r"\A\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
                   re.I | re.S)
_XML_ROOT = re.compile(r"<(?![?!])([\w.-]+:)?([\w.-]+)")


@cache
def formats() -> dict[str, Format]:
    """Every supported format by name, in the order the documents page lists them."""
    out = {}
    for name in MODULES:
        fmt = importlib.import_module(f"{__name__}.{name}").FORMAT
        out[fmt.name] = fmt
    return out


def get_format(name: str) -> Format:
    try:
        return formats()[name]
    except KeyError:
        raise FormatError(f"unknown format {name!r}") from None


def extensions() -> dict[str, str]:
    """{".docx": "docx", ...}: every accepted file name extension and its format."""
    return {ext: fmt.name for fmt in formats().values() for ext in fmt.extensions}


EXTENSIONS = (".txt", ".text", ".md", ".markdown", ".html", ".htm", ".docx", ".odt", ".pptx",
              ".srt", ".vtt", ".xlf", ".xliff", ".po", ".pot")  # = formats()'s (a test checks)


def _head_text(data: bytes) -> str:
    head = data[:65536]
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(codec, "ignore")
    return head.decode("utf-8", "ignore").lstrip("\ufeff")


def sniff(data: bytes) -> str:
    """What the content is: a format name, "text" (plain text or Markdown: only the name can
    tell), or a FormatError for content no format reads (PDF, Excel, old binary Office, ...)."""
    if data.startswith(b"%PDF"):
        raise FormatError("PDF files are not supported: convert it to .docx, .odt or .txt")
    if data.startswith(_OLE):
        raise FormatError("this is a password-protected Office file or one in the old binary "
                          "format (.doc, .xls, .ppt): save it unprotected as .docx, .pptx or .odt")
    if data.startswith(_ZIP):
        return _sniff_zip(data)
    text = _head_text(data)
    if "\x00" in text:
        return "text"  # decoding decides (UTF-16 without a BOM, or binary)
    stripped = text.lstrip()
    if stripped.startswith("WEBVTT"):
        return "vtt"
    if _SRT.match(text):
        return "srt"
    if _HTML.match(text):
        return "html"
    if stripped.startswith("<?xml") or stripped.startswith("<"):
        root = _XML_ROOT.search(stripped)
        if root and root.group(2).lower() == "xliff":
            return "xliff"
        if root and root.group(2).lower() in ("html", "p", "div", "h1", "h2", "table", "ul",
                                               "section", "article", "span", "body"):
            return "html"
        return "xml"
    if _PO.search(text) and "msgstr" in text:
        return "po"
    return "text"


def _sniff_zip(data: bytes) -> str:
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        mimetype = ""
        if "mimetype" in names and archive.getinfo("mimetype").file_size <= 200:
            with archive.open("mimetype") as member:  # read no more than its declared size
                mimetype = member.read(200).decode("ascii", "ignore")
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError, RuntimeError):
        raise FormatError("the file is a corrupt or truncated zip archive") from None
    if "word/document.xml" in names:
        return "docx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "xl/workbook.xml" in names:
        raise FormatError("this is an Excel workbook (.xlsx): spreadsheets are not supported")
    if mimetype == "application/vnd.oasis.opendocument.text":
        return "odt"
    if mimetype.startswith("application/vnd.oasis.opendocument."):
        kind = mimetype.rsplit(".", 1)[-1]
        raise FormatError(f"this is an OpenDocument {kind} file: only text documents (.odt) "
                          f"are supported")
    raise FormatError("this is a zip archive, not a document")


NAMES = {"docx": "a Word document (docx)", "pptx": "a PowerPoint presentation (pptx)",
         "odt": "an OpenDocument text (odt)", "html": "HTML", "srt": "SRT subtitles",
         "vtt": "WebVTT subtitles", "xliff": "XLIFF", "po": "a gettext PO file",
         "text": "plain text", "xml": "XML (not XLIFF)"}


def detect(data: bytes, filename: str | None = None) -> Format:
    """The format of an upload, from its content and its name. A name with an unsupported
    extension, or content that is not what the name says, raises FormatError saying both."""
    suffix = PurePath(filename or "").suffix.lower()
    by_name = extensions().get(suffix) if suffix else None
    if suffix and by_name is None:
        raise FormatError(f"{suffix} files are not supported; supported: "
                          f"{', '.join(sorted(extensions()))}")
    kind = sniff(data)
    if by_name is None:  # no name: the content decides (text is plain text)
        if kind == "xml":
            raise FormatError("the file is XML but not XLIFF: not supported")
        return get_format("txt" if kind == "text" else kind)
    if by_name in ("txt", "md"):
        if kind in ("docx", "pptx", "odt"):
            raise FormatError(f"the file is named {suffix} but holds {NAMES[kind]}; rename it "
                              f"to .{kind}")
        return get_format(by_name)  # any text, even one that looks like markup
    if kind == by_name or (by_name == "html" and kind in ("xml", "text") and "<" in
                           _head_text(data)[:2000]):
        return get_format(by_name)
    raise FormatError(f"the file is named {suffix} but holds {NAMES.get(kind, kind)}"
                      + (f"; rename it to .{kind}" if kind in formats() else ""))


def read_file(data: bytes, fmt: Format | str, limits: Limits | None = None,
              retranslate: bool = False) -> Parsed:
    """Read `data` as `fmt`; raises FormatError (with a message for the user) for anything it
    cannot read, whatever the library's own exception was. `retranslate`: in formats that
    hold translations (PO, XLIFF), translate the entries that have one too."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    if not data:
        raise FormatError("the file is empty")
    options = {"overwrite": True} if retranslate and keeps_translations(fmt) else {}
    try:
        parsed = fmt.read(data, limits or Limits(), **options)
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 (a library's error on a malformed file)
        raise FormatError(f"the {fmt.label or fmt.name} file cannot be read: "
                          f"{type(exc).__name__}: {str(exc)[:160]}") from None
    if not any(block.text.strip() for block in parsed.blocks):
        why = "; ".join(parsed.notes)
        raise FormatError("the document has no text to translate" + (f" ({why})" if why else ""))
    return parsed


def keeps_translations(fmt: Format) -> bool:
    """Whether a format's files hold translations that a job keeps unless asked (PO, XLIFF:
    their `read` takes `overwrite`)."""
    import inspect

    return "overwrite" in inspect.signature(fmt.read).parameters


def block_sentences(block: Block, lang: str | None) -> list[str]:
    """The sentences of a block, as the document splitter cuts its normalized text (the
    worker's document jobs and `translate_parsed` cut them the same way)."""
    from translator.inference.document import segment_document

    from .inline import normalized

    return segment_document(normalized(block.text), lang).sentences


def translate_parsed(parsed: Parsed, translate, lang: str | None) -> list[list[str]]:
    """New span texts for every block of `parsed`: its sentences (of all blocks together) go
    to one `translate(sentences)` call, and each block's translations are placed on its spans
    (translator/formats/inline.py). `translate` returns strings, or objects with `text` and
    `alignment` (`Translator.translate_aligned`), which place words by their alignment.
    Returns what `parsed.write` takes."""
    per_block = [block_sentences(block, lang) for block in parsed.blocks]
    flat = [s for sentences in per_block for s in sentences]
    out = list(translate(flat)) if flat else []
    if out and not isinstance(out[0], str):
        return place(parsed, per_block, [o.text for o in out], [o.alignment for o in out])
    return place(parsed, per_block, out)


def runs_alike(block: Block) -> list[list[int]]:
    """The block's spans grouped where neighbours have the same formatting (a docx paragraph
    that Word split into runs of equal properties): each group is placed as one span and
    written into its first span, the others emptied. Not across a line break or tab (a span
    that starts with one), nor with the empty places around markup."""
    groups: list[list[int]] = []
    for i in range(len(block.spans)):
        if groups and block.marks and block.marks[i] == block.marks[groups[-1][-1]] \
                and block.spans[i] and block.spans[groups[-1][-1]] \
                and block.spans[i][0] not in "\n\t":  # a break or tab stands there
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def place(parsed: Parsed, per_block: list[list[str]], translations: list[str],
          alignments: list | None = None) -> list[list[str]]:
    """New span texts for every block from its sentences (`per_block`, in block order) and
    the translations of all of them in reading order, with each translation's word alignment
    if known (translator/formats/inline.py's rules)."""
    from .inline import distribute, place_aligned

    if len(per_block) != len(parsed.blocks):
        raise ValueError(f"{len(per_block)} blocks of sentences for {len(parsed.blocks)} blocks")
    out, pos = [], 0
    for block, sentences in zip(parsed.blocks, per_block):
        n = len(sentences)
        mine = translations[pos: pos + n]
        if not sentences:
            out.append(list(block.spans))
        else:
            groups = runs_alike(block)
            spans = ["".join(block.spans[i] for i in g) for g in groups]
            marks = [block.marks[g[0]] for g in groups] if block.marks else None
            if alignments is not None:
                new = place_aligned(spans, sentences, mine, alignments[pos: pos + n], marks)
            else:
                new = distribute(spans, sentences, mine, marks)
            out.append([text if k == 0 else "" for g, text in zip(groups, new)
                        for k in range(len(g))])
        pos += n
    if pos != len(translations):
        raise ValueError(f"{len(translations)} translations for {pos} sentences")
    return out
