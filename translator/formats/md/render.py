r"""Writing a changed Markdown block back: its inline content re-rendered as one line of
Markdown from its parts (translator/formats/md/blocks.py) with the new span texts, and a
changed table cell put back inside its row.

A multi-line paragraph becomes one line: soft breaks become spaces, a hard break becomes "\"
and a new line indented as the block's content (none is written before the first or after the
last text). In re-rendered text:

- span text has what could be read as markup backslash-escaped: \ ` * _ [ ] < >, an "&" that
  would start an entity, and a line-leading # > + - = ~ or list number;
- emphasis and strong keep their markers, and are dropped when their text became empty
  (whitespace at their edges goes outside them);
- code spans keep their backticks and content; inline HTML is copied;
- pieces that became neighbours get a space between them where they would otherwise be read
  otherwise: two code spans or emphases (they would merge), and an emphasis that would not be
  flanked (`**a.**b` is not strong: `**a.** b` is);
- links and images are written inline, `[text](url "title")`, with the URL as markdown-it
  normalised it (reference links become inline links; their definitions stay);
- raw HTML that would begin the line as an HTML block (a comment, a block-level tag) is moved
  after the block's first text;
- a changed table cell is replaced inside its row, between the row's own pipes (the other cells
  keep their bytes), with every "|" in it escaped.
"""

from __future__ import annotations

import re

from .blocks import CONTAINER, MdBlock

_ATX_CLOSE = re.compile(r"(^|[ \t])(#+[ \t]*)$")
_SPECIAL = re.compile(r"[\\`*_\[\]<>]|&(?=#?\w+;)")
_LIST_NUMBER = re.compile(r"(\d{1,9})([.)])")
_HTML_BLOCK_START = re.compile(  # CommonMark's HTML block starts 1-6
    r"<(?:!--|\?|![A-Za-z]|!\[CDATA\[|/?(?:script|pre|style|textarea|address|article|aside|"
    r"base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|"
    r"dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|"
    r"iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|"
    r"section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)(?=[\s/>]|$))", re.I)


def escape_text(text: str) -> str:
    """Span text as Markdown source: one line, markup characters backslash-escaped."""
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), text.replace("\n", " "))


def escape_line_start(text: str) -> str:
    """Text that begins a line, without indentation and not read as a block marker."""
    text = text.lstrip()
    number = _LIST_NUMBER.match(text)
    if number:
        return number.group(1) + "\\" + text[number.end(1):]
    return "\\" + text if text[:1] in tuple("#>+-=~") else text


def _code(token) -> str:
    content, ticks = token.content, token.markup or "`"
    pad = content[:1] == "`" or content[-1:] == "`" or (
        content[:1] == " " and content[-1:] == " " and content.strip())
    return f"{ticks} {content} {ticks}" if pad else f"{ticks}{content}{ticks}"


def _destination(url: str) -> str:
    if not url or re.search(r"[\s()<>\\]", url):
        return "<" + re.sub(r"[<>\\]", lambda m: "\\" + m.group(0), url) + ">"
    return url


def _link_end(token, url_attr: str) -> str:
    title = token.attrs.get("title") or ""
    title = ' "' + title.replace("\\", "\\\\").replace('"', '\\"') + '"' if title else ""
    return "](" + _destination(str(token.attrs.get(url_attr, ""))) + title + ")"


def _wrap(token, inner: str) -> str:
    """An inline container around its rendered content."""
    if token.type == "link_open":
        return "[" + inner + _link_end(token, "href")
    core = inner.strip()
    if not core:
        return inner  # emphasis around nothing would be literal asterisks
    lead, trail = inner[: len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()):]
    return lead + token.markup + core + token.markup + trail


class _Renderer:
    """Writes a block's parts as Markdown with new span texts (`spans_of(block)`). `top` is
    the last rendered block's outermost pieces as [kind, text] ("text", "raw", "other")."""

    def __init__(self, spans_of, newline: str, continuation: str):
        self.spans_of = spans_of
        self.newline = newline
        self.continuation = continuation
        self.top: list[list[str]] = []

    def inline(self, block: MdBlock, line_start: bool) -> str:
        spans = self.spans_of(block)
        stack: list[list[list[str]]] = [[]]
        opened: list = []
        for part in block.parts:
            kind = part[0]
            if kind == "text":
                text = escape_text(spans[part[1]])
                _append(stack[-1], "text", escape_line_start(text) if line_start else text)
            elif kind == "raw":
                _append(stack[-1], "raw", part[1])
            elif kind == "code":
                _append(stack[-1], "other", _code(part[1]))
            elif kind == "image":
                alt = _Renderer(self.spans_of, self.newline, "").inline(part[2], False)
                _append(stack[-1], "other", "![" + alt + _link_end(part[1], "src"))
            elif kind == "break":
                stack[-1].append(["break", "\\" + self.newline + self.continuation])
                line_start = block.kind != "cell"
                continue
            elif kind == "open":
                stack.append([])
                opened.append(part[1])
            elif kind == "close" and opened:
                inner, token = _joined(stack.pop()), opened.pop()
                _append(stack[-1], "emphasis" if token.type != "link_open" else "other",
                        _wrap(token, inner))
            line_start = line_start and not _joined(stack[-1]).strip()
        while opened:  # an unclosed container (should not happen): close it
            inner = _joined(stack.pop())
            _append(stack[-1], "other", _wrap(opened.pop(), inner))
        self.top = stack[0]
        return _joined(stack[0])

    def html_after_text(self) -> str:
        """The block with the raw HTML it starts with moved after its first text: a line that
        begins with a comment or a block-level tag would be read as an HTML block."""
        pieces = self.top
        first = next((i for i, (kind, text) in enumerate(pieces)
                      if kind != "raw" and text.strip()), None)
        if first is None:
            return _joined(pieces)
        kind, text = pieces[first]
        lead = escape_line_start(text) if kind == "text" else text.lstrip()
        return lead.rstrip() + " " + _joined(pieces[:first]).strip() + " " + \
            _joined(pieces[first + 1:]).lstrip()


