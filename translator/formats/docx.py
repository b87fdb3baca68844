"""Word documents (.docx), read and written with python-docx (which keeps every part it does
not model byte for byte); the paragraphs are walked on its lxml tree.

Blocks, in this order:

* the body: every paragraph (w:p) in document order: "heading" when its style's name begins
  with Heading or Title, "list" when it is numbered (w:numPr) or its style's name begins with
  List, "cell" for every paragraph of every table cell (nested tables too; a merged cell is
  one w:tc and so is read once), "textbox" for the paragraphs of a text box (w:txbxContent
  of the mc:Choice branch; the legacy VML copy in mc:Fallback is no block of its own but is
  written with the same text when its runs match the Choice's), "paragraph" otherwise;
* the headers and footers of every section ("header", "footer"): each header or footer part
  once (a section linked to the previous one has no part of its own; a shared part is read
  once);
* footnotes and endnotes ("footnote", "endnote"; not the separator notes): python-docx 1.2
  has no API for them, so their parts' XML is parsed with base.parse_xml and put back into
  the part as re-serialised XML when changed;
* comments ("comment"), from the comments part python-docx 1.2 loads (never created here).

A paragraph with no text but whitespace is no block (and so is left as it is).

A block's spans are the text segments of the paragraph's runs (w:r), in order: runs inside
w:hyperlink, w:ins, w:smartTag, w:sdt and w:fldSimple count; runs inside w:del, w:moveFrom,
mc:Fallback or a nested paragraph (a text box) do not. A segment is what a run holds between
two of its other elements: its w:t texts (w:noBreakHyphen read as "-"), cut at tabs (w:tab,
w:ptab), breaks (w:br, w:cr), drawings, field characters, note and comment references. A tab
is read as "\t" and a break (of any type) as "\n" at the start of the next segment's span
(python-docx's `run.text` reads a page break as ""), and the writer leaves them out again, so
those elements stay where they are: the inline rule collapses whitespace inside a
translation, so a tab or line break written as text would be lost. A field's shown result is
text; its instruction (w:instrText) is not. Segments without text are no spans.

The writer puts the new text of each segment whose text changed into its first w:t
(xml:space="preserve" where it begins or ends with whitespace) and removes the segment's
other text elements; everything else in the run stays. Hyperlink targets (relationships)
are never touched. The language: w:lang w:val = target on the document defaults
(w:docDefaults/w:rPrDefault/w:rPr, created when missing), on every w:lang of the styles
part, and on every span's run that has its own w:lang ("zxx", no language, stays); and
core_properties.language (python-docx creates docProps/core.xml when a file has none).
OOXML parts may not declare a DTD (OPC, ECMA-376 part 2): a member with a DOCTYPE or ENTITY
in its first 64 KB is refused before python-docx parses anything (past that, its parser
resolves no entities and libxml2 refuses entity amplification; a test checks both).
"""

from __future__ import annotations

import io

from lxml import etree

from .base import Block, Format, Limits, Parsed, parse_xml
from .ooxml import check_package

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
RT_FOOTNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"
RT_ENDNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/endnotes"
RT_COMMENTS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Where a run stops belonging to the paragraph above it.
_NOT_OWN = {W + "p", W + "del", W + "moveFrom", MC + "Fallback", W + "txbxContent"}
_INLINE = {W + "t": "", W + "noBreakHyphen": "-", W + "softHyphen": ""}
_BREAKS = {W + "tab": "\t", W + "ptab": "\t", W + "br": "\n", W + "cr": "\n"}
_SAME_SEGMENT = {W + "rPr", W + "lastRenderedPageBreak"}  # what does not end a segment
_AFTER_LANG = {W + "eastAsianLayout", W + "specVanish", W + "oMath", W + "rPrChange"}
_HEADERS = ("header", "even_page_header", "first_page_header")
_FOOTERS = ("footer", "even_page_footer", "first_page_footer")


def _mark(run) -> str:
    """A run's formatting: its properties (w:rPr, but its language) and the hyperlink around
    it; runs with equal marks look alike."""
    properties = run.find(W + "rPr")
    parts = [] if properties is None else sorted(
        etree.QName(p).localname + "".join(f"[{etree.QName(k).localname}={v}]"
                                           for k, v in sorted(p.attrib.items()))
        for p in properties if p.tag != W + "lang")
    link = next((a for a in run.iterancestors(W + "hyperlink")), None)
    if link is not None:
        parts.append(f"link[{link.get(R_ID, '')}{link.get(W + 'anchor', '')}]")
    return ";".join(parts)


