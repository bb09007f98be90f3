"""The rendered documentation: what ``mkdocs build --strict`` lets through.

``mkdocs build --strict`` fails on broken links and anchors, not on pages that render wrong. This
module builds the site once (or reads one given as ``python tests/test_docs_render.py SITE_DIR``)
and parses every page's HTML for:

* tables whose body rows have another number of cells than the header row; and, in the Markdown
  sources, table rows with more unescaped ``|`` than their header (``E|G - g|`` in a cell):
  Python-Markdown silently drops the extra cells, so the HTML alone does not show it;
* table rows that stayed text: a paragraph line that starts and ends with ``|``, or ``|---``;
* commands rendered as paragraphs: a paragraph line that starts like a shell command
  (``rdo train``, ``python ...``, ``.venv/bin/...``) outside a code span or block;
* raw TeX outside the math containers: ``$...$``, ``\\(``, ``\\frac``, ``\\mathbb``... in text
  that is neither code nor inside arithmatex's ``<span class="arithmatex">``;
* raw TeX in the navigation or the table of contents (math in a heading);
* a MathJax script that is not served by the site itself (the docs must typeset offline).

Each finding names the page and the offending text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CODE = {"code", "pre", "script", "style", "kbd", "samp", "svg", "textarea"}
COMMAND = re.compile(r"^\s*(rdo (train|evaluate|solve|plot|demo)\b|python3? \S+\.py|python3? -m |\.venv/bin/|"
                     r"pip install |bash \.ci/|mkdocs (build|serve)|pytest )")
TEX = re.compile(r"\$[^$\s][^$]*\$|\\[()\[\]]|\\(frac|mathbb|mathcal|mathrm|operatorname|alpha|gamma|sum|min|max|"
                 r"left|right|le|ge|leq|geq|cdot|text|eta|infty)\b|[_^]\{")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list = field(default_factory=list)  # Node or str

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None):
        if tag is None or self.tag == tag:
            yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter(tag)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class TreeBuilder(HTMLParser):
    """A minimal DOM of well-formed HTML (mkdocs' output) with the standard library only."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    return builder.root


def prose(node: Node) -> str:
    """The text of ``node`` without code, scripts and typeset math (arithmatex spans)."""
    parts = []
    for c in node.children:
        if isinstance(c, str):
            parts.append(c)
        elif c.tag in CODE or "arithmatex" in c.classes():
            parts.append(" ")
        else:
            parts.append(prose(c))
    return "".join(parts)


def content(page: Node) -> Node | None:
    """The article of a mkdocs-material page (without navigation, header and footer)."""
    return next((n for n in page.iter("article")), None)


def row_cells(row: Node) -> int:
    return sum(1 for c in row.children if isinstance(c, Node) and c.tag in ("td", "th"))


def table_problems(article: Node) -> list[str]:
    problems = []
    for table in article.iter("table"):
        rows = list(table.iter("tr"))
        if not rows:
            continue
        width = row_cells(rows[0])
        for row in rows[1:]:
            if row_cells(row) != width:
                problems.append(f"table row with {row_cells(row)} cells under a header of {width}: "
                                f"{' '.join(row.text().split())[:100]!r}")
    for p in article.iter("p"):
        for line in prose(p).splitlines():
            s = line.strip()
            if (s.startswith("|") and s.endswith("|") and len(s) > 1) or "|---" in s or "| ---" in s:
                problems.append(f"a table row rendered as text: {s[:100]!r}")
    return problems


def command_problems(article: Node) -> list[str]:
    problems = []
    for p in article.iter("p"):
        for line in prose(p).splitlines():
            if COMMAND.match(line):
                problems.append(f"a command rendered as a paragraph (use a fenced code block): {line.strip()[:100]!r}")
    return problems


def tex_problems(article: Node) -> list[str]:
    problems = []
    for block in ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "dd", "dt"):
        for node in article.iter(block):
            own = "".join(c if isinstance(c, str) else (" " if c.tag in CODE or "arithmatex" in c.classes()
                                                        or c.tag in ("p", "li", "ul", "ol", "table") else prose(c))
                          for c in node.children)
            match = TEX.search(own)
            if match:
                problems.append(f"raw TeX outside math in <{block}>: {' '.join(own.split())[:100]!r}")
    return problems


def nav_problems(page: Node) -> list[str]:
    """Raw TeX in the navigation and the table of contents (a heading with math in it)."""
    return [f"raw TeX in a navigation or contents entry: {' '.join(a.text().split())[:100]!r}"
            for a in page.iter("a") if "md-nav__link" in a.classes() and TEX.search(a.text())]


