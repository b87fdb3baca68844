"""What docx and pptx share: an Office Open XML package checked before python-docx or
python-pptx opens it."""

from __future__ import annotations

from .base import FormatError, Limits, open_zip

_FOLDERS = {"docx": "word/", "pptx": "ppt/"}
_HOLDS = {"word/": "a Word document (.docx)", "ppt/": "a PowerPoint presentation (.pptx)",
          "xl/": "an Excel workbook (.xlsx)"}


def check_package(data: bytes, limits: Limits, what: str) -> None:
    """An OOXML upload (`what`: "docx" or "pptx") checked before a library opens it:
    base.open_zip's checks; a [Content_Types].xml and parts of its kind (word/, ppt/), or an
    error saying what it holds instead; no XML member (.xml, .rels) with a document type
    declaration."""
    archive = open_zip(data, limits, what)
    names = [name.lower() for name in archive.namelist()]
    if "[content_types].xml" not in names:
        raise FormatError(f"the file is not a valid {what} (it has no [Content_Types].xml)")
    if not any(name.startswith(_FOLDERS[what]) for name in names):
        held = [label for folder, label in _HOLDS.items()
                if any(name.startswith(folder) for name in names)]
        raise FormatError(f"the file is not a {what}" + (f": it is {held[0]}" if held else ""))
    for info in archive.infolist():
        if info.filename.lower().endswith((".xml", ".rels")):
            _refuse_doctype(archive, info, what)


def _refuse_doctype(archive, info, what: str) -> None:
    try:
        with archive.open(info) as member:
            head = member.read(65536).lower()
    except Exception:  # noqa: BLE001 (zlib, CRC or header errors of a hostile zip)
        raise FormatError(f"the {what} is corrupt ({info.filename[:60]} cannot be "
                          f"read)") from None
    if b"<!doctype" in head or b"<!entity" in head:
        raise FormatError(f"the {what} has a document type declaration in "
                          f"{info.filename[:60]} (not allowed in Office files): refused")
