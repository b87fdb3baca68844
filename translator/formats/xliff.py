"""XLIFF 1.2 and 2.0 (also 1.0/1.1, read as 1.2), parsed with `base.parse_xml` (no DTD, no
entity expansion, a DOCTYPE declaring entities refused).

Blocks (kind "unit"). XLIFF 1.2: one per `<trans-unit>`; 2.0: one per `<segment>` of a `<unit>`.
A unit is translated when its target is missing or holds no text (only whitespace, or only
inline codes); a unit with a translation is kept as it is, unless the reader is made with
`overwrite=True` (FORMAT.read keeps them, and says how many in a note). Units with
translate="no" (on the unit or an enclosing group or file) are never translated. The block's
spans are the text slots of `<source>` (translator/formats/xmltext.py) through the transparent
inline elements, whose text is translatable: `<g>` and `<mrk>` (1.2, except mtype="protected"),
`<pc>` and `<mrk>` (2.0, except translate="no"). Every other inline element is a code whose
content is native data, not text: `<x/>`, `<bx/>`, `<ex/>`, `<ph>`, `<bpt>`, `<ept>`, `<it>`
(1.2, with any `<sub>` inside them), `<ph/>`, `<sc/>`, `<ec/>`, `<cp/>`, `<sm/>`, `<em/>` (2.0).
`<seg-source>` is not used: the target mirrors `<source>`.

Writing. The target becomes a deep copy of `<source>` with the slot texts replaced, so every
inline code appears in it exactly once, with its ids and content; it takes the place of an
existing (empty or overwritten) `<target>`, keeping that target's attributes, or is inserted
after `<source>` (1.2: after `<seg-source>` if present). Its `xml:lang` is the target language
where the source or old target had one. Marked for review: 1.2 sets `state="needs-review-
translation"` and `state-qualifier="mt-suggestion"` on the target and `target-language` on every
`<file>`; 2.0 sets `state="translated"` on the segment (2.0's states are initial, translated,
reviewed and final: it has no "needs review" state, and the `subState` of the old state is
removed) and `trgLang` on `<xliff>`. Ids, notes, contexts, original data, skeletons and units
left alone are untouched. The file is written in its own encoding, after its own XML declaration
(byte for byte) and byte-order mark.
"""

from __future__ import annotations

import codecs
import copy
import re

from lxml import etree

from . import xmltext
from .base import Block, Format, FormatError, Limits, Parsed, parse_xml

NS12 = "urn:oasis:names:tc:xliff:document:1.2"
NS20 = "urn:oasis:names:tc:xliff:document:2.0"
VERSION_1_NAMESPACES = ("", NS12, "urn:oasis:names:tc:xliff:document:1.1")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
TRANSPARENT = {"1": frozenset({"g", "mrk"}), "2": frozenset({"pc", "mrk"})}
_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml[^>]*\?>")
_XLIFF_ROOT = re.compile(rb"<(?:[\w.-]+:)?xliff[\s>]")


def local(node) -> str:
    return etree.QName(node).localname if xmltext.is_element(node) else ""


def skipper(version: str):
    """The xmltext skip predicate of a version: true for inline codes (their content is native
    data), false for the transparent elements."""
    transparent = TRANSPARENT[version]

    def skip(element) -> bool:
        name = local(element)
        if name not in transparent:
            return True
        if name == "mrk":
            return element.get("mtype") == "protected" or element.get("translate") == "no"
        return False

    return skip


def xliff_version(root) -> str:
    """"1" (1.0-1.2) or "2" (2.x); a FormatError for anything else."""
    qname = etree.QName(root)
    if qname.localname != "xliff":
        raise FormatError(f"the file is not XLIFF: its root element is <{qname.localname}>")
    namespace = qname.namespace or ""
    if namespace == NS20:
        return "2"
    if namespace in VERSION_1_NAMESPACES and not root.get("version", "1").startswith("2"):
        return "1"
    raise FormatError(f"unsupported XLIFF version (namespace {namespace!r}, version "
                      f"{root.get('version')!r}): XLIFF 1.2 and 2.0 are supported")


def _not_translatable(element) -> bool:
    """translate="no" on the element or an ancestor."""
    for node in (element, *element.iterancestors()):
        if node.get("translate") == "no":
            return True
    return False


def _child(element, name: str):
    namespace = etree.QName(element).namespace
    return element.find(f"{{{namespace}}}{name}" if namespace else name)


def _containers(root, version: str) -> list:
    """The elements holding a source and a target: 1.2 trans-units, 2.0 segments, in order."""
    namespace = etree.QName(root).namespace
    prefix = f"{{{namespace}}}" if namespace else ""
    if version == "1":
        return [unit for unit in root.iter(prefix + "trans-unit") if not _not_translatable(unit)]
    return [segment for unit in root.iter(prefix + "unit") if not _not_translatable(unit)
            for segment in unit.iter(prefix + "segment")]


def _has_text(element, skip) -> bool:
    return any(xmltext.get(slot).strip() for slot in xmltext.text_slots(element, skip))


