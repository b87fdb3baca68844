"""gettext PO and POT files (.po, .pot), read and written with polib.

Blocks, in file order, one span each (the source text as it is, placeholders such as %s,
%(name)s, {0} included; its leading and trailing newlines stay on the translation, newlines
inside it become spaces, as the inline rule collapses whitespace):
- an entry whose msgstr is empty: its msgid (kind "entry"), translated into msgstr;
- a plural entry (kind "plural"): its msgid, translated into msgstr[0], and its msgid_plural,
  translated into the other forms, msgstr[1] .. msgstr[n-1], where n is the header's
  Plural-Forms nplurals (2 when the header has none, or the template's "nplurals=INTEGER": a
  note says so, and none is invented). Only empty forms are filled; a language of one form
  (nplurals=1) gets the msgid_plural's translation in msgstr[0].
Entries already translated are kept as they are (`read(..., overwrite=True)` translates them
again; a file with nothing left to translate is a FormatError saying so), and obsolete (#~)
entries and the header are never blocks.

Writing: the new msgstr/msgstr[n], and the "fuzzy" flag on every entry translated (machine
output, for review); the header's Language set to the target language and its Content-Type's
charset to UTF-8, Plural-Forms kept; msgctxt, comments, references, flags and obsolete
entries kept. polib serialises the file (`str(pofile)`, obsolete entries last, strings wrapped
at 78 columns as polib wraps them) and it is written in UTF-8.

Checks: polib reads an unterminated string ("Hello) as if it ended a character early and drops
header lines that are not "Name: value"; both are FormatErrors here, naming the line, as is
any syntax error polib reports and a Plural-Forms header without a number of forms.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import polib

from .base import Block, Format, FormatError, Limits, Parsed
from .decoding import Decoded, decode_text
from .srt import head_text

DEFAULT_PLURALS = 2
_KEYWORD = re.compile(r"(?:msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)(?=[\s\"]|$)\s*(.*)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_POLIB_LINE = re.compile(r"\(line (\d+)\)(?::\s*(.*))?")
_NPLURALS = re.compile(r"nplurals\s*=\s*(\w+)")
_HEADER_LINE = re.compile(r"[^\s:][^:]*:.*")
_CHARSET = re.compile(r"charset\s*=\s*[^\s;]*", re.I)


class KeptHeaderFile(polib.POFile):
    """A POFile that keeps the header entry polib removes from it, to check its lines."""

    header_entry = None

    def remove(self, entry):
        if self.header_entry is None:
            self.header_entry = entry
        super().remove(entry)


def check_strings(text: str) -> None:
    """Every msgid/msgstr/msgctxt line and continuation line holds one whole "string"."""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        for prefix in ("#~", "#|"):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
        keyword = _KEYWORD.fullmatch(line)
        rest = keyword.group(1).strip() if keyword else line if line.startswith('"') else None
        if rest is not None and not _STRING.fullmatch(rest):
            raise FormatError(f"the PO file has an unterminated or malformed string at line "
                              f"{number}: {raw.strip()[:60]!r}")


def parse(text: str):
    """polib's reading of a checked text; its syntax errors as FormatErrors."""
    check_strings(text)
    if not text.endswith("\n"):
        text += "\n"  # never taken for a file name by polib (it opens an existing path)
    try:
        return polib.pofile(text, klass=KeptHeaderFile)
    except (OSError, ValueError) as exc:
        found = _POLIB_LINE.search(str(exc))
        where = f" at line {found.group(1)}" if found else ""
        why = f" ({found.group(2)})" if found and found.group(2) else ""
        raise FormatError(f"the PO file has a syntax error{where}{why}") from None


def check_header(po, text: str) -> None:
    """Every line of the header is "Name: value"."""
    entry = po.header_entry
    for line in (entry.msgstr.split("\n") if entry is not None else []):
        if line.strip() and not _HEADER_LINE.fullmatch(line):
            where = line_of(text, polib.escape(line.strip())[:40])
            raise FormatError(f"the PO header has a line that is not 'Name: value'{where}: "
                              f"{line[:60]!r}")


def line_of(text: str, fragment: str) -> str:
    """" (line N)" for the first line of `text` holding `fragment`, else ""."""
    for number, line in enumerate(text.split("\n"), 1):
        if fragment and fragment in line:
            return f" (line {number})"
    return ""


