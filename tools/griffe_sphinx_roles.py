"""Griffe extension: rewrite reST/Sphinx markup in docstrings into Markdown for mkdocstrings.

The project's docstrings are written for Sphinx (``:class:`DEtaN```, ``:func:`~rdo_envs.reference```,
double-backtick literals) but the site renders them as Google-style Markdown. This extension
rewrites every docstring of the configured packages once they are loaded, before mkdocstrings
parses it:

- Python-domain roles (``:class:``, ``:func:``, ``:meth:``, ``:mod:``, ``:data:``, ``:attr:``,
  ``:obj:``, ``:exc:``, ``:const:``, ``:type:``, ``:any:``, optionally ``:py:``-prefixed) become a
  mkdocs-autorefs cross-reference ``[`name`][full.path]`` when the target resolves (Sphinx-like
  lookup: the current class or module and its parents, then absolute paths, then a unique
  suffix match) to an object that the API pages actually render; otherwise a code span
  `` `name` ``. ``~a.b.c`` shows ``c``; ``title <target>`` shows ``title``; ``!target`` never links.
- Any other role (``:ref:``, ``:envvar:``, ...) becomes a code span of its text.
- Double-backtick literals become single-backtick code spans.
- Attributes without a docstring but with a Sphinx doc-comment (``#: text`` on the lines just
  above the assignment, or after it on the same line) get that comment as docstring, as
  ``sphinx.ext.autodoc`` does; their value is then hidden when longer than ``max_value_length``
  characters (default 120; a generated table is not a useful signature).
- A reST literal-block marker ``Paragraph::`` becomes ``Paragraph:`` (a lone ``::`` is dropped);
  the indented block after it, fenced code blocks and doctest lines are left untouched.

"Rendered" mirrors the handler options of this project's ``mkdocs.yml`` (``filters: public``,
``show_if_no_docstring: false``, ``inherited_members: false``): the target lies under a
``::: identifier`` of one of the ``api_pages`` (a module with ``members: false`` renders only
itself), and every object on the way down is public, not inherited and has docstrings. Links are
only emitted for such targets, so ``mkdocs build --strict`` never sees an unresolvable reference.

Load it from ``mkdocs.yml`` (paths are relative to the config file)::

    plugins:
      - mkdocstrings:
          handlers:
            python:
              options:
                extensions:
                  - tools/griffe_sphinx_roles.py:SphinxRoles:
                      packages: [rdo_gym, rdo_envs, rdo_sb3, rdo_cli]
                      api_pages: docs/api

``packages``: the packages whose docstrings are rewritten; when one of them is loaded, the others
are loaded too, so that cross-package references resolve whatever the page order. ``api_pages``:
a directory (or a single file) of Markdown pages scanned for ``:::`` directives, relative to the
current directory unless absolute (``mkdocs`` runs from the project root); when it is missing,
every object of ``packages`` passing the filters above counts as rendered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from griffe import Docstring, Extension, get_logger

try:  # griffe >= 1
    from griffe import AliasResolutionError, CyclicAliasError
except ImportError:  # pragma: no cover
    AliasResolutionError = CyclicAliasError = Exception  # type: ignore[misc,assignment]

_logger = get_logger("griffe_sphinx_roles")

PY_ROLES = {"class", "func", "meth", "mod", "data", "attr", "obj", "exc", "const", "type", "any",
            "function", "method", "module", "attribute", "exception"}

# A role ``:role:`content``` (optionally ``:domain:role:``), or a double-backtick literal.
_INLINE = re.compile(
    r"(?<![\w`:])"
    r"(?::(?:(?P<domain>[a-z]+):)?(?P<role>[a-z][a-z0-9-]*):`(?P<content>[^`]+)`(?!`))"
    r"|(?<!`)``(?P<literal>[^`\n]|[^`].*?[^`])``(?!`)",
    re.DOTALL,
)
_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*$")
_DIRECTIVE = re.compile(r"^:::\s+(?P<ident>\S+)\s*$")
_INLINE_DOC_COMMENT = re.compile(r"\s#:\s+(?P<doc>\S.*?)\s*$")
_MEMBERS_OPTION = re.compile(r"^\s+members:\s*(?P<value>.*?)\s*$")


def _code(text: str) -> str:
    """Markdown code span for ``text`` (which may itself contain backticks)."""
    text = " ".join(text.split())
    if "`" not in text:
        return f"`{text}`"
    fence = "``" if "``" not in text else "```"
    return f"{fence} {text} {fence}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class SphinxRoles(Extension):
    """Rewrite Sphinx roles and reST literals in docstrings into Markdown (see module docstring)."""

    def __init__(self, packages: list[str] | None = None, api_pages: str | None = None,
                 max_value_length: int = 120) -> None:
        super().__init__()
        self.max_value_length = int(max_value_length)
        self.packages = list(packages) if packages else None
        self.api_pages = str(api_pages) if api_pages else None
        self._busy = False
        self._done: set[int] = set()
        self._roots: dict[str, bool | list[str]] | None = None
        self._suffix_index: dict[str, list[Any]] | None = None
        self._collection: Any = None

    # -- griffe hooks -------------------------------------------------------------------------

    def on_package(self, *, pkg: Any, loader: Any, **kwargs: Any) -> None:
        """Once a configured package is loaded, load the others and rewrite all their docstrings."""
        if self._busy or (self.packages is not None and pkg.name not in self.packages):
            return
        self._busy = True
        try:
            collection = loader.modules_collection
            names = self.packages if self.packages is not None else [pkg.name]
            for name in names:
                if name not in collection:
                    try:
                        loader.load(name)
                    except Exception as error:  # noqa: BLE001 - a missing package only loses links
                        _logger.debug("sphinx roles: could not load %s: %s", name, error)
            self._collection = collection
            self._suffix_index = None
            for name in names:
                if name in collection:
                    self._add_doc_comments(collection[name], loader)
            for name in names:
                if name in collection:
                    self._rewrite_tree(collection[name])
        finally:
            self._busy = False

    # -- traversal ----------------------------------------------------------------------------

    def _add_doc_comments(self, obj: Any, loader: Any) -> None:
        """Give undocumented attributes their Sphinx ``#:`` doc-comment as docstring."""
        for member in list(obj.members.values()):
            if member.is_alias:
                continue
            if member.is_attribute and member.docstring is None and member.lineno:
                try:
                    source = member.lines_collection[member.filepath]
                except (KeyError, TypeError, AttributeError):
                    source = []
                comment: list[str] = []
                row = member.lineno - 2  # the line above the assignment (lineno is 1-based)
                while 0 <= row < len(source) and source[row].strip().startswith("#:"):
                    comment.insert(0, source[row].strip()[2:].strip())
                    row -= 1
                if not comment and 0 < member.lineno <= len(source):  # `x = 1  #: doc`
                    inline = _INLINE_DOC_COMMENT.search(source[member.lineno - 1])
                    comment = [inline["doc"]] if inline else []
                if comment:
                    member.docstring = Docstring(
                        "\n".join(comment), lineno=row + 2, endlineno=member.lineno - 1,
                        parent=member, parser=loader.docstring_parser,
                        parser_options=loader.docstring_options,
                    )
                    if member.value is not None and len(str(member.value)) > self.max_value_length:
                        member.value = None  # a generated table is not a signature: show the type only
            if member.is_module or member.is_class:
                self._add_doc_comments(member, loader)

    def _rewrite_tree(self, obj: Any) -> None:
        if obj.is_alias or id(obj) in self._done:
            return
        self._done.add(id(obj))
        if obj.docstring is not None and obj.docstring.value:
            new = self.rewrite(obj.docstring.value, obj)
            if new != obj.docstring.value:
                obj.docstring.value = new
                obj.docstring.__dict__.pop("parsed", None)  # drop a cached parse, if any
        for member in list(obj.members.values()):
            self._rewrite_tree(member)

    # -- text rewriting -----------------------------------------------------------------------

    def rewrite(self, text: str, obj: Any) -> str:
        """Rewrite one docstring of ``obj``, leaving code blocks alone."""
        lines = text.split("\n")
        protected = [False] * len(lines)
        fence: str | None = None
        index = 0
        while index < len(lines):
            line = lines[index]
            stripped = line.strip()
            if fence is not None:
                protected[index] = True
                if stripped.startswith(fence):
                    fence = None
            elif stripped.startswith(("```", "~~~")):
                fence = stripped[:3]
                protected[index] = True
            elif stripped.startswith((">>>", "... ")) or stripped == "...":
                protected[index] = True
            elif stripped.endswith("::") and not stripped.startswith(":::"):
                end = self._literal_block_end(lines, index)
                if end is not None:
                    if stripped == "::":
                        lines[index] = ""
                    elif line.rstrip().endswith(" ::"):
                        lines[index] = line.rstrip()[:-3]
                    else:
                        lines[index] = line.rstrip()[:-1]
                    for block in range(index + 1, end):
                        protected[block] = True
                    index = end
                    continue
            index += 1

        out: list[str] = []
        chunk: list[str] = []
        for line, keep in zip(lines, protected, strict=True):
            if keep:
                if chunk:
                    out.append(self._rewrite_inline("\n".join(chunk), obj))
                    chunk = []
                out.append(line)
            else:
                chunk.append(line)
        if chunk:
            out.append(self._rewrite_inline("\n".join(chunk), obj))
        return "\n".join(out)

    @staticmethod
    def _literal_block_end(lines: list[str], index: int) -> int | None:
        """End (exclusive) of the indented literal block after ``lines[index]``, or None."""
        base = _indent(lines[index])
        nxt = index + 1
        while nxt < len(lines) and not lines[nxt].strip():
            nxt += 1
        if nxt == index + 1 or nxt >= len(lines) or _indent(lines[nxt]) <= base:
            return None  # reST needs a blank line, then an indented block
        end = nxt
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
            end += 1
        while end > nxt and not lines[end - 1].strip():
            end -= 1  # trailing blank lines belong to the text again
        return end

    def _rewrite_inline(self, text: str, obj: Any) -> str:
        if "`" not in text:
            return text
        return _INLINE.sub(lambda match: self._replace(match, obj), text)

    def _replace(self, match: re.Match, obj: Any) -> str:
        if match["literal"] is not None:
            return _code(match["literal"])
        role, domain, content = match["role"], match["domain"], " ".join(match["content"].split())
        if domain not in (None, "py") or role not in PY_ROLES:
            explicit = _EXPLICIT_TITLE.match(content)
            return _code(explicit["title"] if explicit else content)
        return self._xref(content, obj)

    def _xref(self, content: str, obj: Any) -> str:
        explicit = _EXPLICIT_TITLE.match(content)
        title, target = (explicit["title"], explicit["target"].strip()) if explicit else (None, content)
        no_link = target.startswith("!")
        target = target.lstrip("!")
        short = target.startswith("~")
        target = target.lstrip("~").lstrip(".")
        if target.endswith("()"):
            target = target[:-2]
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target
        if no_link or not _IDENTIFIER.match(target):
            return _code(title)
        found = self._resolve(target, obj)
        if found is None:
            return _code(title)
        return f"[{_code(title)}][{found.path}]"

    # -- resolution ---------------------------------------------------------------------------

    @staticmethod
    def _final(obj: Any) -> Any:
        if obj is None or not obj.is_alias:
            return obj
        try:
            return obj.final_target
        except (AliasResolutionError, CyclicAliasError, KeyError, AttributeError):
            return None

    def _descend(self, scope: Any, parts: list[str]) -> Any:
        current = scope
        for part in parts:
            current = self._final(current)
            if current is None:
                return None
            try:
                members = current.all_members if current.is_class else current.members
            except (AliasResolutionError, CyclicAliasError):
                members = current.members
            current = members.get(part)
            if current is None:
                return None
        return self._final(current)

    def _candidates(self, target: str, obj: Any):
        """Possible targets, in Sphinx's order: enclosing scopes, absolute path, unique suffix."""
        parts = target.split(".")
        scope = obj if (obj.is_class or obj.is_module) else obj.parent
        while scope is not None:
            yield self._descend(scope, parts)
            if scope.is_class:  # a name overridden without docs: also try the base classes
                try:
                    bases = scope.mro()
                except Exception:  # noqa: BLE001 - unresolvable bases only lose links
                    bases = []
                for base in bases:
                    yield self._descend(base, parts)
            scope = scope.parent
        if parts[0] in self._collection:
            head = self._collection[parts[0]]
            yield self._descend(head, parts[1:]) if parts[1:] else self._final(head)
        candidates = [c for c in self._index().get(parts[-1], [])
                      if c.path == target or c.path.endswith("." + target)]
        if len(candidates) == 1:
            yield candidates[0]

    def _resolve(self, target: str, obj: Any) -> Any:
        """The first candidate target that the API pages render, or None."""
        for found in self._candidates(target, obj):
            if found is not None and self._is_rendered(found):
                return found
        return None

    def _index(self) -> dict[str, list[Any]]:
        if self._suffix_index is None:
            index: dict[str, list[Any]] = {}

            def walk(node: Any) -> None:
                for member in node.members.values():
                    if member.is_alias:
                        continue
                    index.setdefault(member.name, []).append(member)
                    walk(member)

            for name in self.packages or []:
                if name in self._collection:
                    walk(self._collection[name])
            self._suffix_index = index
        return self._suffix_index

    # -- what the API pages render ------------------------------------------------------------

    def _documented_roots(self) -> dict[str, bool | list[str]]:
        """``::: identifier`` of the API pages -> True, False (``members: false``) or a list."""
        if self._roots is None:
            roots: dict[str, bool | list[str]] = {}
            if self.api_pages:
                base = Path(self.api_pages)
                pages = sorted(base.rglob("*.md")) if base.is_dir() else [base] if base.is_file() else []
                if not pages:
                    _logger.warning("sphinx roles: no Markdown page at %s; every public object counts "
                                    "as rendered", self.api_pages)
                for page in pages:
                    current = None
                    for line in page.read_text(encoding="utf-8").splitlines():
                        directive = _DIRECTIVE.match(line)
                        if directive:
                            current = directive["ident"]
                            roots.setdefault(current, True)
                            continue
                        if current is None:
                            continue
                        if line.strip() and not line.startswith(" "):
                            current = None
                            continue
                        option = _MEMBERS_OPTION.match(line)
                        if option:
                            value = option["value"].strip().lower()
                            if value in ("false", "no", "off", "[]"):
                                roots[current] = False
                            elif value.startswith("["):
                                roots[current] = [v.strip(" '\"") for v in value.strip("[]").split(",")]
            self._roots = roots
        return self._roots

    def _is_rendered(self, found: Any) -> bool:
        roots = self._documented_roots()
        if not roots:  # no page list: anything public, documented, under a configured package
            head = found.path.split(".", 1)[0]
            if self.packages is not None and head not in self.packages:
                return False
            roots = {head: True}
        for root, members in roots.items():
            if found.path == root:
                return True
            if members is False or not found.path.startswith(root + "."):
                continue
            try:
                current = self._collection[root]
            except (KeyError, AliasResolutionError, CyclicAliasError):
                continue
            ok = True
            for depth, part in enumerate(found.path[len(root) + 1:].split(".")):
                member = current.members.get(part)
                if member is None or member.is_alias or member.inherited:
                    ok = False
                    break
                if depth == 0 and isinstance(members, list):
                    if part not in members:
                        ok = False
                        break
                elif not member.is_public or not member.has_docstrings:
                    ok = False
                    break
                current = member
            if ok and current is found:
                return True
        return False
