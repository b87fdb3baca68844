"""WebVTT subtitles (.vtt): the subtitle blocks, spans and line-breaking rules of srt.py, read
and written with pysubs2, plus what pysubs2 does not keep.

pysubs2 1.8 reads a WebVTT file as SRT with dots: it drops the header's text and metadata
(Kind:, Language:, X-TIMESTAMP-MAP=...), STYLE and REGION blocks, cue identifiers and cue
settings (align:start position:10%), and it reads a NOTE block, or the identifier of the next
cue, as more lines of the cue before it. So the file's layout is read here first (`layout`):
the header, the NOTE/STYLE/REGION blocks, and each cue's identifier, timing, settings and text.
pysubs2 is given the cues alone, numbered, without settings (one event per cue), and its
serialisation (`to_string("vtt")`, which orders cues by start time) is given back what it
dropped: the header as it was, with a `Language:` line set to the target language; the blocks
before the first cue after the header; each cue's identifier in place of pysubs2's number (a cue
without one keeps pysubs2's number) and its settings after its timing; and every NOTE (or other
block outside a cue) after the cue it followed, untranslated. A file of plain cues (no
identifiers, settings, notes or metadata) is written exactly as pysubs2 re-serialises it.

Cue text: tags pysubs2 does not convert (<v Speaker>, <c.class>, <lang>, <ruby>) are kept as
they are and are never spans; character references (&amp;, &lt;, &gt;, &nbsp;) are characters
in the spans and written escaped again.

Checks: the file must start with WEBVTT, every cue's timing must read "[HH:]MM:SS.mmm -->
[HH:]MM:SS.mmm", and a cue's text cannot hold a timing line; the FormatError names the cue.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .base import Format, FormatError, Limits
from .decoding import Decoded, decode_text
from .srt import SubtitleDocument, head_text, load, normalize_newlines

_STAMP = r"(?:\d{1,4}:)?\d{2}:\d{2}\.\d{3}"
_TIMING = re.compile(rf"[ \t]*(?P<start>{_STAMP})[ \t]+-->[ \t]+(?P<end>{_STAMP})"
                     rf"(?P<settings>[ \t].*)?")
_TIMESTAMP_LIKE = re.compile(r"\d+\s*:\s*\d+")
_HEADER = re.compile(r"\ufeff?WEBVTT(?:[ \t].*)?")
_NOT_CUE = re.compile(r"(NOTE(?:[ \t].*)?|STYLE[ \t]*|REGION[ \t]*)")
_LANGUAGE = re.compile(r"(?i)(language[ \t]*:[ \t]*).*")
_OUT_CUE = re.compile(r"^(?P<number>\d+)\n(?P<timing>\S+ --> \S+)$", re.M)  # pysubs2's output


@dataclass
class Cue:
    identifier: str | None
    start: str
    end: str
    settings: str  # what followed the end time on the timing line (with its leading space)
    text: list[str]  # the cue's lines of text
    after: list[str] = field(default_factory=list)  # blocks that followed it, verbatim


@dataclass
class Layout:
    header: list[str]
    before: list[str]  # blocks between the header and the first cue (STYLE, REGION, NOTE)
    cues: list[Cue]
    stray: list[int]  # first line numbers of text blocks outside any cue


def paragraphs(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The runs of non-blank lines, each with the number of its first line."""
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in enumerate(lines + [""], 1):
        if line.strip():
            if not current:
                out.append((number, current))
            current.append(line)
        else:
            current = []
    return out


def _cue_error(cue: str, line_no: int, line: str, what: str) -> FormatError:
    return FormatError(f"the WebVTT file has {what} in {cue} (line {line_no}: "
                       f"{line.strip()[:60]!r})")


def _is_timing(line: str) -> bool:
    """Whether a line is meant as a timing line (it may still not parse)."""
    return "-->" in line or bool(_TIMESTAMP_LIKE.match(line.strip()))


def parse_cue(first: int, lines: list[str], index: int) -> Cue | None:
    """The cue a block holds (None if it holds none): an optional identifier line, a timing
    line, the text. A timing line (one with "-->" or starting with a time) that does not
    parse is a FormatError."""
    at = next((i for i, line in enumerate(lines[:2]) if _is_timing(line)), None)
    if at is None:
        return None
    identifier = lines[0].strip() if at else None
    name = f"cue {identifier!r}" if identifier else f"cue {index}"
    timing = _TIMING.fullmatch(lines[at])
    if not timing:
        raise _cue_error(name, first + at, lines[at],
                         "a broken timing line (it must read 'HH:MM:SS.mmm --> HH:MM:SS.mmm')")
    for offset, line in enumerate(lines[at + 1:], at + 1):
        if "-->" in line:
            raise _cue_error(name, first + offset, line, "a timing line inside the text "
                             "(cues must be separated by a blank line)")
    return Cue(identifier, timing["start"], timing["end"], timing["settings"] or "",
               lines[at + 1:])