def entries(root, version: str, overwrite: bool) -> tuple[list, int]:
    """(container, source, target or None) of every unit to translate, and how many units
    with a translation were kept."""
    skip, found, kept = skipper(version), [], 0
    for container in _containers(root, version):
        source = _child(container, "source")
        if source is None:
            raise FormatError(f"the XLIFF file has a <{local(container)}> without <source> "
                              f"(line {container.sourceline})")
        target = _child(container, "target")
        if not _has_text(source, skip):
            continue
        if target is not None and _has_text(target, skip) and not overwrite:
            kept += 1
            continue
        found.append((container, source, target))
    return found, kept


def new_target(source, target, spans: list[str], lang: str, skip):
    """A target: a deep copy of `source` with its slot texts replaced (module docstring)."""
    made = copy.deepcopy(source)
    made.tag = etree.QName(etree.QName(source).namespace, "target").text
    made.attrib.clear()
    if source.get(XML_SPACE) is not None:
        made.set(XML_SPACE, source.get(XML_SPACE))
    if target is not None:
        made.attrib.update(target.attrib)
    if source.get(XML_LANG) is not None or made.get(XML_LANG) is not None:
        made.set(XML_LANG, lang)
    slots = xmltext.text_slots(made, skip)
    if len(slots) != len(spans):
        raise ValueError("the spans do not match the unit's source")
    for slot, text in zip(slots, spans):
        xmltext.put(slot, text)
    made.tail = target.tail if target is not None else None
    return made


def place_target(container, source, target, made) -> None:
    """Put the target in place of the old one, or after the source (indented as the source is,
    when the source is followed by whitespace only)."""
    if target is not None:
        container.replace(target, made)
        return
    after = _child(container, "seg-source")
    after = source if after is None else after
    before = after.getprevious()
    indent = container.text if before is None else before.tail
    made.tail = after.tail
    if _blank(after.tail) and _blank(indent):
        after.tail = indent
    after.addnext(made)


def _blank(text: str | None) -> bool:
    return text is not None and not text.strip()


def mark(version: str, container, made) -> None:
    """The review state of a written target and the file's target language."""
    if version == "1":
        made.set("state", "needs-review-translation")
        made.set("state-qualifier", "mt-suggestion")
    else:
        container.set("state", "translated")
        container.attrib.pop("subState", None)


def mark_language(root, version: str, lang: str) -> None:
    if version == "2":
        root.set("trgLang", lang)
        return
    namespace = etree.QName(root).namespace
    for file in root.iter(f"{{{namespace}}}file" if namespace else "file"):
        file.set("target-language", lang)


def serialize(root, original: bytes) -> bytes:
    """The tree in the original's encoding, after its XML declaration and byte-order mark (the
    nodes around the root on lines of their own where there is no DOCTYPE)."""
    tree = root.getroottree()
    encoding = tree.docinfo.encoding or "UTF-8"
    if encoding.lower().replace("-", "").startswith(("utf16", "utf32")):
        return etree.tostring(tree, encoding=encoding, xml_declaration=True)
    declaration = _DECLARATION.match(original)
    head = declaration.group(0) + b"\n" if declaration else (
        codecs.BOM_UTF8 if original.startswith(codecs.BOM_UTF8) else b"")
    end = b"\n" if original.rstrip(b" \t").endswith(b"\n") else b""
    if tree.docinfo.doctype:
        return head + etree.tostring(tree, encoding=encoding, xml_declaration=False) + end
    nodes = [*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings()]
    return head + b"\n".join(etree.tostring(node, encoding=encoding, xml_declaration=False)
                              for node in nodes) + end


def _block(source, skip) -> Block:
    """A unit's source as a block: its text slots, each marked by the inline codes around it
    (<g>, <pc>, <mrk>), up to the <source>."""
    slots = xmltext.text_slots(source, skip)
    return Block([xmltext.get(s) for s in slots], "unit",
                 [xmltext.mark(s, lambda element: element is source) for s in slots])


class XliffDocument(Parsed):
    def __init__(self, data: bytes, overwrite: bool):
        self.data = data
        self.overwrite = overwrite
        root = parse_xml(data, "XLIFF file")
        self.version = xliff_version(root)
        skip = skipper(self.version)
        found, kept = entries(root, self.version, overwrite)
        self.blocks = [_block(source, skip) for _, source, _ in found]
        self.notes = [f"{kept} unit{'s' if kept != 1 else ''} already translated kept as "
                      f"{'they are' if kept != 1 else 'it is'}"] if kept else []

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        root = parse_xml(self.data, "XLIFF file")
        found, _ = entries(root, self.version, self.overwrite)
        if len(spans) != len(found):
            raise ValueError("the spans do not match the document's units")
        skip = skipper(self.version)
        for (container, source, target), new in zip(found, spans):
            made = new_target(source, target, list(new), target_lang, skip)
            place_target(container, source, target, made)
            mark(self.version, container, made)
        mark_language(root, self.version, target_lang)
        return serialize(root, self.data)


def read(data: bytes, limits: Limits | None = None, overwrite: bool = False) -> XliffDocument:
    return XliffDocument(data, overwrite)


def sniff(data: bytes) -> bool:
    return bool(_XLIFF_ROOT.search(data[:4096]))


FORMAT = Format("xliff", (".xlf", ".xliff"), "application/xliff+xml", read, sniff, "XLIFF")