class Segment:
    """One span: the text elements (w:t, w:noBreakHyphen, w:softHyphen) of a run between two of
    its tabs or breaks, and the tabs and breaks read before it (its `lead`)."""

    def __init__(self, run, elements: list, lead: str):
        self.run, self.elements, self.lead = run, elements, lead

    @property
    def text(self) -> str:
        return "".join(_INLINE[e.tag] if e.tag != W + "t" else e.text or ""
                       for e in self.elements)

    def set(self, span: str) -> None:
        """The segment's text becomes `span` (less its lead), in its first w:t."""
        new = span[len(self.lead):] if span.startswith(self.lead) else span
        if new == self.text:
            return
        first = next((e for e in self.elements if e.tag == W + "t"), None)
        if first is None:
            first = self.run.makeelement(W + "t")
            self.elements[0].addprevious(first)
        for element in self.elements:
            if element is not first:
                element.getparent().remove(element)
        first.text = new
        if new != new.strip():
            first.set(XML_SPACE, "preserve")
        self.elements = [first]


def segments(p) -> list[Segment]:
    """The spans of paragraph `p` (the module docstring's rule)."""
    out: list[Segment] = []
    lead = ""
    for r in own_runs(p):
        current: list = []
        for child in [*r, None]:
            tag = child.tag if child is not None else None
            if tag in _INLINE:
                current.append(child)
                continue
            if tag not in _SAME_SEGMENT:
                segment = Segment(r, current, lead)
                if segment.text:
                    out.append(segment)
                    lead = ""
                current = []
                lead += _BREAKS.get(tag, "")
    return out


def own_runs(p) -> list:
    """The runs of paragraph `p` (the module docstring's rule)."""
    out = []
    for r in p.iter(W + "r"):
        node = r.getparent()
        while node is not p and node.tag not in _NOT_OWN:
            node = node.getparent()
        if node is p:
            out.append(r)
    return out


def _inside(el, stop, tags: set) -> bool:
    node = el.getparent()
    while node is not None and node is not stop:
        if node.tag in tags:
            return True
        node = node.getparent()
    return False


class Story:
    """The blocks of one part's tree (body, header, footer, note or comments part) and, for
    each span, its segment and those that mirror it (a text box's fallback copy)."""

    def __init__(self, root, kind: str, styles: dict[str, str]):
        self.root, self.kind, self.styles = root, kind, styles
        self.blocks: list[Block] = []
        self.segments: list[list[list[Segment]]] = []
        by_p = {}
        for p in root.iter(W + "p"):
            if _inside(p, root, {MC + "Fallback"}):
                continue
            found = segments(p)
            if "".join(s.text for s in found).strip():
                by_p[p] = len(self.blocks)
                self.blocks.append(Block([s.lead + s.text for s in found], self._kind(p),
                                         [_mark(s.run) for s in found]))
                self.segments.append([[s] for s in found])
        self._mirror_fallbacks(by_p)

    def _kind(self, p) -> str:
        if self.kind != "body":
            return self.kind
        if _inside(p, self.root, {W + "txbxContent"}):
            return "textbox"
        if _inside(p, self.root, {W + "tc"}):
            return "cell"
        style = p.find(f"{W}pPr/{W}pStyle")
        name = self.styles.get(style.get(W + "val"), "") if style is not None else ""
        if name.lower().startswith(("heading", "title")):
            return "heading"
        if p.find(f"{W}pPr/{W}numPr") is not None or name.lower().startswith("list"):
            return "list"
        return "paragraph"

    def _mirror_fallbacks(self, by_p: dict) -> None:
        """An mc:Fallback text box's segments written with the mc:Choice ones they match."""
        for alternate in self.root.iter(MC + "AlternateContent"):
            choice = [p for p in alternate.iterfind(f"{MC}Choice//{W}p") if p in by_p]
            fallback = [segments(p) for p in alternate.iterfind(f"{MC}Fallback//{W}p")]
            fallback = [found for found in fallback if "".join(s.text for s in found).strip()]
            if len(choice) != len(fallback):
                continue
            pairs = [(by_p[c], found) for c, found in zip(choice, fallback)]
            if all([s.lead + s.text for s in found] == self.blocks[i].spans
                   for i, found in pairs):
                for i, found in pairs:
                    for span_segments, mirror in zip(self.segments[i], found):
                        span_segments.append(mirror)