def plural_count(po) -> tuple[int, str | None]:
    """(nplurals, a note when the header does not say it) from Plural-Forms."""
    value = po.metadata.get("Plural-Forms", "")
    found = _NPLURALS.search(value)
    if not value.strip() or (found and found.group(1) == "INTEGER"):
        return DEFAULT_PLURALS, ("the file's header has no Plural-Forms: plural entries get "
                                 f"{DEFAULT_PLURALS} forms; add the target language's "
                                 f"Plural-Forms header before use")
    if not found or not found.group(1).isdigit() or not 1 <= int(found.group(1)) <= 10:
        raise FormatError(f"the PO header's Plural-Forms {value[:60]!r} does not say how many "
                          f"forms there are (nplurals=N, 1 to 10)")
    return int(found.group(1)), None


@dataclass(frozen=True)
class Target:
    """Where a block's translation goes: entry `index` of the file, its msgstr (forms None)
    or the msgstr[k] of every k in `forms`."""

    index: int
    forms: tuple[int, ...] | None = None


def entry_targets(entry, index: int, plurals: int, overwrite: bool
                  ) -> list[tuple[Block, Target]]:
    """The blocks of one entry (the module docstring's rules)."""
    if entry.obsolete or not entry.msgid:
        return []
    if not entry.msgid_plural:
        if entry.msgstr and not overwrite:
            return []
        return [(Block([entry.msgid], "entry"), Target(index))]
    empty = [k for k in range(plurals) if overwrite or not entry.msgstr_plural.get(k)]
    if plurals == 1:
        return [(Block([entry.msgid_plural], "plural"), Target(index, (0,)))] if empty else []
    out = []
    if 0 in empty:
        out.append((Block([entry.msgid], "plural"), Target(index, (0,))))
    if [k for k in empty if k]:
        out.append((Block([entry.msgid_plural], "plural"),
                    Target(index, tuple(k for k in empty if k))))
    return out


def utf8_content_type(value: str | None) -> str:
    """A Content-Type header value with charset=UTF-8."""
    if not value:
        return "text/plain; charset=UTF-8"
    if _CHARSET.search(value):
        return _CHARSET.sub("charset=UTF-8", value)
    return value.rstrip("; ") + "; charset=UTF-8"


class PoDocument(Parsed):
    def __init__(self, po, decoded: Decoded, overwrite: bool = False):
        self.po = po
        plurals, note = plural_count(po)
        pairs = [pair for index, entry in enumerate(po)
                 for pair in entry_targets(entry, index, plurals, overwrite)]
        self.blocks = [block for block, _ in pairs]
        self.targets = [target for _, target in pairs]
        self.notes = [decoded.note] if decoded.note else []
        if note and any(entry.msgid_plural and not entry.obsolete for entry in po):
            self.notes.append(note)

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        if len(spans) != len(self.blocks):
            raise ValueError(f"{len(spans)} span lists for {len(self.blocks)} entries")
        po = copy.deepcopy(self.po)
        for target, new in zip(self.targets, spans):
            entry = po[target.index]
            if target.forms is None:
                entry.msgstr = "".join(new)
            else:
                for k in target.forms:
                    entry.msgstr_plural[k] = "".join(new)
            if "fuzzy" not in entry.flags:
                entry.flags.insert(0, "fuzzy")  # first, as msgmerge writes it
        po.metadata["Language"] = target_lang
        po.metadata["Content-Type"] = utf8_content_type(po.metadata.get("Content-Type"))
        return str(po).encode("utf-8")


def read(data: bytes, limits: Limits | None = None, overwrite: bool = False) -> PoDocument:
    decoded = decode_text(data, "PO file")
    text = decoded.text.replace("\r\n", "\n")
    po = parse(text)
    check_header(po, text)
    parsed = PoDocument(po, decoded, overwrite)
    if not parsed.blocks and any(not entry.obsolete for entry in po):
        raise FormatError("every entry of the PO file is already translated (a translation "
                          "that overwrites them can be asked for)")
    return parsed


def sniff(data: bytes) -> bool:
    """Whether the file has a msgid line and a msgstr."""
    text = head_text(data, 65536)
    return bool(re.search(r'^\s*msgid\s+"', text, re.M)) and "msgstr" in text


FORMAT = Format("po", (".po", ".pot"), "text/x-gettext-translation; charset=utf-8", read, sniff,
                "gettext PO")
