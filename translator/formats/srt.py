"""SubRip subtitles (.srt), read and written with pysubs2; vtt.py builds on the subtitle
document defined here.

Blocks: every subtitle (a pysubs2 event) is a block of kind "subtitle", in file order. Its spans
are the pieces of its text between tags: the override tags pysubs2 makes of <i>, <u>, <s>, <b>
({\\i1}...{\\i0}), any other override sequence ({\\an8}), and HTML-like tags pysubs2 keeps
(<font color=...>; they are read with `keep_unknown_html_tags`). A span's line breaks (pysubs2's
\\N) are spaces, so a two-line subtitle reads as one text.

Writing: a subtitle whose spans come back unchanged keeps its text exactly (line breaks
included). Any other is rebuilt from its spans with the tags where they were, and broken again
into as many lines as it had (`rebreak`: the break before line i+1 of k goes at the word
boundary nearest to i/k of the text's length; a dialogue subtitle, every line starting with a
dash, is broken before the dashes of the new text when there are k-1 of them; a text with too
few words gets fewer lines). A tag pair left around no text (its span got no sentence) is
dropped, and a style closed and reopened across the old line break is merged. The file is then
serialised by pysubs2 (`to_string("srt")`), so an identity round trip is exactly pysubs2's
re-serialisation of the input, in the input's Unicode encoding (UTF-8 otherwise). Timings are
pysubs2's: every start and end is kept.

What pysubs2 changes or drops, on any round trip: cues are numbered 1..n (a note says so when
the input was numbered otherwise), line endings become \\n, blank lines inside a subtitle and
the old "X1:... Y2:..." coordinates after a timing are dropped, and override sequences that are
no style ({\\an8}, "{0}", also in a translation) are not written. Bold is the exception made
here: pysubs2 1.8 reads <b> but does not write it, so it is kept as a literal <b> tag.

Checks (pysubs2 silently merges a cue with a broken timing into the one before): every cue's
timing line must read "HH:MM:SS,mmm --> HH:MM:SS,mmm", or the FormatError names the cue; a
cue holding a SubStation drawing ({\\p1}), which pysubs2 would not write, is refused too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence

import pysubs2

from .base import Block, Format, FormatError, Limits, Parsed
from .decoding import Decoded, decode_text

# A tag in an event's text: an override sequence, or an HTML-like tag pysubs2 kept.
TAG = re.compile(r"(\{[^}]*\}|<\s*/?\s*[A-Za-z0-9][^<>]*>)")
LINE_BREAK = re.compile(r"\\[Nn]")
HARD_SPACE = "\\h"
# Empty styled runs left when a span loses its text, and styles closed and reopened at once.
_EMPTY_STYLE = re.compile(r"\{\\(?P<s>[ibus])1\}(?P<ws>\s*)\{\\(?P=s)0\}"
                          r"|<(?P<t>[A-Za-z]\w*)(?:[\s.][^<>]*)?>(?P<tws>\s*)</\s*(?P=t)\s*>")
_REOPENED = re.compile(r"\{\\(?P<s>[ibus])0\}(?P<ws>\s*)\{\\(?P=s)1\}|</b>(?P<bws>\s*)<b>")

_TIMESTAMP = r"\d{1,2}:\d{1,2}:\d{1,2}[,.]\d{1,3}"  # what pysubs2's SRT reader accepts
_SRT_TIMING = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(\s.*)?")
_TIMESTAMP_LIKE = re.compile(r"\d+\s*:\s*\d+")
_NUMBER = re.compile(r"\s*(\d+)\s*")
# A last line of digits is taken by pysubs2 for the next cue's number; this one is taken instead.
SENTINEL = "\n\n0\n"


def normalize_newlines(text: str) -> str:
    """\\r\\n and \\r as \\n (pysubs2 keeps the \\r of a string in the text)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_tags(text: str) -> tuple[list[str], list[str]]:
    """(pieces, tags) of an event's text: text == pieces[0] + tags[0] + pieces[1] + ..."""
    parts = TAG.split(text)
    return parts[0::2], parts[1::2]


def join_tags(pieces: Sequence[str], tags: Sequence[str]) -> str:
    out = [pieces[0]]
    for tag, piece in zip(tags, pieces[1:]):
        out += [tag, piece]
    return "".join(out)


