"""The Office formats (translator/formats/docx.py, pptx.py, odt.py) on real files: the pandoc
and LibreOffice fixtures of tests/data/formats/office/ (make.sh regenerates them from the
sources next to them) and a docx and a pptx built here with python-docx and python-pptx.

The fake translation uppercases every sentence. What is checked: the identity round trip
against the library's own re-serialisation (modulo the language marks, stated per test);
the structure of a translated copy, counted with python-docx, python-pptx or XPath on the ODF
XML (not with the module's own reader); the language marks; that LibreOffice opens every
translated file and shows the uppercased text; and that hostile or corrupt uploads give a
FormatError with a clear message.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from helpers import zip_bytes
from lxml import etree

import translator.formats as formats
from translator.formats import FormatError, detect, read_file, translate_parsed
from translator.formats import docx as docx_format
from translator.formats import odt as odt_format
from translator.formats import pptx as pptx_format
from translator.formats.inline import normalized

FIXTURES = Path(__file__).parent / "data" / "formats" / "office"
FILES = ["pandoc.docx", "libreoffice.docx", "pandoc.pptx", "libreoffice.pptx", "pandoc.odt",
         "libreoffice.odt"]
MODULES = {"docx": docx_format, "pptx": pptx_format, "odt": odt_format}

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
DC = "{http://purl.org/dc/elements/1.1/}"
NS = {"w": W[1:-1], "a": A[1:-1], "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
      "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
      "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
      "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
      "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
      "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
      "xlink": "http://www.w3.org/1999/xlink", "dc": DC[1:-1]}


# ----------------------------------------------------------------------------- documents


def _add_hyperlink(paragraph, url: str, text: str) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True))
    run, t = OxmlElement("w:r"), OxmlElement("w:t")
    t.text = text
    run.append(t)
    link.append(run)
    paragraph._p.append(link)


def _set_run_lang(run, value: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), value)
    run._r.get_or_add_rPr().append(lang)


def built_docx() -> bytes:
    """Heading, bold run with its own w:lang, hyperlink, page break inside a run, a table with
    a merged cell and a nested table, a header and footer, a section linked to the previous
    one and one with a header of its own."""
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.add_heading("Minutes of the annual meeting", level=1)
    paragraph = document.add_paragraph("The meeting was ")
    bold = paragraph.add_run("very long")
    bold.bold = True
    _set_run_lang(bold, "en-US")
    paragraph.add_run(" but useful. Read ")
    _add_hyperlink(paragraph, "https://example.org/minutes", "the full minutes")
    paragraph.add_run(".")
    run = document.add_paragraph().add_run("Before the break.")
    run.add_break(WD_BREAK.PAGE)
    run.add_text("After the break.")
    table = document.add_table(rows=2, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Item", "Owner", "Due date")):
        cell.text = text
    table.cell(1, 1).merge(table.cell(1, 2)).text = "Shared by everyone"
    table.cell(1, 0).add_table(rows=1, cols=1).cell(0, 0).text = "Inner cell"
    section = document.sections[0]
    section.header.paragraphs[0].text = "Garden club minutes"
    section.footer.paragraphs[0].text = "Draft for members"
    document.add_section()  # its header and footer are linked to the previous section's
    document.add_paragraph("The second section has the same header.")
    third = document.add_section()
    third.header.is_linked_to_previous = False
    third.header.paragraphs[0].text = "Appendix"
    document.add_paragraph("The appendix lists the members.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def built_pptx() -> bytes:
    """A title, a group shape (with a nested group) holding runs with bold, a line break and
    a hyperlink, a table with a merged cell, and notes."""
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Quarterly figures"
    group = slide.shapes.add_group_shape()
    paragraph = group.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)) \
        .text_frame.paragraphs[0]
    for text, bold in (("Sales rose ", False), ("sharply", True), (" this quarter.", False)):
        run = paragraph.add_run()
        run.text, run.font.bold = text, bold or None
    paragraph.add_line_break()
    link = paragraph.add_run()
    link.text = "Read the report"
    link.hyperlink.address = "https://example.org/report"
    inner = group.shapes.add_group_shape()
    inner.shapes.add_textbox(Inches(1), Inches(3), Inches(4), Inches(1)).text_frame.text = \
        "Text in a nested group."
    table = slide.shapes.add_table(2, 3, Inches(1), Inches(4), Inches(6), Inches(1)).table
    for col, text in enumerate(("Region", "North", "South")):
        table.cell(0, col).text = text
    table.cell(1, 0).text = "Growth"
    table.cell(1, 1).merge(table.cell(1, 2))
    table.cell(1, 1).text = "Strong everywhere"
    slide.notes_slide.notes_text_frame.text = "Speak slowly here."
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def documents() -> dict[str, bytes]:
    """Every test document by name: the fixtures and the two built here."""
    out = {name: (FIXTURES / name).read_bytes() for name in FILES}
    out["built.docx"] = built_docx()
    out["built.pptx"] = built_pptx()
    return out


ALL = [*FILES, "built.docx", "built.pptx"]


def fmt_of(name: str) -> str:
    return name.rsplit(".", 1)[1]


def upper(sentences: list[str]) -> list[str]:
    return [s.upper() for s in sentences]


def translate(data: bytes, fmt: str, lang: str = "de") -> bytes:
    parsed = read_file(data, MODULES[fmt].FORMAT)
    return parsed.write(translate_parsed(parsed, upper, "en"), lang)


@pytest.fixture(scope="module")
def translated(documents) -> dict[str, bytes]:
    return {name: translate(data, fmt_of(name)) for name, data in documents.items()}


def members(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def xml(data: bytes):
    return etree.fromstring(data)


# ----------------------------------------------------------------------------- 1. identity


def _strip_docx_lang(root) -> None:
    """The docx writer's language marks out: w:lang's w:val, then w:lang elements left with
    no attribute and document-default w:rPr/w:rPrDefault/w:docDefaults left empty; the core
    properties' dc:language."""
    for lang in root.iter(W + "lang"):
        lang.attrib.pop(W + "val", None)
        if not lang.attrib:
            lang.getparent().remove(lang)
    for tag in ("rPr", "rPrDefault", "docDefaults"):
        for el in root.xpath(f"//w:docDefaults/descendant-or-self::w:{tag}", namespaces=NS):
            if len(el) == 0 and not el.attrib:
                el.getparent().remove(el)
    for el in root.iter(DC + "language"):
        el.getparent().remove(el)


