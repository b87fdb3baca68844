"""HTML pages and fragments, read and written with lxml.html (libxml2's HTML parser).

Decoding. The bytes are decoded here and the text is given to lxml as UTF-8 with that encoding
stated, so a `<meta charset>` can never make lxml read the page otherwise than we do. A
byte-order mark, or being valid UTF-8, decides first: a page that is valid UTF-8 is read as
UTF-8 whatever its meta says (such pages are ASCII or mislabelled). Otherwise the charset the
page declares (`<meta charset>` or `<meta http-equiv=content-type>` in its first 4 KiB, or an
XHTML page's XML declaration) is used if the bytes decode in it without error (ISO-8859-1 and
ASCII are read as windows-1252, as browsers do), with a note; failing that,
`translator.formats.decoding.decode_text` guesses (with its note) or refuses. The translation is
always UTF-8 and says so: every `<meta charset>` and `<meta http-equiv=content-type>` is changed
to UTF-8, and a page with neither gets `<meta charset="utf-8">` first in its `<head>`.

Blocks. A block is a run of text in a block-level element (`BLOCKS`: p, h1-h6 (kind
"heading"), li ("item"), td/th ("cell"), title ("title"), dt, dd, blockquote, caption,
figcaption, label, button, option, summary, legend, div, section, body, ...; kind "paragraph"
where not said), through its inline children (every other element: a, b, strong, em, span, sup,
unknown elements, which browsers also show inline). A block-level child ends the run and the
text after it starts a new block of the parent, so the text of a `<div>` that is not inside a
child block is translated too. A `<br>` (inside inline elements too) ends the run the same way:
the lines it separates (an address, a verse, a cell's lines) are translated as lines, and no
text would stand for the break between them (`a<br>b` would read "ab"). The spans are the run's
text slots (translator/formats/xmltext.py). Attributes `TEXT_ATTRIBUTES` (alt, title, placeholder,
aria-label) and `<meta name="description">`'s `content` are blocks of kind "attribute", one
span each. Never translated: the content of `SKIP_INLINE` elements (code, kbd, samp, var,
script, style, textarea, svg, math: left in place, their tails are text of the block) and
`SKIP_BLOCK` elements (pre, template, iframe, object, video, audio, canvas, ...) with the
attributes inside them, comments, and every other attribute (href, src, class, value, ...).
Scripts are text to lxml: never run, never rendered, never translated.

A page whose first tag is not `<!doctype>`, `<html>`, `<head>` or `<body>` is a fragment: it is
parsed inside `<html><body>` and written back without them, with no `lang` and no meta added.

Writing. The tree is serialised by lxml, `etree.tostring(tree, method="html",
encoding="utf-8")`, doctype kept; a page without a doctype is written without one (that call
would add HTML 4.0 Transitional's). `<html lang>` (and `xml:lang` where present) is set to the
target language. So a UTF-8 page with `<meta charset="utf-8">` whose lang is the target language
comes back exactly as lxml re-serialises it: entities as the characters they stand for (`&amp;`,
`&lt;`, `&gt;` escaped as needed), attribute quoting normalised, whitespace between top-level
nodes dropped; but for one thing: the URLs of href, src, action and `<a name>` are written as
they were, where libxml2 would percent-encode their spaces and non-ASCII characters (`#演習`
stays `#演習`, `{{ url }}` stays a template). A DOCTYPE declaring entities is refused (HTML
has none: it is an XML entity attack or not HTML).
"""

from __future__ import annotations

import codecs
import html
import re

from . import xmltext
from .base import Block, Format, FormatError, Limits, Parsed
from .decoding import decode_text

KINDS = {"h1": "heading", "h2": "heading", "h3": "heading", "h4": "heading", "h5": "heading",
         "h6": "heading", "li": "item", "td": "cell", "th": "cell", "title": "title"}
BLOCKS = frozenset(KINDS) | frozenset(
    "html head body p div section article aside header footer nav main search address "
    "blockquote figure figcaption caption ul ol dl dt dd menu dir table thead tbody tfoot tr "
    "colgroup col form fieldset legend label button select datalist optgroup option details "
    "summary dialog hgroup center hr noscript frameset frame".split())
SKIP_INLINE = frozenset("code kbd samp var script style textarea svg math".split())
SKIP_BLOCK = frozenset("pre template iframe object embed video audio canvas xmp listing "
                       "plaintext noembed noframes".split())
SKIPPED = SKIP_INLINE | SKIP_BLOCK
TEXT_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")

_FULL_PAGE = re.compile(r"\A\ufeff?\s*(?:<!--.*?-->\s*|<\?.*?>\s*)*<(?:!doctype|html|head|body)"
                        r"[\s>]", re.I | re.S)
