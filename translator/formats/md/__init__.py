r"""Markdown (CommonMark with GFM tables), read with markdown-it-py and written by splicing into
the original lines: the format (`FORMAT`) and its document. Reading the blocks is in
translator/formats/md/blocks.py, re-rendering a changed block in translator/formats/md/render.py
(their docstrings give the rules).

Writing. The output is the input's lines with the changed blocks spliced in. A block whose
spans (and alt texts) all come back unchanged keeps its original lines byte for byte, so an
identity translation gives back the same bytes (re-encoded as read when that was a Unicode
encoding, with its byte-order mark; else as UTF-8). A changed block is re-rendered from its
tokens on its first line, after the same prefix (blockquote ">", list marker, indentation,
heading "#"s), keeping an ATX heading's closing "#"s and a setext heading's underline line; its
other lines are dropped. A changed table cell is replaced inside its row, between the row's own
pipes (the other cells keep their bytes).
"""

from __future__ import annotations

from ..base import Block, Format, Limits, Parsed
from ..decoding import Decoded, decode_text
from .blocks import MdBlock, front_matter_lines, numbered, scan, split_lines
from .render import render, rewrite_row


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