def _strip_pptx_lang(root) -> None:
    """The pptx writer's marks out: lang of a:rPr and a:endParaRPr, then a:rPr left with no
    attribute and no child; dc:language."""
    for tag in ("rPr", "endParaRPr"):
        for el in root.iter(A + tag):
            el.attrib.pop("lang", None)
            if tag == "rPr" and not el.attrib and len(el) == 0:
                el.getparent().remove(el)
    for el in root.iter(DC + "language"):
        el.getparent().remove(el)


def _canonical(data: bytes, strip) -> bytes:
    root = xml(data)
    strip(root)
    return etree.tostring(root, method="c14n")


def _library_copy(fmt: str, data: bytes) -> bytes:
    out = io.BytesIO()
    if fmt == "docx":
        import docx

        docx.Document(io.BytesIO(data)).save(out)
    else:
        import pptx

        pptx.Presentation(io.BytesIO(data)).save(out)
    return out.getvalue()


@pytest.mark.parametrize("name", [n for n in ALL if not n.endswith(".odt")])
def test_identity_round_trip_ooxml(documents, name):
    """Writing every block's own spans gives python-docx's / python-pptx's own save of the
    input: the same members; every member the writer has no language mark in (docx: no
    w:lang, not styles.xml or core.xml; pptx: not a slide, notes slide or core.xml) is
    byte-identical; every XML member is equal in canonical XML (C14N) once the language marks
    are taken out of both sides (_strip_docx_lang, _strip_pptx_lang)."""
    fmt = fmt_of(name)
    parsed = read_file(documents[name], MODULES[fmt].FORMAT)
    ours = members(parsed.write([b.spans for b in parsed.blocks], "de"))
    reference = members(_library_copy(fmt, documents[name]))
    assert ours.keys() == reference.keys()
    strip = _strip_docx_lang if fmt == "docx" else _strip_pptx_lang
    for member, data in reference.items():
        marked = (member.endswith(("styles.xml", "core.xml")) or b"<w:lang" in data
                  if fmt == "docx" else
                  member.startswith(("ppt/slides/slide", "ppt/notesSlides/"))
                  or member.endswith("core.xml"))
        if not marked:
            assert ours[member] == data, member
        elif member.endswith((".xml", ".rels")):
            assert _canonical(ours[member], strip) == _canonical(data, strip), member
    again = read_file(parsed.write([b.spans for b in parsed.blocks], "fr"), MODULES[fmt].FORMAT)
    assert again.blocks == parsed.blocks  # and a second write from the same Parsed works


