"""Text slots of lxml mixed content, shared by the HTML and XLIFF formats.

In lxml the text of `<p>Hello <b>big</b> world</p>` lives in three places: `p.text` ("Hello "),
`b.text` ("big") and `b.tail` (" world"). A *slot* names one such place as `(node, "text")` or
`(node, "tail")`. `text_slots(element, skip)` lists the slots inside an element in document
order, empty ones too (the place before a bold word, after a link: where a translation may
need to put words that its own word order moves out of the markup), going through its inline
children; an element for which `skip(element)` is true
(HTML `<code>`, an XLIFF `<ph>`) keeps its own content untouched and out of the list, but its
tail, which is text of the enclosing element, is a slot. Comments, processing instructions and
entity references are always skipped the same way. Slots are read and written with `get` and
`put`; writing never moves, adds or removes a node, so every inline element stays where it was.
A caller that splits text at some elements (HTML at `<br>`) passes `breaks`: each such element
is then a `BREAK` marker in the list, before its tail.
"""

from __future__ import annotations

from collections.abc import Callable

Slot = tuple[object, str]  # (an lxml node, "text" | "tail")
Skip = Callable[[object], bool]
BREAK = None  # in a slot list: a `breaks` element stood here


def is_element(node) -> bool:
    """True for an element, false for a comment, processing instruction or entity reference
    (lxml gives those a callable `tag`)."""
    return isinstance(node.tag, str)


def text_slots(element, skip: Skip, breaks: Skip | None = None) -> list[Slot]:
    """The non-empty text slots inside `element` (its text, and its descendants' texts and
    tails, not its own tail), in document order, not entering skipped elements."""
    slots: list[Slot] = [(element, "text")]
    for child in element:
        slots.extend(child_slots(child, skip, breaks))
    return slots


def child_slots(child, skip: Skip, breaks: Skip | None = None) -> list[Slot]:
    """The slots a child contributes to its parent's text: its inner slots (unless it is skipped
    or not an element; `BREAK` if it is a `breaks` element), then its tail."""
    if breaks is not None and is_element(child) and breaks(child):
        slots: list = [BREAK]
    elif is_element(child) and not skip(child):
        slots = text_slots(child, skip, breaks)
    else:
        slots = []
    slots.append((child, "tail"))
    return slots


def get(slot: Slot) -> str:
    node, where = slot
    return (node.text if where == "text" else node.tail) or ""


def put(slot: Slot, value: str) -> None:
    """Set a slot's string. An emptied slot becomes None (an element does not gain an explicit
    empty text that would change `<x/>` into `<x></x>`)."""
    node, where = slot
    setattr(node, where, value or None)


def mark(slot: Slot, stop: Callable[[object], bool]) -> str:
    """A slot's formatting: the elements (tag and attributes) around its text, up to the first
    ancestor for which `stop` is true (the block). Two slots with the same mark look alike."""
    node, where = slot
    element = node if where == "text" else node.getparent()
    parts = []
    while element is not None and not stop(element):
        attributes = "".join(f"[{k}={v}]" for k, v in sorted(element.attrib.items()))
        parts.append(f"{element.tag}{attributes}")
        element = element.getparent()
    return "/".join(reversed(parts))
