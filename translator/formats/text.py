"""Decoding uploaded text files (plain text, Markdown, HTML, subtitles, PO): UTF-8 and UTF-16
or UTF-32 with a byte-order mark are read as they are; anything else is handed to
charset-normalizer, and decoded if it finds an encoding it is sure of (the job then says which),
or refused with the encoding it found."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from .base import FormatError

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
MAX_CHAOS = 0.15  # charset-normalizer's "mess" ratio above which a guess is not trusted


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec name used to decode (and, for Unicode ones, to write back)
    guessed: bool  # found by the detector, not by a BOM or by being valid UTF-8

    @property
    def note(self) -> str | None:
        return (f"the file was not UTF-8: decoded as {self.encoding} (detected); the "
                f"translation is written as UTF-8") if self.guessed else None

    @property
    def output_encoding(self) -> str:
        """What a translation is written in: the input's Unicode encoding, else UTF-8."""
        return self.encoding if self.encoding.startswith("utf") else "utf-8"


def decode_text(data: bytes, what: str = "file") -> Decoded:
    """The text of an uploaded text file (see the module docstring). Raises FormatError."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(codec), codec, False)
            except UnicodeDecodeError as exc:
                raise FormatError(f"the {what} starts with a {codec.upper()} byte-order mark "
                                  f"but is not valid {codec.upper()} (byte {exc.start})") from None
    try:
        text = data.decode("utf-8")
        if "\x00" not in text:
            return Decoded(text, "utf-8", False)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise FormatError(f"the {what} is a binary file, not text")
    encoding = best.encoding
    if best.chaos > MAX_CHAOS or "\x00" in str(best):
        raise FormatError(f"the {what} is not UTF-8 text; it may be {encoding}, but not "
                          f"reliably: save it as UTF-8")
    return Decoded(str(best), encoding, True)