class XmlBlobPart:
    """A part python-docx keeps as bytes (footnotes, endnotes), parsed to be written back
    (re-serialised as python-docx serialises its own parts) only when the writer changed it."""

    def __init__(self, part, what: str):
        self.part = part
        self.root = parse_xml(part.blob, what)
        self.before = etree.tostring(self.root)

    def save(self) -> None:
        if etree.tostring(self.root) != self.before:
            self.part._blob = etree.tostring(self.root, xml_declaration=True, encoding="UTF-8",
                                             standalone=True)


def _bands(document, styles: dict[str, str]) -> list[Story]:
    """Every section's own headers and footers, each part once."""
    out, seen = [], set()
    for section in document.sections:
        for kind, names in (("header", _HEADERS), ("footer", _FOOTERS)):
            for name in names:
                band = getattr(section, name)
                if not band.is_linked_to_previous and id(band.part) not in seen:
                    seen.add(id(band.part))
                    out.append(Story(band.part.element, kind, styles))
    return out


def _related(part, reltype: str):
    try:
        return part.part_related_by(reltype)
    except KeyError:
        return None


class WordDocument(Parsed):
    def __init__(self, data: bytes):
        self.data = data
        self.notes = []
        _, stories, _ = self._load()
        self.blocks = [block for story in stories for block in story.blocks]

    def _load(self):
        """python-docx's document, its stories in block order, and its note parts."""
        import docx

        document = docx.Document(io.BytesIO(self.data))
        styles = {s.style_id: s.name or "" for s in document.styles}
        stories = [Story(document.element.body, "body", styles)]
        stories += _bands(document, styles)
        blobs = []
        for reltype, kind in ((RT_FOOTNOTES, "footnote"), (RT_ENDNOTES, "endnote")):
            part = _related(document.part, reltype)
            if part is not None:
                blobs.append(XmlBlobPart(part, f"docx {kind}s"))
                stories += [Story(note, kind, styles)
                            for note in blobs[-1].root.iterfind(f"{W}{kind}")
                            if note.get(W + "type") in (None, "normal")]
        comments = _related(document.part, RT_COMMENTS)
        if comments is not None:
            stories.append(Story(comments.element, "comment", styles))
        return document, stories, blobs

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        _check_shape(self.blocks, spans)
        target_lang = target_lang.replace("_", "-")  # BCP 47, as w:lang and dc:language want
        document, stories, blobs = self._load()  # a fresh tree: writing twice is allowed
        given = iter(spans)
        for story in stories:
            for block_segments in story.segments:
                for new, span_segments in zip(next(given), block_segments):
                    for segment in span_segments:
                        segment.set(new)
                        _mark_run(segment.run, target_lang)
        _mark_styles(document.styles.element, target_lang)
        document.core_properties.language = target_lang
        for blob in blobs:
            blob.save()
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


def _check_shape(blocks: list[Block], spans: list[list[str]]) -> None:
    if len(spans) != len(blocks) or any(len(s) != len(b.spans) for s, b in zip(spans, blocks)):
        raise ValueError("the spans given do not match the document's blocks")


def _set_lang(lang, target_lang: str) -> None:
    if lang.get(W + "val", "") != "zxx":
        lang.set(W + "val", target_lang)


def _mark_run(r, target_lang: str) -> None:
    lang = r.find(f"{W}rPr/{W}lang")
    if lang is not None:
        _set_lang(lang, target_lang)


def _mark_styles(styles, target_lang: str) -> None:
    """The document defaults (created when missing) and every w:lang of the styles part."""
    defaults = styles.find(W + "docDefaults")
    if defaults is None:
        defaults = styles.makeelement(W + "docDefaults")
        styles.insert(0, defaults)
    r_default = defaults.find(W + "rPrDefault")
    if r_default is None:
        r_default = defaults.makeelement(W + "rPrDefault")
        defaults.insert(0, r_default)
    rpr = r_default.find(W + "rPr")
    if rpr is None:
        rpr = r_default.makeelement(W + "rPr")
        r_default.append(rpr)
    if rpr.find(W + "lang") is None:
        after = [i for i, child in enumerate(rpr) if child.tag in _AFTER_LANG]
        rpr.insert(after[0] if after else len(rpr), rpr.makeelement(W + "lang"))
    for lang in styles.iter(W + "lang"):
        _set_lang(lang, target_lang)


def read(data: bytes, limits: Limits | None = None) -> WordDocument:
    check_package(data, limits or Limits(), "docx")
    return WordDocument(data)


FORMAT = Format("docx", (".docx",), MEDIA_TYPE, read, None, "Word document")
