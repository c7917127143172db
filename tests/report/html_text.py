"""Reads an HTML report back as text, for the HTML report tests (a page written by kmsguard, or the
DOM a browser dumped after running the page's script)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = {"br", "meta", "input", "img", "hr", "link"}
_CELLS = {"td", "th"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    section: str  # the id of the enclosing <section>, or ""
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's text, cells separated by " | ", whitespace collapsed."""
        return " ".join("".join(self.parts).split()).strip(" |")

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self._sections: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag == "section":
            self._sections.append(values.get("id", ""))
        if tag in _VOID:
            self.elements.append(Element(tag, values, self._section()))
            if tag == "br":  # a line break separates words as a space would
                for element in self._open:
                    element.parts.append(" ")
            return
        element = Element(tag, values, self._section())
        self.elements.append(element)
        self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if tag == "section" and self._sections:
            self._sections.pop()
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                break
        if tag in _CELLS:
            for element in self._open:
                element.parts.append(" | ")

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
            return
        for element in self._open:
            element.parts.append(data)

    def _section(self) -> str:
        return self._sections[-1] if self._sections else ""


def read_page(page: str) -> _Reader:
    reader = _Reader()
    reader.feed(page)
    reader.close()
    return reader


def with_class(page: str, name: str) -> list[Element]:
    return [e for e in read_page(page).elements if name in e.classes]


def by_id(page: str, ident: str) -> Element:
    found = [e for e in read_page(page).elements if e.attrs.get("id") == ident]
    assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
    return found[0]


def section_of(page: str, name: str) -> str:
    """The id of the section whose heading names ``name``."""
    for element in read_page(page).elements:
        if element.tag == "h2" and element.section and f" {name} " in f" {element.text} ":
            return element.section
    raise AssertionError(f"no section for {name}")