def mathjax_problems(page: Node) -> list[str]:
    problems = []
    for script in page.iter("script"):
        src = script.attrs.get("src", "")
        if "mathjax" in src.lower() and re.match(r"^(https?:)?//", src):
            problems.append(f"MathJax loaded from the network ({src}): vendor it under docs/javascripts/")
    return problems


def markdown_table_problems(path: Path) -> list[str]:
    """Table rows with more cells than their header, counting unescaped ``|`` outside code spans."""
    problems = []
    lines = path.read_text(encoding="utf-8").splitlines()
    in_fence = False
    header_cells = None
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            header_cells = None
            continue
        if in_fence or not line.lstrip().startswith("|"):
            header_cells = None
            continue
        cells = count_cells(line)
        if header_cells is None:
            header_cells = cells
        elif cells != header_cells:
            problems.append(f"{path.name}:{i + 1}: {cells} cells under a header of {header_cells} "
                            f"(escape a literal | as \\|): {line.strip()[:100]!r}")
    return problems


def count_cells(line: str) -> int:
    s = re.sub(r"`[^`]*`", "x", line.strip())   # Python-Markdown keeps | inside code spans
    s = s.replace("\\|", "x")
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return s.count("|") + 1


def site_problems(site: Path) -> dict[str, list[str]]:
    found = {}
    for page in sorted(site.rglob("*.html")):
        rel = page.relative_to(site).as_posix()
        if rel.startswith(("assets/", "search/")) or rel == "404.html":
            continue
        tree = parse(page)
        article = content(tree)
        problems = mathjax_problems(tree) + sorted(set(nav_problems(tree)))
        if article is not None:
            problems += table_problems(article) + command_problems(article) + tex_problems(article)
        if problems:
            found[rel] = problems
    return found


def format_problems(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}: {p}" for page, problems in found.items() for p in problems)


# ------------------------------------------------------------------------------------------------
# tests


@pytest.fixture
def site(tmp_path) -> Path:
    given = os.environ.get("RDO_DOCS_SITE")
    if given:
        return Path(given)
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(out), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, f"mkdocs build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_markdown_tables_have_as_many_cells_as_their_header():
    problems = [p for md in sorted(DOCS.rglob("*.md")) for p in markdown_table_problems(md)]
    problems += markdown_table_problems(ROOT / "README.md")
    assert not problems, "\n".join(problems)


def test_rendered_site(site):
    """One test per built site (the build takes a while): the pages, then the vendored MathJax."""
    found = site_problems(site)
    assert not found, "rendered documentation problems:\n" + format_problems(found)
    assert (site / "javascripts" / "mathjax" / "tex-svg.js").is_file(), "MathJax is not vendored into the site"
    scripts = [s.attrs.get("src", "") for s in parse(site / "concepts" / "index.html").iter("script")]
    assert any(src.endswith("javascripts/mathjax/tex-svg.js") for src in scripts), scripts


def test_the_checks_catch_what_they_are_meant_to(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><script src="https://cdn.example/mathjax/tex-chtml.js"></script></head><body><article>'
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
        "<p>| a | b |\n|---|---|</p>"
        "<p>rdo train rdo/CVaRGrid-v0 -o cvar:0.1</p>"
        "<p>the mean $\\mathbb{E}[G]$ and \\(x\\)</p>"
        '<p>fine: <code>rdo train x</code>, <span class="arithmatex">\\(\\frac{1}{2}\\)</span>, E|G - 4|</p>'
        "</article></body></html>", encoding="utf-8")
    tree = parse(page)
    article = content(tree)
    assert len(table_problems(article)) == 3   # the short row, and both lines of the text table
    assert len(command_problems(article)) == 1
    assert len(tex_problems(article)) == 1
    assert len(mathjax_problems(tree)) == 1
    toc = tmp_path / "toc.html"
    toc.write_text('<nav><a class="md-nav__link" href="#x">Every objective is \\(\\mathbb{E}[f]\\)</a></nav>')
    assert len(nav_problems(parse(toc))) == 1
    md = tmp_path / "t.md"
    md.write_text("| a | b |\n|---|---|\n| E|G - g| | 2 |\n| `E|G|` | E\\|G\\| |\n", encoding="utf-8")
    assert len(markdown_table_problems(md)) == 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/test_docs_render.py SITE_DIR")
    found = site_problems(Path(sys.argv[1]))
    md = [p for path in sorted(DOCS.rglob("*.md")) for p in markdown_table_problems(path)]
    print(format_problems(found))
    print("\n".join(md))
    raise SystemExit(1 if found or md else 0)