_DOCTYPE = re.compile(r"\A\ufeff?\s*(?:<!--.*?-->\s*|<\?.*?>\s*)*<!doctype", re.I | re.S)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_:.-]+)""")
_URL_ATTRIBUTES = ("href", "src", "action")
_REWRITTEN_URL = re.compile(r"[^\x21-\x7e]")
_URL_TOKEN = "x-translator-url-4f0c2e-"  # noqa: S105 (a marker in rewritten URLs, no secret)
_URL_TOKEN_RE = re.compile(re.escape(_URL_TOKEN).encode("ascii") + rb"(\d+)x")
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_AS_WINDOWS_1252 = {"latin-1", "iso8859-1", "ascii", "cp1252"}


def _skipped(element) -> bool:
    return xmltext.is_element(element) and element.tag in SKIPPED


def _is_block(node) -> bool:
    return xmltext.is_element(node) and (node.tag in BLOCKS or node.tag in SKIP_BLOCK)


def _is_line_break(node) -> bool:
    return xmltext.is_element(node) and node.tag == "br"


def _get(slot) -> str:
    node, where = slot
    return node.get(where[1:], "") if where.startswith("@") else xmltext.get(slot)


def _put(slot, value: str) -> None:
    node, where = slot
    if where.startswith("@"):
        node.set(where[1:], value)
    else:
        xmltext.put(slot, value)


def _attribute_entries(element) -> list[tuple[str, list]]:
    """The translatable attributes of one element, as ("attribute", [(element, "@name")])."""
    if not xmltext.is_element(element):
        return []
    names = [name for name in TEXT_ATTRIBUTES if element.get(name, "").strip()]
    if element.tag == "meta" and element.get("name", "").lower() == "description" \
            and element.get("content", "").strip():
        names.append("content")
    return [("attribute", [(element, "@" + name)]) for name in names]


def _attributes_within(element) -> list[tuple[str, list]]:
    """The translatable attributes of an element and its descendants (not inside skipped
    elements), in document order."""
    if not xmltext.is_element(element):
        return []
    out = _attribute_entries(element)
    if not _skipped(element):
        for child in element:
            out.extend(_attributes_within(child))
    return out


def _visit_block(element, out: list) -> None:
    """Append the entries (kind, slots) of a block-level element: its attributes, then its runs
    of text (split by its block-level children, which are visited in place)."""
    out.extend(_attribute_entries(element))
    kind = KINDS.get(element.tag, "paragraph")
    run = [(element, "text")]
    out.append((kind, run))
    for child in element:
        if _is_block(child):
            if _skipped(child):
                out.extend(_attribute_entries(child))
            else:
                _visit_block(child, out)
            run = [(child, "tail")]
            out.append((kind, run))
            continue
        for slot in xmltext.child_slots(child, _skipped, _is_line_break):
            if slot is xmltext.BREAK:
                run = []
                out.append((kind, run))
            else:
                run.append(slot)
        out.extend(_attributes_within(child))


def _marks(slots: list) -> list[str]:
    """Each slot's formatting: its inline elements up to the block (translator/formats/
    inline.py keeps words in spans of the formatting they were aligned to)."""
    return ["@" if where.startswith("@") else xmltext.mark((node, where), _is_block)
            for node, where in slots]


def entries(root) -> list[tuple[str, list]]:
    """Every block of a parsed page as (kind, slots), in document order, without the runs that
    hold only whitespace."""
    out: list[tuple[str, list]] = []
    _visit_block(root, out)
    return [(kind, slots) for kind, slots in out if any(_get(s).strip() for s in slots)]


def _declared_codec(data: bytes) -> str | None:
    """The Python codec of the charset the page declares in its first 4 KiB (a meta, or an
    XHTML page's XML declaration), if any."""
    match = _META_CHARSET.search(data[:4096]) or _XML_ENCODING.match(data)
    if not match:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None
    if name.startswith("utf"):
        return None  # a non-UTF-8 page that says UTF-8 (or UTF-16 in ASCII bytes): guess
    return "cp1252" if name in _AS_WINDOWS_1252 else name


def decode_page(data: bytes) -> tuple[str, str | None]:
    """The page's text and a note on its encoding (the module docstring's rule)."""
    if not data.startswith(_BOMS):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            codec = _declared_codec(data)
            if codec:
                try:
                    return data.decode(codec), (f"the file was not UTF-8: decoded as {codec} "
                                                f"(declared); the translation is written as "
                                                f"UTF-8")
                except UnicodeDecodeError:
                    pass
    decoded = decode_text(data, "HTML file")
    return decoded.text, decoded.note


def parse_page(text: str, fragment: bool):
    """The lxml root of a page (`<html>`; for a fragment, inside `<html><body>`)."""
    import lxml.html
    from lxml import etree

    source = text.lstrip("\ufeff")
    if fragment:
        source = f"<html><body>{source}</body></html>"
    parser = lxml.html.HTMLParser(encoding="utf-8", no_network=True)
    try:
        root = lxml.html.document_fromstring(source.encode("utf-8"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise FormatError(f"the HTML file cannot be parsed ({str(exc)[:120]})") from None
    if any("depth" in e.message.lower() for e in parser.error_log
           if e.level_name == "FATAL"):  # libxml2 stops at 256 levels and drops the rest
        raise FormatError("the HTML file nests elements more than 255 deep; it cannot be "
                          "read whole")
    return root


def serialize(root, fragment: bool, doctype: bool) -> bytes:
    """The page as UTF-8 (the module docstring's rule), URLs as they were."""
    from lxml import etree

    urls = _stand_in_for_urls(root)
    if fragment:
        body = root.find("body")
        inner = [html.escape(body.text or "", quote=False)]
        inner += [etree.tostring(child, method="html", encoding="unicode") for child in body]
        out = "".join(inner).encode("utf-8")
    elif doctype:
        out = etree.tostring(root.getroottree(), method="html", encoding="utf-8")
    else:
        nodes = [*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings()]
        out = b"".join(etree.tostring(node, method="html", encoding="utf-8") for node in nodes)
    if not urls:
        return out
    return _URL_TOKEN_RE.sub(lambda m: html.escape(urls[int(m.group(1))]).encode("utf-8"), out)


def _stand_in_for_urls(root) -> list[str]:
    """Replace the URL attributes libxml2 would rewrite (href, src, action and `<a name>` with
    whitespace or non-ASCII characters, which it percent-encodes or strips) by numbered ASCII
    tokens; returns the original values by number."""
    from lxml import etree

    urls: list[str] = []
    if _URL_TOKEN in etree.tostring(root, encoding="unicode"):
        return urls  # (a page quoting our token: written as libxml2 writes it)
    for element in root.iter():
        if not xmltext.is_element(element):
            continue
        for name in _URL_ATTRIBUTES + (("name",) if element.tag == "a" else ()):
            value = element.get(name)
            if value is not None and _REWRITTEN_URL.search(value):
                element.set(name, f"{_URL_TOKEN}{len(urls)}x")
                urls.append(value)
    return urls


def mark_language(root, lang: str) -> None:
    """`<html lang>` (and `xml:lang` if the page has it) set to `lang`."""
    root.set("lang", lang)
    if root.get("xml:lang") is not None:
        root.set("xml:lang", lang)


def mark_utf8(root) -> None:
    """Every charset declaration says UTF-8; a page with none gets `<meta charset="utf-8">`."""
    from lxml import etree

    declared = False
    for meta in root.iter("meta"):
        if meta.get("charset") is not None:
            meta.set("charset", "utf-8")
            declared = True
        if meta.get("http-equiv", "").lower() == "content-type":
            meta.set("content", "text/html; charset=utf-8")
            declared = True
    if declared:
        return
    head = root.find("head")
    if head is None:
        head = etree.Element("head")
        root.insert(0, head)
    meta = etree.Element("meta", charset="utf-8")
    meta.tail = head.text
    head.insert(0, meta)


class HtmlDocument(Parsed):
    """A page read into blocks; `write` re-parses the source, so it can be called repeatedly."""

    def __init__(self, text: str, notes: list[str]):
        self.text = text
        self.notes = notes
        self.fragment = not _FULL_PAGE.match(text)
        self.doctype = bool(_DOCTYPE.match(text))
        root = parse_page(text, self.fragment)
        self.blocks = [Block([_get(s) for s in slots], kind, _marks(slots))
                       for kind, slots in entries(root)]

    def write(self, spans: list[list[str]], target_lang: str) -> bytes:
        root = parse_page(self.text, self.fragment)
        found = entries(root)
        if len(spans) != len(found) or any(len(new) != len(slots)
                                           for new, (_, slots) in zip(spans, found)):
            raise ValueError("the spans do not match the document's blocks")
        for new, (_, slots) in zip(spans, found):
            for slot, value in zip(slots, new):
                _put(slot, value)
        if not self.fragment:
            mark_language(root, target_lang)
            mark_utf8(root)
        return serialize(root, self.fragment, self.doctype)


_NOT_XML = re.compile(  # characters XML cannot hold, raw or as character references
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]"
    "|&#(?:x0*(?:[0-8bcef]|1[0-9a-f]|fff[ef])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|6553[45]));",
    re.I)


def read(data: bytes, limits: Limits | None = None) -> HtmlDocument:
    """An HTML page or fragment (the module docstring's rules). Control characters, which
    neither HTML nor lxml's writer accept (as bytes or as `&#1;`), are removed with a note."""
    text, note = decode_page(data)
    cleaned, removed = _NOT_XML.subn("", text)
    if removed:
        text = cleaned
        note = "; ".join(filter(None, [note, f"{removed} control character(s) removed"]))
    head = text[:65536].lower()
    if "<!doctype" in head[:4096] and "<!entity" in head:
        raise FormatError("the HTML file declares XML entities, which are not accepted")
    return HtmlDocument(text, [note] if note else [])


def sniff(data: bytes) -> bool:
    """A full page: its first tag is a doctype, `<html>`, `<head>` or `<body>`."""
    return bool(_FULL_PAGE.match(data[:4096].decode("utf-8", "ignore")))


FORMAT = Format("html", (".html", ".htm"), "text/html; charset=utf-8", read, sniff, "HTML")
