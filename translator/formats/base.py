"""What every document format shares: the interface, the errors, and safe readers of zips and
XML (every format that parses XML or unzips goes through them).

A format reads a file into `Block`s in reading order. A block is one unit of text a reader sees
as a whole (a paragraph, a heading, a table cell, a subtitle, a PO entry, an XLIFF segment,
an `alt` attribute) and holds its text as `spans`: the pieces of text between its inline
markup (the runs of a docx paragraph, the text nodes around an HTML `<b>`), in order, so that
`"".join(spans)` is what a reader reads. Markup that is not text (a link's target, an inline
code, a placeholder element) stays in the format's own tree and is never a span.
`Parsed.write` takes new text for every span of every block and writes a copy of the file.
How a block's sentence translations become span texts is `translator/formats/inline.py`'s
rule, the same for every format; formats know no model.
"""

from __future__ import annotations

import io
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..defaults import MAX_UNZIPPED_BYTES, MAX_ZIP_RATIO


class FormatError(ValueError):
    """An uploaded file this format cannot read: corrupt, hostile, or not what it says it is.
    Its message is for the user."""


@dataclass
class Block:
    """One translatable unit: its text pieces between inline markup (see the module doc)."""

    spans: list[str]
    kind: str = "paragraph"  # what it is, for counts and tests: heading, cell, subtitle, ...
    marks: list[str] | None = None  # per span, its formatting (equal marks: interchangeable
    # spans, e.g. the plain text on both sides of a bold word); None: every span its own

    @property
    def text(self) -> str:
        return "".join(self.spans)


@dataclass(frozen=True)
class Limits:
    """What an upload may expand to (settings override the defaults)."""

    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES
    max_zip_ratio: int = MAX_ZIP_RATIO


class Parsed(ABC):
    """A file read by its format: its blocks, and a way to write a translated copy."""

    blocks: list[Block]
    notes: list[str]  # what the reader did that the user should know (an encoding guessed)

    @abstractmethod
    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        """The file with `spans[i][j]` in place of `blocks[i].spans[j]`, marked as being in
        `target_lang` (and as machine output for review where the format has a way)."""


@dataclass
class Format:
    """A supported file format: its name, file name extensions and media type, whether its
    content is recognisable (`sniff`, on the first bytes or the decoded text), and `read`."""

    name: str
    extensions: tuple[str, ...]
    media_type: str
    read: object  # Callable[[bytes, Limits], Parsed]
    sniff: object = None  # Callable[[bytes], bool] | None: None = recognised by name only
    label: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


def open_zip(data: bytes, limits: Limits, what: str) -> zipfile.ZipFile:
    """The zip archive of an Office file, checked from its directory before any member is
    read: not corrupt, not encrypted, at most `limits.max_unzipped_bytes` uncompressed and no
    member expanding more than `limits.max_zip_ratio` times."""
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise FormatError(f"this {what} is password-protected or in the old binary Office "
                          f"format (.doc/.ppt); save it unprotected as {what}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FormatError(f"the file is not a valid {what} (a corrupt or truncated zip "
                          f"archive)") from None
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise FormatError(f"the {what} is encrypted; save it without a password")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_zip_ratio and info.file_size > 1_000_000:
            raise FormatError(f"the {what} expands {ratio:,.0f} times (member "
                              f"{info.filename[:60]!r}): refused as a zip bomb")
    if total > limits.max_unzipped_bytes:
        raise FormatError(f"the {what} expands to {total:,} bytes; the limit is "
                          f"{limits.max_unzipped_bytes:,}")
    return archive


def read_member(archive: zipfile.ZipFile, name: str, what: str) -> bytes:
    """One member of a checked archive (its size was checked by `open_zip`)."""
    try:
        return archive.read(name)
    except KeyError:
        raise FormatError(f"the {what} has no {name}: it is not a valid {what}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise FormatError(f"the {what} is corrupt ({name} cannot be read)") from None


def parse_xml(data: bytes, what: str):
    """An lxml tree of untrusted XML: no DTD loading, no entity expansion, no network, and a
    document with a DOCTYPE that declares entities is refused (billion laughs, XXE)."""
    from lxml import etree

    lowered = data.lower()
    if b"<!doctype" in lowered and b"<!entity" in lowered:
        raise FormatError(f"the {what} declares XML entities, which are not accepted")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_blank_text=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"the {what} is not well-formed XML ({str(exc)[:120]})") from None
    dtd = root.getroottree().docinfo.internalDTD  # the check above cannot read UTF-16 bytes
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise FormatError(f"the {what} declares XML entities, which are not accepted")
    return root