def line_count(text: str) -> int:
    """How many lines with text a subtitle shows (at least 1)."""
    lines = LINE_BREAK.split(TAG.sub("", text))
    return max(1, sum(1 for line in lines if line.strip()))


def is_dialogue(text: str) -> bool:
    """Every shown line starts with a dash (two speakers in one subtitle)."""
    lines = [line.strip() for line in LINE_BREAK.split(TAG.sub("", text)) if line.strip()]
    return len(lines) > 1 and all(line[:1] in "-\u2010\u2013\u2014" for line in lines)


def _whitespace_runs(chars: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of every run of whitespace between two words of `chars`."""
    runs, start = [], None
    for i, ch in enumerate(chars):
        if ch.isspace():
            start = i if start is None else start
        elif start is not None:
            if start > 0:
                runs.append((start, i))
            start = None
    return runs


def _nearest_breaks(runs: list[tuple[int, int]], length: int, lines: int) -> list[tuple[int, int]]:
    """The run nearest to i/lines of `length` for every i, in order, each after the last."""
    chosen: list[tuple[int, int]] = []
    for i in range(1, lines):
        left = [run for run in runs if not chosen or run[0] > chosen[-1][0]]
        needed_after = lines - 1 - i
        left = left[: len(left) - needed_after] if needed_after else left
        if not left:
            break
        target = length * i / lines
        chosen.append(min(left, key=lambda run: abs(run[0] - target)))
    return chosen


def rebreak(spans: Sequence[str], lines: int, dialogue: bool = False) -> list[str]:
    """`spans` with `lines` - 1 of their inner whitespace runs replaced by \\N (the module
    docstring's rule); a run may go across spans (its first character becomes the break)."""
    owner = [index for index, span in enumerate(spans) for _ in span]
    chars = [ch for span in spans for ch in span]
    runs = _whitespace_runs(chars)
    lines = min(lines, len(runs) + 1)
    dashes = [run for run in runs if chars[run[1]] in "-\u2010\u2013\u2014"]
    if dialogue and len(dashes) == lines - 1:
        breaks = dashes
    else:
        breaks = _nearest_breaks(runs, len(chars), lines)
    replace = {}
    for start, end in breaks:
        replace[start] = "\\N"
        replace.update({i: "" for i in range(start + 1, end)})
    out = [[] for _ in spans]
    for i, ch in enumerate(chars):
        out[owner[i]].append(replace.get(i, ch))
    return ["".join(chars_of_span) for chars_of_span in out]


def tidy(text: str) -> str:
    """An event text without empty styled runs, and without a style closed only to be
    reopened after some spaces (the break between two italic lines that now lies elsewhere)."""
    previous = None
    while previous != text:
        previous = text
        text = _EMPTY_STYLE.sub(lambda m: m.group("ws") or m.group("tws") or "", text)
        text = _REOPENED.sub(lambda m: m.group("ws") or m.group("bws") or "", text)
    return text


def keep_bold(text: str) -> str:
    """pysubs2's bold override tags as literal <b> tags (its writers drop bold)."""
    return text.replace("{\\b1}", "<b>").replace("{\\b0}", "</b>")


class SubtitleDocument(Parsed):
    """Subtitles read by pysubs2: one block per event (the module docstring's rules).
    `unescape` and `escape` turn a piece of event text into span text and back (VTT's
    character references); `finish` turns pysubs2's output into the file's text."""

    def __init__(self, subs, decoded: Decoded, format_name: str, notes: list[str],
                 unescape: Callable[[str], str] = str, escape: Callable[[str], str] = str):
        self.subs = subs
        self.decoded = decoded
        self.format_name = format_name
        self.notes = ([decoded.note] if decoded.note else []) + notes
        self.escape = escape
        for event in subs.events:
            event.text = keep_bold(event.text)
        self.blocks = [Block(self.span_texts(event.text, unescape), "subtitle")
                       for event in subs.events]

    @staticmethod
    def span_texts(text: str, unescape: Callable[[str], str]) -> list[str]:
        pieces, _ = split_tags(text)
        return [unescape(LINE_BREAK.sub(" ", piece).replace(HARD_SPACE, " "))
                for piece in pieces]

    def event_text(self, original: str, spans: Sequence[str]) -> str:
        """The text of a subtitle with new span texts, re-broken into its number of lines."""
        _, tags = split_tags(original)
        pieces = [self.escape(span) for span in spans]
        pieces = rebreak(pieces, line_count(original), is_dialogue(original))
        return tidy(join_tags(pieces, tags)).strip()

    def translated_subs(self, spans: list[list[str]]):
        if len(spans) != len(self.blocks):
            raise ValueError(f"{len(spans)} span lists for {len(self.blocks)} subtitles")
        subs = copy.deepcopy(self.subs)
        for event, block, new in zip(subs.events, self.blocks, spans):
            if len(new) != len(block.spans):
                raise ValueError(f"{len(new)} spans for a subtitle of {len(block.spans)}")
            if list(new) != block.spans:
                event.text = self.event_text(event.text, new)
        return subs

    def finish(self, text: str, subs, target_lang: str) -> str:
        return text

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        subs = self.translated_subs(spans)
        text = self.finish(subs.to_string(self.format_name), subs, target_lang)
        return self.decoded.encode(text)


def _cue_error(number: str | None, line_no: int, line: str) -> FormatError:
    cue = f"cue {number}" if number else "a cue"
    return FormatError(f"the SRT file has a broken timing line in {cue} (line {line_no}: "
                       f"{line.strip()[:60]!r}); it must read 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")


def check_srt(text: str) -> list[int]:
    """The number of every cue (0 where it has none), checking that every cue's timing line
    parses: a line with "-->", or the line after a cue number (a line of digits opening a
    block, one more than the last cue's) must read "HH:MM:SS,mmm --> HH:MM:SS,mmm"."""
    numbers: list[int] = []
    lines = text.split("\n")
    for index, line in enumerate(lines):
        before = lines[index - 1] if index else ""
        opens_block = index < 2 or not lines[index - 2].strip()
        number = _NUMBER.fullmatch(before) if index and opens_block else None
        if _SRT_TIMING.fullmatch(line):
            numbers.append(int(number.group(1)) if number else 0)
        elif "-->" in line or (number and _TIMESTAMP_LIKE.search(line)):
            raise _cue_error(number.group(1) if number else None, index + 1, line)
        elif number and int(number.group(1)) == len(numbers) + 1:
            raise FormatError(f"the SRT file's cue {number.group(1)} (line {index}) has no "
                              f"timing line 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
    if not numbers:
        raise FormatError("the file has no subtitles: no timing line "
                          "'HH:MM:SS,mmm --> HH:MM:SS,mmm' was found")
    return numbers


def load(text: str, format_name: str, cues: int):
    """pysubs2's reading of a checked text, with one event per cue."""
    subs = pysubs2.SSAFile.from_string(text + SENTINEL, format_=format_name,
                                       keep_unknown_html_tags=True)
    if len(subs.events) != cues:
        raise FormatError(f"the file has {cues} cues but {len(subs.events)} could be read "
                          f"(a line of the text looks like a timing)")
    for number, event in enumerate(subs.events, 1):
        if not event.is_text:
            raise FormatError(f"cue {number} holds a SubStation drawing tag ({{\\p1}}), "
                              f"which subtitles cannot be written with")
    return subs


def read(data: bytes, limits: Limits | None = None) -> SubtitleDocument:
    decoded = decode_text(data, "SRT file")
    text = normalize_newlines(decoded.text)
    numbers = check_srt(text)
    notes = []
    if numbers != list(range(1, len(numbers) + 1)):
        notes.append("the subtitles were not numbered 1, 2, 3...: the translation numbers them so")
    return SubtitleDocument(load(text, "srt", len(numbers)), decoded, "srt", notes)


def head_text(data: bytes, size: int = 4096) -> str:
    """The start of a file as text, for sniffing (UTF-16 with a BOM, else UTF-8)."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[2: 2 + 2 * size].decode(codec, "ignore")
    return data[:size].decode("utf-8", "ignore").lstrip("\ufeff")


def sniff(data: bytes) -> bool:
    """Whether the file starts as SRT does: a cue number, then a timing line."""
    return bool(re.match(rf"\s*\d+[ \t]*\r?\n\s*{_TIMESTAMP}\s*-->", head_text(data)))


FORMAT = Format("srt", (".srt",), "application/x-subrip", read, sniff, "SRT subtitles")