def _strip_odt_lang(root) -> None:
    """The odt writer's marks out: fo:language and fo:country everywhere, dc:language."""
    for el in root.iter():
        el.attrib.pop(f"{{{NS['fo']}}}language", None)
        el.attrib.pop(f"{{{NS['fo']}}}country", None)
    for el in root.iter(DC + "language"):
        el.getparent().remove(el)


@pytest.mark.parametrize("name", ["pandoc.odt", "libreoffice.odt"])
def test_identity_round_trip_odt(documents, name):
    """Every member but content.xml, styles.xml and meta.xml is byte-identical and in the same
    order, mimetype first and stored; content.xml is byte-identical to lxml's re-serialisation
    of the input's (it holds no language mark in these fixtures); styles.xml and meta.xml
    are equal to lxml's re-serialisation of the input's once fo:language, fo:country and
    dc:language are taken out of both."""
    data = documents[name]
    parsed = read_file(data, odt_format.FORMAT)
    out = parsed.write([b.spans for b in parsed.blocks], "de")
    before, after = zipfile.ZipFile(io.BytesIO(data)), zipfile.ZipFile(io.BytesIO(out))
    assert after.namelist()[0] == "mimetype"
    assert after.infolist()[0].compress_type == zipfile.ZIP_STORED
    assert sorted(after.namelist()) == sorted(before.namelist())
    for member in before.namelist():
        source, written = before.read(member), after.read(member)
        if member not in odt_format.REWRITTEN:
            assert written == source, member
            continue
        relaxed = odt_format.serialise(odt_format.parse_xml(source, member))
        if member == "content.xml" and b"fo:language" not in source:
            assert written == relaxed
        root_a, root_b = xml(written), xml(relaxed)
        _strip_odt_lang(root_a)
        _strip_odt_lang(root_b)
        assert etree.tostring(root_a) == etree.tostring(root_b), member


# ----------------------------------------------------------------------------- 2. structure


def docx_structure(data: bytes) -> dict:
    """Counts read with python-docx: every w:p of the body (cells, text boxes and their
    fallback copies too) as a python-docx Paragraph, its runs (hyperlinks' included) and
    their formatting, hyperlink addresses, relationships, headers and footers per section,
    footnotes; XPath on its tree for what it has no API for."""
    import docx
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    body = document.element.body
    paragraphs = [Paragraph(p, document._body) for p in body.iter(W + "p")]
    runs = [r for p in paragraphs for item in p.iter_inner_content()
            for r in (item.runs if hasattr(item, "runs") else [item])]
    bands = []
    for section in document.sections:
        for hf in (section.header, section.footer, section.first_page_header):
            bands.append((hf.is_linked_to_previous,
                          None if hf.is_linked_to_previous else len(hf.paragraphs)))
    rels = document.part.rels.values()
    footnotes = [rel.target_part for rel in rels if rel.reltype.endswith("/footnotes")]
    return {
        "paragraphs": len(paragraphs),
        "headings": sum(1 for p in paragraphs if _style(p).startswith(("Heading", "Title"))),
        "cells": len(list(body.iter(W + "tc"))),
        "formatting": Counter((r.bold, r.italic, r.underline, _style(r)) for r in runs),
        "links": [h.address for p in paragraphs for h in p.hyperlinks],
        "relationships": sorted((r.reltype, r.target_ref) for r in rels),
        "bands": bands,
        "footnotes": [len(xml(p.blob).findall(W + "footnote")) for p in footnotes],
        "comments": len(list(body.iter(W + "commentReference"))),
        "kept": Counter(el.tag for el in body.iter(W + "drawing", W + "br", W + "tab",
                                                    W + "footnoteReference", W + "fldChar")),
    }


def _style(item) -> str:
    """The name of a paragraph's or run's style ("" where python-docx finds none)."""
    return getattr(item.style, "name", "") or ""


