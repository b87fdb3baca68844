r"""Markdown (CommonMark with GFM tables), read with markdown-it-py and written by splicing into
the original lines.

Reading. `MarkdownIt("commonmark").enable("table")` parses the text. Every inline token of a
heading ("heading"), a paragraph ("paragraph"; "item" when it is directly in a list item, tight
or loose) and a table cell ("cell") is a block, whose spans are the runs of text between its
inline markup (emphasis, strong, links, images, code spans, inline HTML, autolinks, hard
breaks). Soft line breaks are text ("\n"), and so is the line break of a hard break (the span
after it starts with "\n"). An image's alt text is a block of its own (kind "attribute", right
after the block holding the image, as HTML's alt attribute is): in one sentence with the text
around the image, the inline rule would leave it empty. Never translated: code spans, fenced
and indented code, HTML blocks and inline HTML tags, autolinks, link and image URLs and titles,
reference definitions, and YAML front matter (a "---" first line up to the next "---" or "..."
line: hidden from the parser, kept as it is). Blocks are in document order.

Writing. The output is the input's lines with the changed blocks spliced in. A block whose
spans (and alt texts) all come back unchanged keeps its original lines byte for byte, so an
identity translation gives back the same bytes (re-encoded as read when that was a Unicode
encoding, with its byte-order mark; else as UTF-8). A changed block is re-rendered from its
tokens on its first line, after the same prefix (blockquote ">", list marker, indentation,
heading "#"s), keeping an ATX heading's closing "#"s and a setext heading's underline line; its
other lines are dropped. So a multi-line paragraph becomes one line: soft breaks become spaces,
a hard break becomes "\" and a new line indented as the block's content (none is written before
the first or after the last text). In re-rendered text:

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
from dataclasses import dataclass, field

from .base import Block, Format, Limits, Parsed
from .text import Decoded, decode_text

_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")
_CONTAINER = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")
_ATX_OPEN = re.compile(r"#{1,6}[ \t]*")
_ATX_CLOSE = re.compile(r"(^|[ \t])(#+[ \t]*)$")
_SPECIAL = re.compile(r"[\\`*_\[\]<>]|&(?=#?\w+;)")
_LIST_NUMBER = re.compile(r"(\d{1,9})([.)])")
_HTML_BLOCK_START = re.compile(  # CommonMark's HTML block starts 1-6
    r"<(?:!--|\?|![A-Za-z]|!\[CDATA\[|/?(?:script|pre|style|textarea|address|article|aside|"
    r"base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|"
    r"dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|"
    r"iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|"
    r"section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul)(?=[\s/>]|$))", re.I)
_FRONT_MATTER_END = ("---", "...")


@dataclass
class MdBlock:
    """Where a block is and how to re-render it. Parts: ("text", span index), ("raw", source),
    ("code", token), ("break",), ("open", token), ("close", token), ("image", token, the
    MdBlock of its alt text)."""

    kind: str
    parts: list
    spans: list[str]
    images: list[MdBlock] = field(default_factory=list)  # the alt texts in it, in order
    first: int = 0  # its first line (a table cell: its row)
    end: int = 0  # one past its last line
    column: int | None = None  # a table cell's column
    prefix: str = ""  # what comes before its text on its first line
    suffix: str = ""  # what comes after it on its last line (an ATX heading's closing #s)
    index: int | None = None  # its place in the document's blocks (None: it holds no text)
    marks: list[str] = field(default_factory=list)  # per span, the emphasis/link around it


def split_lines(text: str) -> list[tuple[str, str]]:
    """The lines of `text` as (content, line ending) pairs."""
    lines = []
    for match in _LINE.finditer(text):
        if match.start() == len(text) and not match.group(0) and lines:
            break
        lines.append((match.group(1), match.group(2)))
        if not match.group(2):
            break
    return lines


def front_matter_lines(lines: list[tuple[str, str]]) -> int:
    """How many lines the YAML front matter at the top takes (0 if there is none)."""
    if not lines or lines[0][0].rstrip() != "---":
        return 0
    for index in range(1, len(lines)):
        if lines[index][0].rstrip() in _FRONT_MATTER_END:
            return index + 1
    return 0


class _InlineReader:
    """Turns an inline token's children into parts and spans (and alt-text blocks)."""

    def __init__(self):
        self.parts: list = []
        self.spans: list[str] = []
        self.marks: list[str] = []  # per span: the emphasis and links open around it
        self.images: list[MdBlock] = []
        self.buffer: list[str] = []
        self.open: list[str] = []

    def flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer.clear()
        if text:
            self.spans.append(text)
            self.marks.append("/".join(self.open))
            self.parts.append(("text", len(self.spans) - 1))

    def read(self, children) -> _InlineReader:
        index = 0
        while index < len(children):
            index = self.read_one(children, index)
        self.flush()
        return self

    def read_one(self, children, index: int) -> int:
        """Read the token at `index`; returns the index of the next one."""
        token = children[index]
        if token.type == "text":
            self.buffer.append(token.content)
            return index + 1
        if token.type == "softbreak":
            self.buffer.append("\n")
            return index + 1
        self.flush()
        if token.type == "link_open" and token.markup == "autolink":
            end = index + 1
            while end < len(children) and children[end].type != "link_close":
                end += 1
            text = "".join(child.content for child in children[index + 1: end])
            self.parts.append(("raw", _autolink(token, text)))
            return end + 1
        if token.type == "image":
            alt = _InlineReader().read(token.children or [])
            block = MdBlock("attribute", alt.parts, alt.spans, marks=alt.marks)
            self.parts.append(("image", token, block))
            self.images += [block, *alt.images]
        elif token.type == "hardbreak":  # the line break is text too: the next span's "\n"
            self.parts.append(("break",))
            self.buffer.append("\n")
        elif token.type == "code_inline":
            self.parts.append(("code", token))
        elif token.nesting in (1, -1):
            self.parts.append(("open" if token.nesting == 1 else "close", token))
            if token.nesting == 1:
                self.open.append(token.tag + "".join(f"[{k}={v}]" for k, v in
                                                     sorted((token.attrs or {}).items())))
            elif self.open:
                self.open.pop()
        else:  # html_inline, and anything unforeseen: copied as its source
            self.parts.append(("raw", token.content or token.markup))
        return index + 1


