"""OpenDocument text (.odt), read and written with zipfile and lxml (base.open_zip,
base.read_member, base.parse_xml): only content.xml, styles.xml and meta.xml are parsed and
re-serialised, and every other member (pictures, settings, manifest, thumbnail) is copied
into the new archive byte for byte, `mimetype` first and stored uncompressed as ODF requires.
So whatever this module does not understand stays exactly as it was; odfdo's element API
would also work, but would bring a dependency for what a few XPath steps do.

Blocks: every text:p and text:h ("heading") of office:text in content.xml, in document order,
then those of the master pages' headers and footers in styles.xml (style:header*, "header";
style:footer*, "footer"). A paragraph's kind is, from the nearest of its ancestors: "comment"
inside office:annotation, "footnote" or "endnote" inside text:note (by text:note-class; a
note's paragraphs are blocks of their own, not part of the paragraph holding the note),
"cell" inside table:table-cell, "textbox" inside draw:text-box; else "heading" (a text:h,
or a text:p of the style Title), "list" inside text:list, or "paragraph". Blocks with no
text but whitespace are left out (and so left as they are), and so are the paragraphs of
text:tracked-changes (deleted text).

A block's spans are the pieces of its mixed content, in document order: the paragraph's text
and the text and tail of every descendant, through text:span, text:a and text:meta (a link's
xlink:href is an attribute and stays); the contents of other elements (text:note,
office:annotation, fields such as text:page-number, frames) are no spans, but their tails
are. text:tab, text:line-break and text:s stay as they are; the whitespace they stand for
(a tab, "\\n", a space) is read at the start of the next span (the writer leaves it out again).
Empty pieces are no spans.

The writer sets each changed piece, and marks the language: dc:language in meta.xml (created
when missing, if meta.xml exists), fo:language/fo:country on the default paragraph style
(style:default-style style:family="paragraph", its style:text-properties created when
missing), and every other fo:language/fo:country of a style in styles.xml and content.xml
(the automatic styles); "zxx" (no language) stays.

The upload passes base.open_zip's checks; its mimetype must be OpenDocument text, and a
manifest with encryption data (a password-protected document) is refused.
"""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from .base import Block, Format, FormatError, Limits, Parsed, open_zip, parse_xml, read_member

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
FO = "{urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA_TYPE = "application/vnd.oasis.opendocument.text"
REWRITTEN = ("content.xml", "styles.xml", "meta.xml")

_PARAGRAPHS = (TEXT + "p", TEXT + "h")
_THROUGH = {TEXT + "span", TEXT + "a", TEXT + "meta"}
_SPACE = {TEXT + "tab": "\t", TEXT + "line-break": "\n", TEXT + "s": " "}
_KINDS = {OFFICE + "annotation": "comment", TABLE + "table-cell": "cell",
          DRAW + "text-box": "textbox", TEXT + "list": "list"}
_AFTER_STYLES = {OFFICE + "automatic-styles", OFFICE + "master-styles"}
_BANDS = {"header": "header", "header-left": "header", "header-first": "header",
          "footer": "footer", "footer-left": "footer", "footer-first": "footer"}


def _mark(slot, paragraph) -> str:
    """A piece's formatting: the text:span styles and text:a links around it, up to its
    paragraph; pieces with equal marks look alike."""
    element = slot.element if slot.attr == "text" else slot.element.getparent()
    parts = []
    while element is not None and element is not paragraph:
        parts.append(f"{element.tag}{sorted(element.attrib.items())}")
        element = element.getparent()
    return "/".join(reversed(parts))


class Slot:
    """One span: the text or tail of an element, and the whitespace read before it."""

    def __init__(self, element, attr: str, lead: str):
        self.element, self.attr, self.lead = element, attr, lead

    @property
    def value(self) -> str:
        return getattr(self.element, self.attr) or ""

    def set(self, span: str) -> None:
        new = span[len(self.lead):] if span.startswith(self.lead) else span
        if new != self.value:
            setattr(self.element, self.attr, new)


def slots(paragraph) -> list[Slot]:
    """The spans of a paragraph (the module docstring's rule)."""
    out: list[Slot] = []
    pending = [""]

    def add(element, attr: str) -> None:
        if getattr(element, attr):
            out.append(Slot(element, attr, pending[0]))
            pending[0] = ""

    def walk(element) -> None:
        add(element, "text")
        for child in element:
            if child.tag in _THROUGH:
                walk(child)
            elif child.tag in _SPACE:
                pending[0] += _SPACE[child.tag]
            add(child, "tail")

    walk(paragraph)
    return out


def _kind(paragraph, default: str | None) -> str | None:
    """The paragraph's kind from its nearest telling ancestor; None: not read."""
    kind, node = None, paragraph.getparent()
    while node is not None:
        tag = node.tag
        if tag == TEXT + "tracked-changes":
            return None
        if kind is None and tag == TEXT + "note":
            kind = "endnote" if node.get(TEXT + "note-class") == "endnote" else "footnote"
        elif kind is None and tag in _KINDS:
            kind = _KINDS[tag]
        elif kind is None and tag.startswith(STYLE) and tag[len(STYLE):] in _BANDS:
            kind = _BANDS[tag[len(STYLE):]]
        node = node.getparent()
    heading = paragraph.tag == TEXT + "h" or paragraph.get(TEXT + "style-name") == "Title"
    if heading and default and kind in (None, "list"):
        return "heading"  # a numbered heading sits in a text:list
    return kind or default