def pptx_structure(data: bytes) -> dict:
    """Counts read with python-pptx."""
    import pptx
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    presentation = pptx.Presentation(io.BytesIO(data))
    shapes, frames = [], []

    def walk(collection):
        for shape in collection:
            shapes.append(shape.shape_type)
            if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
                walk(shape.shapes)
            elif getattr(shape, "has_table", False):
                frames.extend(cell.text_frame for cell in shape.table.iter_cells())
            elif shape.has_text_frame:
                frames.append(shape.text_frame)

    notes = 0
    for slide in presentation.slides:
        walk(slide.shapes)
        if slide.has_notes_slide:
            notes += sum(len(s.text_frame.paragraphs) for s in slide.notes_slide.shapes
                         if s.has_text_frame)
    runs = [r for f in frames for p in f.paragraphs for r in p.runs]
    return {
        "slides": len(presentation.slides),
        "shapes": Counter(shapes),
        "paragraphs": sum(len(f.paragraphs) for f in frames),
        "runs": len(runs),
        "formatting": Counter((r.font.bold, r.font.italic, r.font.underline) for r in runs),
        "links": [r.hyperlink.address for r in runs if r.hyperlink.address],
        "line_breaks": sum(len(p._p.findall(A + "br")) for f in frames for p in f.paragraphs),
        "notes_paragraphs": notes,
    }


def odt_structure(data: bytes) -> dict:
    """Counts with XPath on content.xml and styles.xml (the module's reader is not used)."""
    parts = members(data)
    content, styles = xml(parts["content.xml"]), xml(parts["styles.xml"])

    def count(root, path):
        return len(root.xpath(path, namespaces=NS))

    return {
        "paragraphs": count(content, "//text:p"),
        "headings": count(content, "//text:h"),
        "cells": count(content, "//table:table-cell"),
        "spans": Counter(content.xpath("//text:span/@text:style-name", namespaces=NS)),
        "links": content.xpath("//text:a/@xlink:href", namespaces=NS),
        "notes": count(content, "//text:note"),
        "annotations": count(content, "//office:annotation"),
        "spacing": count(content, "//text:tab | //text:s | //text:line-break"),
        "bands": count(styles, "//style:header//text:p | //style:footer//text:p"),
        "fields": count(styles, "//text:page-number"),
    }


STRUCTURE = {"docx": docx_structure, "pptx": pptx_structure, "odt": odt_structure}


@pytest.mark.parametrize("name", ALL)
def test_translation_keeps_structure(documents, translated, name):
    """Every count the library reads (paragraphs, headings, cells, runs by formatting,
    hyperlink targets, headers/footers, notes, ...) is the same in the translated copy, and
    every block's text is the uppercased source."""
    fmt = fmt_of(name)
    assert STRUCTURE[fmt](translated[name]) == STRUCTURE[fmt](documents[name])
    source = read_file(documents[name], MODULES[fmt].FORMAT)
    output = read_file(translated[name], MODULES[fmt].FORMAT)
    assert [b.kind for b in output.blocks] == [b.kind for b in source.blocks]
    for before, after in zip(source.blocks, output.blocks):
        assert normalized(after.text) == normalized(before.text).upper()


def test_block_kinds(documents):
    """The kinds each reader gives on the fixtures: every rule of the module docstrings."""
    def kinds(name):
        return Counter(b.kind for b in read_file(documents[name],
                                                 MODULES[fmt_of(name)].FORMAT).blocks)

    assert kinds("libreoffice.docx") == Counter(
        {"paragraph": 3, "heading": 1, "list": 2, "cell": 5, "textbox": 1, "header": 1,
         "footer": 1, "footnote": 1, "comment": 1})
    assert kinds("pandoc.docx")["footnote"] == 1 and kinds("pandoc.docx")["heading"] == 4
    assert kinds("built.docx") == Counter(
        {"heading": 1, "paragraph": 4, "cell": 5, "header": 2, "footer": 1})
    assert kinds("libreoffice.odt") == Counter(
        {"paragraph": 3, "heading": 1, "footnote": 1, "comment": 1, "list": 2, "cell": 5,
         "textbox": 1, "header": 1, "footer": 1})
    assert kinds("pandoc.odt")["footnote"] == 1 and kinds("pandoc.odt")["cell"] == 9
    assert kinds("pandoc.pptx") == Counter({"heading": 4, "paragraph": 4, "cell": 6,
                                            "note": 2})
    assert kinds("libreoffice.pptx") == Counter({"paragraph": 5, "cell": 4, "note": 2})
    assert kinds("built.pptx") == Counter({"heading": 1, "paragraph": 2, "cell": 5, "note": 1})


