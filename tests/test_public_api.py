"""Every public name is documented: a docstring with a runnable Examples section (the
doctests run with the suite) and a place in the API reference pages of the docs."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "hstrat",
    "hstrat.metrics",
    "hstrat.strata",
    "hstrat.detect",
    "hstrat.datasets",
    "hstrat.plot",
    "hstrat.adapters",
    "hstrat.exceptions",
]


def public_objects():
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{name}.{attr}", obj


def documented_names():
    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize(
    ("name", "obj"), list(public_objects()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_public_callables_have_examples(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, (Exception, Warning)):
        return
    assert "Examples\n--------" in doc, f"{name} has no Examples section"
    assert ">>>" in doc, f"{name}'s Examples do not run anything"


def test_every_public_name_is_in_the_api_reference():
    documented = documented_names()
    missing = []
    for name, _ in public_objects():
        short = name.rsplit(".", 1)[-1]
        aliases = {name, f"hstrat.{short}"}
        if not aliases & documented:
            missing.append(name)
    assert missing == [], f"not in docs/api/*.md: {missing}"
