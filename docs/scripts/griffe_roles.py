"""Griffe extension for the docs: numpydoc cross-reference roles become links.

hstrat's docstrings are numpydoc, read by ``help()`` and IDEs as well as by the docs, so
they cross-reference with Sphinx roles: ``:func:`hstrat.collect```, ``:class:`~hstrat.Stratum```.
mkdocstrings does not read those roles; without this extension the API pages would show
them raw. Each role becomes a mkdocs-autorefs reference: a link where the target is
documented on the site, plain code where it is not (a torch class, a private module).
Names are resolved in the scope of the docstring's object, as Sphinx does
(``:meth:`validate``` inside ``Schema`` is ``Schema.validate``); ``~`` shows the last
component only. Loaded by ``mkdocs.yml`` (``extensions:`` of the python handler).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const|term):`(?P<text>[^`]+)`"
)


def _identifier(target: str, scope: griffe.Object) -> str:
    head, _, rest = target.partition(".")
    try:
        resolved = scope.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        return target
    return f"{resolved}.{rest}" if rest else resolved


def link(match: re.Match[str], scope: griffe.Object) -> str:
    """Return the autorefs element for one role."""
    text = match["text"].strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", text)
    if explicit:
        title, target = explicit["title"], explicit["target"].lstrip("~.")
    else:
        target = text.lstrip("~.")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    identifier = html.escape(_identifier(target, scope), quote=True)
    code = f"<code>{html.escape(title)}</code>"
    return f'<autoref identifier="{identifier}" optional>{code}</autoref>'


def convert(obj: griffe.Object | griffe.Alias) -> None:
    """Rewrite the roles in ``obj``'s docstring and its members', recursively."""
    if obj.is_alias:
        return
    if obj.docstring is not None:
        obj.docstring.value = ROLE.sub(lambda m: link(m, obj), obj.docstring.value)
    for member in obj.members.values():
        convert(member)


class NumpydocRoles(griffe.Extension):  # type: ignore[misc]
    """Turn numpydoc roles into mkdocs-autorefs references once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Convert every docstring of the package."""
        convert(pkg)
