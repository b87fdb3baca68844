"""Plain text: every non-blank line is a block of one span (its text without indentation
and trailing whitespace). The writer puts each line back with its own indentation, trailing
whitespace and line ending, so an identity translation gives back the same bytes (in the same
encoding when it is a Unicode one)."""

from __future__ import annotations

import re

from .base import Block, Format, Limits, Parsed
from .decoding import Decoded, decode_text

_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")


class TextDocument(Parsed):
    def __init__(self, decoded: Decoded):
        self.decoded = decoded
        self.notes = [decoded.note] if decoded.note else []
        self.lines: list[tuple[str, str, str, str]] = []  # indent, content, trailing, newline
        text = decoded.text
        for m in _LINE.finditer(text):
            if m.start() == len(text) and not m.group(0) and self.lines:
                break
            raw, newline = m.groups()
            content = raw.strip()
            indent = raw[: len(raw) - len(raw.lstrip())] if content else raw
            trailing = raw[len(raw.rstrip()):] if content else ""
            self.lines.append((indent, content, trailing, newline))
            if not newline:
                break
        self.blocks = [Block([content], "line") for _, content, _, _ in self.lines if content]

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        out, given = [], iter(spans)
        for indent, content, trailing, newline in self.lines:
            out.append(indent + ("".join(next(given)) if content else "") + trailing + newline)
        return self.decoded.encode("".join(out))


def read(data: bytes, limits: Limits | None = None) -> TextDocument:
    return TextDocument(decode_text(data, "text file"))


FORMAT = Format("txt", (".txt", ".text"), "text/plain; charset=utf-8", read, None,
                "plain text")