def _joined(pieces: list[list[str]]) -> str:
    return "".join(text for _, text in pieces)


def _append(pieces: list[list[str]], kind: str, piece: str) -> None:
    """Add a piece of Markdown, after a space where it would otherwise not be read as it was
    meant (`_needs_space`)."""
    last = next((item for item in reversed(pieces) if item[1]), None)
    if last and piece and _needs_space(last[1], last[0], piece, kind):
        pieces.append(["other", " "])
    pieces.append([kind, piece])


def _needs_space(last: str, last_kind: str, piece: str, kind: str) -> bool:
    """Whether two pieces that became neighbours (the text between them went elsewhere, or
    lost its space) need a space: two code spans or emphases would merge into one delimiter
    run, and an emphasis must be flanked: its outer side may touch a letter only when its
    inner side is one too (and never for "_")."""
    if last[-1] == piece[0] and piece[0] in "`*_":
        return True
    if kind == "emphasis" and last[-1].isalnum():
        inner = piece.lstrip("*_")[:1]
        return piece[0] == "_" or not inner.isalnum()
    if last_kind == "emphasis" and piece[0].isalnum():
        inner = last.rstrip("*_")[-1:]
        return last[-1] == "_" or not inner.isalnum()
    return False


def _without_outer_breaks(pieces: list[list[str]]) -> list[list[str]]:
    """The pieces without hard breaks before the first or after the last text (their text
    went elsewhere: a backslash there would be read as a literal)."""
    solid = [i for i, (kind, text) in enumerate(pieces) if kind != "break" and text.strip()]
    if not solid:
        return pieces
    return [piece for i, piece in enumerate(pieces)
            if piece[0] != "break" or solid[0] < i < solid[-1]]


def render(block: MdBlock, spans_of, newline: str) -> str:
    """The block's inline content as one line of Markdown (hard breaks start new lines)."""
    continuation = re.sub(r"[^>\s]", " ", block.prefix)
    renderer = _Renderer(spans_of, newline, continuation)
    renderer.inline(block, block.kind != "cell")
    renderer.top = _without_outer_breaks(renderer.top)
    out = _joined(renderer.top).strip()
    if block.kind == "cell":
        return out.replace("|", "\\|")
    if _HTML_BLOCK_START.match(out):
        out = renderer.html_after_text().strip()
    match = _ATX_CLOSE.search(out) if block.kind == "heading" else None
    if match and block.prefix.rstrip().endswith("#") and not block.suffix.strip():
        out = out[: match.start(2)] + "\\" + out[match.start(2):]
    return out


def pipe_ranges(row: str) -> list[tuple[int, int]]:
    """The (start, end) of each cell of a table row as markdown-it splits it: at pipes not
    preceded by a backslash, without the empty cells before a leading or after a trailing
    pipe."""
    ranges, last = [], 0
    for pos, ch in enumerate(row):
        if ch == "|" and (pos == 0 or row[pos - 1] != "\\"):
            ranges.append((last, pos))
            last = pos + 1
    ranges.append((last, len(row)))
    if ranges and ranges[0][0] == ranges[0][1]:
        ranges.pop(0)
    if ranges and ranges[-1][0] == ranges[-1][1]:
        ranges.pop()
    return ranges


def rewrite_row(line: str, cells: dict[int, str]) -> str:
    """A table row with the content of the given columns replaced."""
    start = CONTAINER.match(line).end()
    row = line[start:].rstrip()
    ranges = pipe_ranges(row)
    for column in sorted(cells, reverse=True):
        if column >= len(ranges):
            continue
        begin, end = ranges[column]
        raw = row[begin:end]
        lead = len(raw) - len(raw.lstrip())
        trail = len(raw) - len(raw.rstrip())
        row = row[: begin + lead] + cells[column] + row[end - trail:]
    return line[:start] + row + line[start + len(line[start:].rstrip()):]