def test_docx_spans_and_writer_details(documents, translated):
    """Hyperlink runs are spans; a merged cell is read once; the linked section's header is
    not read again; a page break inside a run cuts it into two spans and stays between their
    translations; a tab and a line break inside a run stay as elements; the text box's VML
    fallback gets the same text as its mc:Choice."""
    spans = [b.spans for b in read_file(documents["built.docx"], docx_format.FORMAT).blocks]
    assert ["The meeting was ", "very long", " but useful. Read ", "the full minutes", "."] \
        in spans
    assert sum(s == ["Shared by everyone"] for s in spans) == 1
    assert sum(s == ["Garden club minutes"] for s in spans) == 1
    out = xml(members(translated["built.docx"])["word/document.xml"])
    page_run = out.xpath(".//w:r[w:br[@w:type='page']]", namespaces=NS)[0]
    assert [(el.tag[len(W):], el.text) for el in page_run if el.tag != W + "rPr"] == [
        ("t", "BEFORE THE BREAK."), ("br", None), ("t", "AFTER THE BREAK.")]
    source = read_file(documents["libreoffice.docx"], docx_format.FORMAT).blocks
    assert ["Members:", "\tforty-two", "\nVisitors:   about a hundred", " in total."] in \
        [b.spans for b in source]
    body = xml(members(translated["libreoffice.docx"])["word/document.xml"])
    choice = body.xpath(".//mc:Choice//w:txbxContent//w:t/text()", namespaces=NS)
    fallback = body.xpath(".//mc:Fallback//w:txbxContent//w:t/text()", namespaces=NS)
    assert choice == fallback == ["THE SHOW IS IN JUNE."]


def test_odt_spans(documents):
    """Mixed content through text:span and text:a; notes and annotations are blocks of their
    own; text:tab, text:line-break and text:s stand before the next span as whitespace."""
    blocks = read_file(documents["libreoffice.odt"], odt_format.FORMAT).blocks
    spans = [b.spans for b in blocks]
    assert ["The club met ", "every month", " this year, and the roses were ",
            "better than ever", ".", " Read more on ", "our website", "."] in spans
    assert ["Members:", "\tforty-two", "\nVisitors: ", " about a hundred", " in total."] in spans
    assert ["Page ", " of the report"] in spans  # the page number field is no span
    content = members(documents["libreoffice.odt"])["content.xml"].replace(
        b"<text:sequence-decls>", b"<text:tracked-changes><text:changed-region text:id='c1'>"
        b"<text:deletion><text:p>Deleted words.</text:p></text:deletion></text:changed-region>"
        b"</text:tracked-changes><text:sequence-decls>", 1)
    assert b"Deleted words." in content
    changed = _replace(documents["libreoffice.odt"], "content.xml", content)
    assert [b.spans for b in read_file(changed, odt_format.FORMAT).blocks] == spans


def test_pptx_spans(documents, translated):
    """Runs are spans (a hyperlink run too), a line break stands before the next span as
    "\n" and stays an a:br; group shapes are read recursively; a merged cell is read once."""
    import pptx

    spans = [b.spans for b in read_file(documents["built.pptx"], pptx_format.FORMAT).blocks]
    assert ["Sales rose ", "sharply", " this quarter.", "\nRead the report"] in spans
    assert ["Text in a nested group."] in spans
    assert sum(s == ["Strong everywhere"] for s in spans) == 1
    slide = pptx.Presentation(io.BytesIO(translated["built.pptx"])).slides[0]
    paragraph = slide.shapes[1].shapes[0].text_frame.paragraphs[0]
    assert [r.text for r in paragraph.runs] == ["", "", " SALES ROSE SHARPLY THIS QUARTER.",
                                                "READ THE REPORT"]
    assert paragraph.runs[3].hyperlink.address == "https://example.org/report"
    assert len(paragraph._p.findall(A + "br")) == 1


