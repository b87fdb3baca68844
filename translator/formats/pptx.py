"""PowerPoint presentations (.pptx), read and written with python-pptx (which keeps every part it
does not model byte for byte).

Blocks, slide by slide, in the order of the slide's shape tree:

* every paragraph of every shape's text frame: "heading" in a title placeholder, "paragraph"
  otherwise; the shapes of group shapes, recursively (a paragraph with no text but whitespace
  is left out, and so left as it is);
* every paragraph of every table cell ("cell"); a cell covered by a merge (`is_spanned`) is
  skipped, so a merged cell is read once, from its origin;
* then the slide's notes ("note"): every text frame of its notes slide (the notes placeholder,
  or the text box LibreOffice writes notes as), read only when the slide has a notes slide
  (none is created).

Not read: slide layouts and masters (their prompt texts), charts, SmartArt, alternative texts.

A block's spans are the texts of the paragraph's runs (a:r) that have text, in order; a line
break (a:br) before a run is read as a "\\n" at the start of its span (the writer leaves it out
again), and fields (a:fld: slide number, date) are no spans and stay. A hyperlink is a property
of its run (a:hlinkClick) and stays on it.

The writer sets the text of each run whose text changed (python-pptx `run.text`), and
lang = target on the a:rPr of every span's run (the a:rPr created when missing) and on the
paragraph's a:endParaRPr where it has a lang; core_properties.language = target.

The upload is checked before python-pptx opens it as ooxml.check_package says (base.open_zip's
zip checks, parts of a presentation, no DOCTYPE in an XML member).
"""

from __future__ import annotations

import io

from lxml import etree

from .base import Block, Format, Limits, Parsed
from .ooxml import check_package

A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


def _title_types() -> set:
    from pptx.enum.shapes import PP_PLACEHOLDER

    return {PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE}


class Collector:
    """Blocks and, for each span, its run (a:r) and the line break read before it."""

    def __init__(self):
        self.blocks: list[Block] = []
        self.runs: list[list[tuple[object, str]]] = []
        self.paragraphs: list = []
        self.titles = _title_types()

    def shapes(self, shapes, kind: str | None = None) -> None:
        """Blocks of `shapes`; python-pptx's `text_frame` would add a text body to a shape
        that has none, so shapes and cells without one are passed over first."""
        from pptx.enum.shapes import MSO_SHAPE_TYPE

        for shape in shapes:
            if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
                self.shapes(shape.shapes, kind)
            elif getattr(shape, "has_table", False):
                for cell in shape.table.iter_cells():
                    if not cell.is_spanned and cell._tc.find(A + "txBody") is not None:
                        self.frame(cell.text_frame, kind or "cell")
            elif shape.has_text_frame and shape._element.find(P + "txBody") is not None:
                title = shape.is_placeholder and shape.placeholder_format.type in self.titles
                self.frame(shape.text_frame, kind or ("heading" if title else "paragraph"))

    def frame(self, text_frame, kind: str) -> None:
        for paragraph in text_frame.paragraphs:
            runs, lead = [], ""
            for child in paragraph._p:
                if child.tag == A + "br":
                    lead += "\n"
                elif child.tag == A + "r" and child.text:
                    runs.append((child, lead))
                    lead = ""
            if "".join(r.text for r, _ in runs).strip():
                self.blocks.append(Block([lead + r.text for r, lead in runs], kind,
                                         [_mark(r) for r, _ in runs]))
                self.runs.append(runs)
                self.paragraphs.append(paragraph._p)


def _mark(run) -> str:
    """A run's formatting: its properties' attributes and children (a:rPr, but its
    language), a hyperlink among them; runs with equal marks look alike."""
    properties = run.find(A + "rPr")
    if properties is None:
        return ""
    attributes = sorted((k, v) for k, v in properties.attrib.items() if k not in ("lang",
                                                                                 "dirty"))
    children = sorted(etree.tostring(c).decode() for c in properties)
    return repr((attributes, children)) if attributes or children else ""


def _collect(presentation) -> Collector:
    found = Collector()
    for slide in presentation.slides:
        found.shapes(slide.shapes)
        if slide.has_notes_slide:
            found.shapes(slide.notes_slide.shapes, "note")
    return found


class Presentation(Parsed):
    def __init__(self, data: bytes):
        self.data = data
        self.notes = []
        self.blocks = _collect(self._load()).blocks

    def _load(self):
        import pptx

        return pptx.Presentation(io.BytesIO(self.data))

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        if len(spans) != len(self.blocks) or any(
                len(s) != len(b.spans) for s, b in zip(spans, self.blocks)):
            raise ValueError("the spans given do not match the presentation's blocks")
        target_lang = target_lang.replace("_", "-")  # BCP 47, as lang and dc:language want
        presentation = self._load()  # a fresh tree: writing twice is allowed
        found = _collect(presentation)
        for block, runs, new_spans, p in zip(found.blocks, found.runs, spans, found.paragraphs):
            for old, new, (r, lead) in zip(block.spans, new_spans, runs):
                new = new[len(lead):] if new.startswith(lead) else new
                if new != old[len(lead):]:
                    r.text = new
                r.get_or_add_rPr().set("lang", target_lang)
            end = p.find(A + "endParaRPr")
            if end is not None and end.get("lang"):
                end.set("lang", target_lang)
        presentation.core_properties.language = target_lang
        out = io.BytesIO()
        presentation.save(out)
        return out.getvalue()


def read(data: bytes, limits: Limits | None = None) -> Presentation:
    check_package(data, limits or Limits(), "pptx")
    return Presentation(data)


FORMAT = Format("pptx", (".pptx",), MEDIA_TYPE, read, None, "PowerPoint presentation")