class Parts:
    """The parsed XML members of one read, and the spans found in them."""

    def __init__(self, archive: zipfile.ZipFile):
        names = set(archive.namelist())
        self.trees = {name: parse_xml(read_member(archive, name, "odt"), f"odt {name}")
                      for name in REWRITTEN if name in names or name == "content.xml"}
        self.blocks: list[Block] = []
        self.slots: list[list[Slot]] = []
        body = self.trees["content.xml"].find(f"{OFFICE}body/{OFFICE}text")
        if body is None:
            raise FormatError("the odt has no text body (office:text): it is not a text "
                              "document")
        self._add(body, "paragraph")
        styles = self.trees.get("styles.xml")
        masters = styles.find(OFFICE + "master-styles") if styles is not None else None
        if masters is not None:
            self._add(masters, None)

    def _add(self, root, default: str | None) -> None:
        for paragraph in root.iter(*_PARAGRAPHS):
            kind = _kind(paragraph, default)
            found = slots(paragraph) if kind else []
            if "".join(s.value for s in found).strip():
                self.blocks.append(Block([s.lead + s.value for s in found], kind,
                                         [_mark(s, paragraph) for s in found]))
                self.slots.append(found)


class OpenDocumentText(Parsed):
    def __init__(self, data: bytes, limits: Limits):
        self.data, self.limits = data, limits
        self.notes = []
        archive = _open(data, limits)
        self.blocks = Parts(archive).blocks

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        if len(spans) != len(self.blocks) or any(
                len(s) != len(b.spans) for s, b in zip(spans, self.blocks)):
            raise ValueError("the spans given do not match the document's blocks")
        archive = _open(self.data, self.limits)
        parts = Parts(archive)  # a fresh tree: writing twice is allowed
        for block_slots, new_spans in zip(parts.slots, spans):
            for slot, span in zip(block_slots, new_spans):
                slot.set(span)
        mark_language(parts.trees, target_lang)
        return _zip(archive, {name: serialise(tree) for name, tree in parts.trees.items()})


def serialise(tree) -> bytes:
    """A rewritten member as written back (and as the identity test re-serialises it)."""
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _open(data: bytes, limits: Limits) -> zipfile.ZipFile:
    archive = open_zip(data, limits, "odt")
    mimetype = read_member(archive, "mimetype", "odt").strip()
    if mimetype != MEDIA_TYPE.encode():
        raise FormatError(f"the file is not an OpenDocument text (its mimetype is "
                          f"{mimetype[:80].decode('ascii', 'replace')!r})")
    if b"encryption-data" in _member(archive, "META-INF/manifest.xml"):
        raise FormatError("the odt is password-protected; save it without a password")
    return archive


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    return read_member(archive, name, "odt") if name in archive.namelist() else b""


def _zip(archive: zipfile.ZipFile, rewritten: dict[str, bytes]) -> bytes:
    """The archive with `rewritten` members replaced, every other member copied as is."""
    out = io.BytesIO()
    infos = sorted(archive.infolist(), key=lambda info: info.filename != "mimetype")
    with zipfile.ZipFile(out, "w") as target:
        for info in infos:
            data = rewritten.get(info.filename)
            if data is None:
                data = read_member(archive, info.filename, "odt")
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.external_attr = info.external_attr
            copy.compress_type = (zipfile.ZIP_STORED if info.filename == "mimetype"
                                  else info.compress_type)
            target.writestr(copy, data)
    return out.getvalue()


def _split_lang(target_lang: str) -> tuple[str, str | None]:
    """("pt", "BR") for "pt-BR" or "pt_BR"; ("de", None) for "de"."""
    parts = target_lang.replace("_", "-").split("-")
    region = next((p for p in parts[1:] if (len(p) == 2 and p.isalpha())
                   or (len(p) == 3 and p.isdigit())), None)
    return parts[0].lower(), region.upper() if region else None


def _set_language(properties, language: str, country: str | None) -> None:
    properties.set(FO + "language", language)
    if country:
        properties.set(FO + "country", country)
    elif FO + "country" in properties.attrib:
        del properties.attrib[FO + "country"]


def mark_language(trees: dict, target_lang: str) -> None:
    """The module docstring's language marks, in the parsed members."""
    language, country = _split_lang(target_lang)
    for tree in trees.values():
        for properties in tree.iter(STYLE + "text-properties"):
            if properties.get(FO + "language") not in (None, "zxx"):
                _set_language(properties, language, country)
    if "styles.xml" in trees:
        _set_language(_default_text_properties(trees["styles.xml"]), language, country)
    if "meta.xml" in trees:
        meta = trees["meta.xml"].find(OFFICE + "meta")
        if meta is None:
            meta = etree.SubElement(trees["meta.xml"], OFFICE + "meta")
        element = meta.find(DC + "language")
        if element is None:
            element = etree.SubElement(meta, DC + "language")
        element.text = target_lang.replace("_", "-")


def _default_text_properties(styles):
    office_styles = styles.find(OFFICE + "styles")
    if office_styles is None:  # before the automatic and master styles, as ODF orders them
        later = [i for i, child in enumerate(styles) if child.tag in _AFTER_STYLES]
        office_styles = styles.makeelement(OFFICE + "styles")
        styles.insert(later[0] if later else len(styles), office_styles)
    default = office_styles.find(f"{STYLE}default-style[@{STYLE}family='paragraph']")
    if default is None:
        default = etree.SubElement(office_styles, STYLE + "default-style",
                                   {STYLE + "family": "paragraph"})
    properties = default.find(STYLE + "text-properties")
    if properties is None:
        properties = etree.SubElement(default, STYLE + "text-properties")
    return properties


def read(data: bytes, limits: Limits | None = None) -> OpenDocumentText:
    return OpenDocumentText(data, limits or Limits())


FORMAT = Format("odt", (".odt",), MEDIA_TYPE, read, None, "OpenDocument text")