def test_write_rejects_wrong_spans(documents):
    for name in ("pandoc.docx", "pandoc.pptx", "pandoc.odt"):
        parsed = read_file(documents[name], MODULES[fmt_of(name)].FORMAT)
        with pytest.raises(ValueError):
            parsed.write([b.spans for b in parsed.blocks][1:], "de")


# ----------------------------------------------------------------------------- 3. language


def test_docx_states_language(translated):
    import docx

    for name in ("pandoc.docx", "libreoffice.docx", "built.docx"):
        assert docx.Document(io.BytesIO(translated[name])).core_properties.language == "de"
        parts = members(translated[name])
        styles = xml(parts["word/styles.xml"])
        assert styles.xpath("w:docDefaults/w:rPrDefault/w:rPr/w:lang/@w:val",
                            namespaces=NS) == ["de"]
        assert set(styles.xpath("//w:lang/@w:val", namespaces=NS)) == {"de"}
        for member in ("word/document.xml", "word/comments.xml"):
            if member in parts:
                assert set(xml(parts[member]).xpath("//w:lang/@w:val", namespaces=NS)) <= {"de"}
    bold = xml(members(translated["built.docx"])["word/document.xml"]).xpath(
        "//w:r[w:rPr/w:b]/w:rPr/w:lang/@w:val", namespaces=NS)
    assert bold == ["de"]  # the run's own w:lang, rewritten


def test_docx_language_defaults_created(documents):
    """A styles part without w:docDefaults gets one stating the language."""
    import docx

    document = docx.Document(io.BytesIO(documents["built.docx"]))
    styles = document.styles.element
    styles.remove(styles.find(W + "docDefaults"))
    out = io.BytesIO()
    document.save(out)
    written = xml(members(translate(out.getvalue(), "docx", "pt-BR"))["word/styles.xml"])
    assert written[0].tag == W + "docDefaults"
    assert written.xpath("w:docDefaults/w:rPrDefault/w:rPr/w:lang/@w:val",
                         namespaces=NS) == ["pt-BR"]


def test_pptx_states_language(translated):
    import pptx

    for name in ("pandoc.pptx", "libreoffice.pptx", "built.pptx"):
        presentation = pptx.Presentation(io.BytesIO(translated[name]))
        assert presentation.core_properties.language == "de"
        for slide in presentation.slides:
            runs = [r for r in slide.shapes._spTree.iter(A + "r")
                    if (r.findtext(A + "t") or "").strip()]
            assert runs and {r.find(A + "rPr").get("lang") for r in runs} == {"de"}


def test_odt_states_language(documents, translated):
    for name in ("pandoc.odt", "libreoffice.odt"):
        parts = members(translated[name])
        assert xml(parts["meta.xml"]).xpath("//dc:language/text()", namespaces=NS) == ["de"]
        default = xml(parts["styles.xml"]).xpath(
            "//style:default-style[@style:family='paragraph']/style:text-properties",
            namespaces=NS)[0]
        assert default.get(f"{{{NS['fo']}}}language") == "de"
        assert default.get(f"{{{NS['fo']}}}country") is None
    parts = members(translate(documents["libreoffice.odt"], "odt", "pt-BR"))
    for member in ("styles.xml", "content.xml"):
        root = xml(parts[member])
        assert set(root.xpath("//@fo:language", namespaces=NS)) <= {"pt"}
        assert set(root.xpath("//@fo:country", namespaces=NS)) <= {"BR"}


# ----------------------------------------------------------------------------- 4. LibreOffice


