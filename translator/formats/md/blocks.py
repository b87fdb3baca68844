r"""Reading a Markdown document: its lines, the YAML front matter hidden from the parser, and
the blocks of markdown-it's token stream (`MdBlock`: where each is, its spans, and the parts of
its inline markup that translator/formats/md/render.py re-renders a changed block from).

`MarkdownIt("commonmark").enable("table")` parses the text. Every inline token of a
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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")
CONTAINER = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")
_ATX_OPEN = re.compile(r"#{1,6}[ \t]*")
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
    order (this module docstring's rule)."""
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
    start = CONTAINER.match(line).end()
    if atx:
        start = _ATX_OPEN.match(line, start).end() if _ATX_OPEN.match(line, start) else start
    first = content.split("\n", 1)[0].rstrip()
    at = line.find(first, start) if first else -1
    at = start if at < 0 else at
    block.prefix = line[:at]
    if atx:
        block.suffix = line[at + len(first):] if at + len(first) <= len(line) else ""

