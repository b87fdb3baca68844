"""Decoding uploaded text files (plain text, Markdown, HTML, subtitles, PO): UTF-8 and UTF-16
or UTF-32 with a byte-order mark are read as they are; anything else is handed to
charset-normalizer, and decoded if it finds an encoding it is sure of (the job then says which),
or refused with the encoding it found."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from .base import FormatError

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))
MAX_CHAOS = 0.15  # charset-normalizer's "mess" ratio above which a guess is not trusted


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec name used to decode (and, for Unicode ones, to write back)
    guessed: bool  # found by the detector, not by a BOM or by being valid UTF-8
    bom: bytes = b""  # the byte-order mark the file started with (written back with it)

    @property
    def note(self) -> str | None:
        return (f"the file was not UTF-8: decoded as {self.encoding} (detected); the "
                f"translation is written as UTF-8") if self.guessed else None

    @property
    def output_encoding(self) -> str:
        """The codec a translation is written in (after `bom`): the input's Unicode encoding,
        else UTF-8."""
        return self.encoding if self.encoding.replace("_", "-").startswith("utf") else "utf-8"

    def encode(self, text: str) -> bytes:
        """A translation as the file's bytes: its byte-order mark and Unicode encoding (in the
        same byte order), or UTF-8 for a file that was in a legacy encoding."""
        return self.bom + text.encode(self.output_encoding)

    def decode(self, data: bytes) -> str:
        """The text of bytes written by `encode`."""
        return data[len(self.bom):].decode(self.output_encoding)


def decode_text(data: bytes, what: str = "file") -> Decoded:
    """The text of an uploaded text file (see the module docstring). Raises FormatError."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data[len(bom):].decode(codec), codec, False, bom)
            except UnicodeDecodeError as exc:
                raise FormatError(f"the {what} starts with a {name} byte-order mark but is "
                                  f"not valid {name} (at byte {exc.start + len(bom)})") from None
    try:
        text = data.decode("utf-8")
        if "\x00" not in text:
            return Decoded(text, "utf-8", False)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Without NUL bytes the text cannot be UTF-16/32 (Latin letters have a zero byte there);
    # a short file of single-byte text would otherwise read as CJK "UTF-16".
    wide = () if b"\x00" in data else ("utf_16", "utf_16_be", "utf_16_le", "utf_32",
                                        "utf_32_be", "utf_32_le")
    matches = list(from_bytes(data, cp_exclusion=list(wide) or None))
    if not matches:
        raise FormatError(f"the {what} is a binary file, not text")
    best = _choose(matches)
    if best is not None and "\x00" in str(best):
        raise FormatError(f"the {what} is a binary file, not text")
    if best is None or best.chaos > MAX_CHAOS:
        found = (best or matches[0]).encoding
        raise FormatError(f"the {what} is not UTF-8 text; it may be {found}, but not "
                          f"reliably: save it as UTF-8")
    return Decoded(str(best), best.encoding, True)


# Single-byte encodings of the languages served, preferred in this order when the detector
# finds several equally clean readings that disagree (short texts: "caf\xe9" is as clean in
# cp1006 as in cp1252).
PREFERRED = ("cp1252", "cp1250", "latin_1", "iso8859_15", "iso8859_2", "cp1251", "koi8_r")


def _choose(matches):
    """The detector's reading to trust: among the cleanest, the one whose text the others
    agree with, else the most coherent language, else a preferred encoding; None if they
    disagree and nothing tells them apart."""
    cleanest = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= cleanest + 0.01]
    top = max(m.coherence for m in tied)
    likeliest = [m for m in tied if m.coherence >= top - 0.05]
    if len({str(m) for m in likeliest}) == 1:
        return likeliest[0]
    for encoding in PREFERRED:  # cp1250 and cp1252 score alike on Western text
        for m in likeliest:
            if m.encoding == encoding:
                return m
    return max(likeliest, key=lambda m: m.coherence) if top > 0 else None