def _soffice(target: str, files: list[Path], out: Path, profile: Path) -> None:
    subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless",
                    "--convert-to", target, "--outdir", str(out), *map(str, files)],
                   check=True, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def libreoffice_text(documents, translated, tmp_path_factory) -> dict[str, str]:
    """The translated files as LibreOffice reads them: docx and odt converted to text, pptx
    to odp (whose content.xml text is taken): two soffice runs for all of them."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    work = tmp_path_factory.mktemp("libreoffice")
    paths = {}
    for name, data in translated.items():
        paths[name] = work / (name.replace(".", "-") + "." + fmt_of(name))
        paths[name].write_bytes(data)
    profile, out = work / "profile", work / "out"
    _soffice("txt:Text", [p for n, p in paths.items() if not n.endswith(".pptx")], out, profile)
    _soffice("odp", [p for n, p in paths.items() if n.endswith(".pptx")], out, profile)
    text = {}
    for name, path in paths.items():
        if name.endswith(".pptx"):
            odp = (out / path.name).with_suffix(".odp")
            # a paragraph's runs joined as they read, paragraphs apart
            content = xml(members(odp.read_bytes())["content.xml"])
            text[name] = " ".join("".join(p.itertext())
                                  for p in content.iter(f"{{{NS['text']}}}p"))
        else:
            text[name] = (out / path.name).with_suffix(".txt").read_text("utf-8-sig")
    return text


@pytest.mark.parametrize("name", ALL)
def test_libreoffice_opens_translation(documents, libreoffice_text, name):
    """LibreOffice converts every translated file, and its text shows every uppercased
    sentence of the body's blocks (headers, footers, notes and comments are not all in its
    plain text, and it adds footnote numbers between sentences)."""
    fmt = fmt_of(name)
    shown = normalized(libreoffice_text[name])
    assert shown
    body = [b for b in read_file(documents[name], MODULES[fmt].FORMAT).blocks
            if b.kind in ("paragraph", "heading", "list", "cell")]
    assert body
    for block in body:
        for sentence in formats.block_sentences(block, "en"):
            assert sentence.upper() in shown, sentence
    longest = max(body, key=lambda b: len(b.text))
    if normalized(longest.text) != normalized(longest.text).upper():
        assert normalized(longest.text) not in shown


# ----------------------------------------------------------------------------- 5. hostile


def _replace(data: bytes, name: str, new: bytes) -> bytes:
    entries = members(data)
    entries[name] = new
    return zip_bytes(entries)


def _refused(data: bytes, fmt: str, *words: str) -> str:
    start = time.perf_counter()
    with pytest.raises(FormatError) as error:
        read_file(data, MODULES[fmt].FORMAT)
    assert time.perf_counter() - start < 5
    message = str(error.value)
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("name", ["pandoc.docx", "pandoc.pptx", "pandoc.odt"])
def test_truncated_zip(documents, name):
    data = documents[name]
    _refused(data[: len(data) // 2], fmt_of(name), "corrupt or truncated")


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """word/document.xml of 200 MB of zeros, deflated to about 200 KB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(200):
                member.write(chunk)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["docx", "pptx", "odt"])
def test_zip_bomb(zip_bomb, fmt):
    assert len(zip_bomb) < 1_000_000
    _refused(zip_bomb, fmt, "zip bomb")


@pytest.mark.parametrize("fmt", ["docx", "pptx", "odt"])
def test_ole_file(fmt):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)
    _refused(data, fmt, "password-protected")
    with pytest.raises(FormatError, match="password-protected"):
        detect(data, f"x.{fmt}")


def test_xlsx_renamed_docx():
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
    with pytest.raises(FormatError, match="Excel"):
        detect(data, "x.docx")
    _refused(data, "docx", "not a docx: it is an Excel workbook")


def test_office_file_of_another_kind(documents):
    _refused(documents["pandoc.pptx"], "docx", "not a docx: it is a PowerPoint presentation")
    _refused(documents["pandoc.docx"], "pptx", "not a pptx: it is a Word document")
    _refused(zip_bytes({"word/document.xml": b"<w:document/>"}), "docx", "no [Content_Types].xml")


def test_other_odf_and_encrypted_odt(documents):
    odp = _replace(documents["pandoc.odt"], "mimetype",
                   b"application/vnd.oasis.opendocument.presentation")
    _refused(odp, "odt", "not an OpenDocument text")
    manifest = (b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
                b'manifest:1.0"><manifest:file-entry manifest:full-path="content.xml" '
                b'manifest:media-type="text/xml"><manifest:encryption-data '
                b'manifest:checksum-type="SHA1" manifest:checksum="AAAA"/>'
                b"</manifest:file-entry></manifest:manifest>")
    encrypted = _replace(documents["pandoc.odt"], "META-INF/manifest.xml", manifest)
    _refused(encrypted, "odt", "password-protected")


LAUGHS = (b'<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
          + b"]>")
PADDING = b"<!--" + b"x" * 70_000 + b"-->"  # puts the DOCTYPE past the first 64 KB