def layout(text: str) -> Layout:
    """The header, blocks and cues of a WebVTT text (the module docstring's checks)."""
    blocks = paragraphs(text.split("\n"))
    if not blocks or not _HEADER.fullmatch(blocks[0][1][0]):
        raise FormatError("the file is not WebVTT: its first line must be WEBVTT")
    header = blocks[0][1]
    for offset, line in enumerate(header):
        if "-->" in line:
            raise FormatError(f"the WebVTT header must be followed by a blank line before the "
                              f"first cue (line {offset + 1})")
    result = Layout(header, [], [], [])
    for first, lines in blocks[1:]:
        cue = None if _NOT_CUE.fullmatch(lines[0]) else parse_cue(
            first, lines, len(result.cues) + 1)
        if cue:
            result.cues.append(cue)
            continue
        if not _NOT_CUE.fullmatch(lines[0]):
            result.stray.append(first)
        (result.cues[-1].after if result.cues else result.before).append("\n".join(lines))
    if not result.cues:
        raise FormatError("the WebVTT file has no cues (no 'HH:MM:SS.mmm --> HH:MM:SS.mmm')")
    return result


def for_pysubs2(cues: list[Cue]) -> str:
    """The cues alone, numbered and without settings: what pysubs2 reads one event per cue."""
    body = "".join(f"{number}\n{cue.start} --> {cue.end}\n" + "\n".join(cue.text) + "\n\n"
                   for number, cue in enumerate(cues, 1))
    return "WEBVTT\n\n" + body


def escape(text: str) -> str:
    """Span text as WebVTT cue text (its three special characters as references)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VttDocument(SubtitleDocument):
    def __init__(self, subs, decoded: Decoded, structure: Layout, notes: list[str]):
        super().__init__(subs, decoded, "vtt", notes, unescape=html.unescape, escape=escape)
        self.layout = structure

    def header(self, target_lang: str) -> str:
        lines = [self.layout.header[0]] + [_LANGUAGE.sub(rf"\g<1>{target_lang}", line)
                                           for line in self.layout.header[1:]]
        return "\n".join(lines).lstrip("\ufeff")

    def finish(self, text: str, subs, target_lang: str) -> str:
        """pysubs2's output with the header, blocks, identifiers and settings put back."""
        shown = subs.get_text_events()
        shown.sort(key=lambda event: event.start)  # the order pysubs2 writes them in
        index_of = {id(event): i for i, event in enumerate(subs.events)}
        cues = [self.layout.cues[index_of[id(event)]] for event in shown]
        found = list(_OUT_CUE.finditer(text))
        if len(found) != len(cues):
            raise ValueError(f"pysubs2 wrote {len(found)} cues of {len(cues)}")
        out = [self.header(target_lang) + "\n\n"] + [block + "\n\n" for block in
                                                     self.layout.before]
        for j, (match, cue) in enumerate(zip(found, cues)):
            end = found[j + 1].start() if j + 1 < len(found) else len(text)
            identifier = cue.identifier if cue.identifier is not None else match["number"]
            out.append(f"{identifier}\n{match['timing']}{cue.settings}{text[match.end():end]}")
            out += [block + "\n\n" for block in cue.after]
        return "".join(out)


def read(data: bytes, limits: Limits | None = None) -> VttDocument:
    decoded = decode_text(data, "WebVTT file")
    structure = layout(normalize_newlines(decoded.text))
    subs = load(for_pysubs2(structure.cues), "vtt", len(structure.cues))
    notes = []
    if structure.stray:
        lines = ", ".join(str(n) for n in structure.stray[:5])
        notes.append(f"text outside any cue (line {lines}) was kept untranslated")
    return VttDocument(subs, decoded, structure, notes)


def sniff(data: bytes) -> bool:
    """Whether the file starts with WEBVTT."""
    return bool(_HEADER.match(head_text(data, 64).lstrip()))


FORMAT = Format("vtt", (".vtt",), "text/vtt; charset=utf-8", read, sniff, "WebVTT subtitles")