def _autolink(token, text: str) -> str:
    inner = text if text and not re.search(r"[\s<>]", text) else token.attrs.get("href", "")
    return f"<{inner}>"


def _kind(tokens, index: int, containers: list[str]) -> str | None:
    """The kind of the inline token at `index`, from the token that opened it."""
    opener = tokens[index - 1].type if index else ""
    if opener == "heading_open":
        return "heading"
    if opener in ("th_open", "td_open"):
        return "cell"
    if opener == "paragraph_open":
        outer = containers[-2] if len(containers) >= 2 else ""
        return "item" if outer == "list_item_open" else "paragraph"
    return None


def scan(tokens, lines: list[tuple[str, str]]) -> list[MdBlock]:
    """The blocks of a token stream that hold text themselves or in an image's alt text, in
    order (the module docstring's rule)."""
    blocks, containers, column = [], [], 0
    for index, token in enumerate(tokens):
        if token.type == "tr_open":
            column = -1
        if token.type in ("th_open", "td_open"):
            column += 1
        if token.nesting == 1:
            containers.append(token.type)
        elif token.nesting == -1 and containers:
            containers.pop()
        kind = _kind(tokens, index, containers) if token.type == "inline" else None
        if kind is None or not token.map:
            continue
        reader = _InlineReader().read(token.children or [])
        block = MdBlock(kind, reader.parts, reader.spans, reader.images, token.map[0],
                        token.map[1], marks=reader.marks)
        if not any(_has_text(b) for b in (block, *block.images)):
            continue
        if kind == "cell":
            block.column = column
        else:
            atx = kind == "heading" and tokens[index - 1].markup.startswith("#")
            _locate(block, lines, token.content, atx)
        blocks.append(block)
    return blocks


def _has_text(block: MdBlock) -> bool:
    return bool("".join(block.spans).strip())


def numbered(blocks: list[MdBlock]) -> list[MdBlock]:
    """The document's blocks (those with text, each followed by its images' alt texts), with
    their `index` set."""
    out = []
    for block in blocks:
        for each in (block, *block.images):
            if _has_text(each):
                each.index = len(out)
                out.append(each)
    return out


def _locate(block: MdBlock, lines: list[tuple[str, str]], content: str, atx: bool) -> None:
    """Find the block's prefix on its first line (and an ATX heading's closing sequence)."""
    line = lines[block.first][0]
    start = _CONTAINER.match(line).end()
    if atx:
        start = _ATX_OPEN.match(line, start).end() if _ATX_OPEN.match(line, start) else start
    first = content.split("\n", 1)[0].rstrip()
    at = line.find(first, start) if first else -1
    at = start if at < 0 else at
    block.prefix = line[:at]
    if atx:
        block.suffix = line[at + len(first):] if at + len(first) <= len(line) else ""


# ----------------------------------------------------------------------------- rendering


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
    start = _CONTAINER.match(line).end()
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


class MarkdownDocument(Parsed):
    def __init__(self, decoded: Decoded):
        from markdown_it import MarkdownIt

        self.decoded = decoded
        self.notes = [decoded.note] if decoded.note else []
        self.lines = split_lines(decoded.text)
        hidden = front_matter_lines(self.lines)
        source = "\n".join("" if index < hidden else text
                           for index, (text, _) in enumerate(self.lines))
        tokens = MarkdownIt("commonmark").enable("table").parse(source)
        self.hosts = scan(tokens, self.lines)
        self.md_blocks = numbered(self.hosts)
        self.blocks = [Block(list(block.spans), block.kind, list(block.marks) or None)
                       for block in self.md_blocks]

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        if len(spans) != len(self.md_blocks) or any(
                len(new) != len(block.spans) for new, block in zip(spans, self.md_blocks)):
            raise ValueError("the spans do not match the document's blocks")

        def spans_of(block: MdBlock) -> list[str]:
            return list(spans[block.index]) if block.index is not None else block.spans

        lines = list(self.lines)
        dropped: set[int] = set()
        rows: dict[int, dict[int, str]] = {}
        for host in self.hosts:
            if all(spans_of(block) == block.spans for block in (host, *host.images)):
                continue
            ending = self.lines[host.end - 1][1]
            rendered = render(host, spans_of, ending or "\n")
            if host.column is not None:
                rows.setdefault(host.first, {})[host.column] = rendered
                continue
            lines[host.first] = (host.prefix + rendered + host.suffix, ending)
            dropped.update(range(host.first + 1, host.end))
        for index, cells in rows.items():
            lines[index] = (rewrite_row(lines[index][0], cells), lines[index][1])
        out = "".join(text + ending for i, (text, ending) in enumerate(lines) if i not in dropped)
        return self.decoded.encode(out)


def read(data: bytes, limits: Limits | None = None) -> MarkdownDocument:
    return MarkdownDocument(decode_text(data, "Markdown file"))


FORMAT = Format("md", (".md", ".markdown"), "text/markdown; charset=utf-8", read, None,
                "Markdown")