@pytest.mark.parametrize("name, member, root", [
    ("built.docx", "word/document.xml",
     b'<w:document xmlns:w="%s"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body>'
     b"</w:document>" % W[1:-1].encode()),
    ("built.pptx", "ppt/slides/slide1.xml", None),  # the slide, its title "&lol9;"
    ("pandoc.odt", "content.xml",
     b'<office:document-content xmlns:office="%s">&lol9;</office:document-content>'
     % NS["office"].encode()),
])
@pytest.mark.parametrize("padding", [b"", PADDING], ids=["head", "after-64k"])
def test_billion_laughs(documents, name, member, root, padding):
    """A part with a DOCTYPE declaring entities is refused at once, never expanded: by the
    module's check or base.parse_xml where the DOCTYPE is in the first 64 KB, by the
    libraries' parsers (no entity resolution, libxml2's amplification limit) past it."""
    if root is None:
        root = members(documents[name])[member].split(b"?>", 1)[1]
        root = root.replace(b"Quarterly figures", b"&lol9;")
    data = _replace(documents[name], member, b'<?xml version="1.0"?>' + padding + LAUGHS + root)
    message = _refused(data, fmt_of(name))
    assert any(words in message for words in (
        "document type declaration", "entities", "amplification")), message


def test_malformed_part(documents):
    broken = _replace(documents["pandoc.odt"], "content.xml", b"<office:document-content")
    _refused(broken, "odt", "not well-formed")
    broken = _replace(documents["built.docx"], "word/document.xml", b"<w:document")
    _refused(broken, "docx", "cannot be read")


# ----------------------------------------------------------------------------- 6. moved words
# Issue 27.6: on a model that reverses word order and keeps the full stop at the sentence end,
# the formatted word that begins a paragraph's second sentence ends it. The stop after it is
# the sentence's: it stands outside the formatting, and no space stands inside it.

MOVED = [("Zero. ", False), ("One", True), (" two three.", False)]
MOVED_BACK = [("Zero. three two ", False), ("One", True), (".", False)]


def reversed_copy(data: bytes, fmt: str) -> bytes:
    from test_tags import reverse_keeping_final_stop

    parsed = read_file(data, MODULES[fmt].FORMAT)
    return parsed.write(translate_parsed(parsed, reverse_keeping_final_stop, "en"), "de")


def test_docx_italic_run_moved_to_the_sentence_end_leaves_the_stop_outside():
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph()
    for text, italic in MOVED:
        paragraph.add_run(text).italic = italic or None
    data = io.BytesIO()
    document.save(data)
    out = docx.Document(io.BytesIO(reversed_copy(data.getvalue(), "docx")))
    assert [(r.text, bool(r.italic)) for r in out.paragraphs[0].runs] == MOVED_BACK


def test_pptx_italic_run_moved_to_the_sentence_end_leaves_the_stop_outside():
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    paragraph = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1)) \
        .text_frame.paragraphs[0]
    for text, italic in MOVED:
        run = paragraph.add_run()
        run.text, run.font.italic = text, italic or None
    data = io.BytesIO()
    deck.save(data)
    out = pptx.Presentation(io.BytesIO(reversed_copy(data.getvalue(), "pptx")))
    runs = out.slides[0].shapes[0].text_frame.paragraphs[0].runs
    assert [(r.text, bool(r.font.italic)) for r in runs] == MOVED_BACK


def test_odt_emphasis_moved_to_the_sentence_end_leaves_the_stop_outside(documents):
    """The LibreOffice fixture with one paragraph's text changed, its Emphasis style kept."""
    content = members(documents["libreoffice.odt"])["content.xml"]
    old = b'Prune in <text:span text:style-name="Underlined">early spring</text:span>.'
    assert old in content
    changed = _replace(documents["libreoffice.odt"], "content.xml", content.replace(
        old, b'Zero. <text:span text:style-name="Emphasis">One</text:span> two three.'))
    root = xml(members(reversed_copy(changed, "odt"))["content.xml"])
    paragraph = next(p for p in root.xpath("//text:p", namespaces=NS)
                     if (p.text or "").startswith("Zero."))
    [span] = paragraph.xpath("text:span", namespaces=NS)
    assert span.get(f"{{{NS['text']}}}style-name") == "Emphasis"
    assert (paragraph.text, span.text, span.tail) == tuple(text for text, _ in MOVED_BACK)
