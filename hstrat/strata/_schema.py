"""Subclass schemas: what experts label, with which values, on which cases.

The paper's first method, *schema completion*, has experts write down the subclasses
that matter before anyone looks at the model's errors; a :class:`Schema` is that
document made checkable, and labels are checked against it before they become strata.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases, type_hint
from .._io import atomic_write_text
from .._predictions import Predictions
from .._stratum import Stratum
from .._validation import _preview, check_labels, check_option, describe, did_you_mean
from ..exceptions import SchemaError
from ._rules import Rule, is_missing, rule_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: tomli, a dependency there
    import tomli as tomllib

__all__ = [
    "APPLIES_TO",
    "RESERVED_COLUMNS",
    "Schema",
    "Variable",
    "read_labels",
]

APPLIES_TO: tuple[str, ...] = ("all", "positives", "negatives")
OUTSIDE: tuple[str, ...] = ("error", "ignore")
Value = str | bool
SCHEMA_KEYS: tuple[str, ...] = ("name", "target", "description", "variables")
VARIABLE_KEYS: tuple[str, ...] = ("values", "description", "applies_to", "rule")
#: Columns of a labels file that are not variables (written by the labelling tool).
RESERVED_COLUMNS: tuple[str, ...] = ("id", "annotator", "labelled_at", "skipped")
_SHOWN = 3  # ids quoted per problem
_MAX_YAML_NODES = 100_000  # values a YAML schema may expand to (schemas have hundreds)


def _hint(value: Any, allowed: Iterable[Any]) -> str:
    return did_you_mean(str(value), map(str, allowed), cutoff=0.5)


def _ids_text(ids: Sequence[Any]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOWN])
    more = len(ids) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Variable:
    """One labelled variable of a :class:`Schema`.

    Attributes
    ----------
    name : str
        Column name in the labels (``"chest_drain"``).
    values : tuple of str
        Allowed values, in the order reports and the labelling tool show them: strings,
        or the two booleans ``False`` and ``True`` (as in :mod:`hstrat.datasets`).
    description : str
        What the annotator is asked.
    applies_to : {"all", "positives", "negatives"}
        Which cases the variable is labelled on; also the population of its strata.
    rule : Rule or None
        How to derive the variable from metadata, if it can be.
    value_descriptions : mapping of str to str
        Optional help text per value.

    Examples
    --------
    >>> import hstrat
    >>> schema = hstrat.Schema.from_dict({"target": "Pneumothorax", "variables": {
    ...     "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"}}})
    >>> drain = schema.variables["chest_drain"]
    >>> drain.values, drain.applies_to
    (('yes', 'no'), 'positives')
    """

    name: str
    values: tuple[Value, ...]
    description: str = ""
    applies_to: str = "all"
    rule: Rule | None = None
    value_descriptions: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_boolean(self) -> bool:
        """Whether the values are the booleans ``False`` and ``True``."""
        return all(isinstance(v, bool) for v in self.values)

    def normalise(self, value: Any) -> Value | None:
        """Return the allowed value ``value`` stands for, or None if it is not allowed.

        Strings must match exactly; a boolean variable also takes numpy bools and the
        text ``"True"``/``"False"`` in any case (as a CSV holds them).

        Examples
        --------
        >>> from hstrat import Schema
        >>> schema = Schema.from_dict({"variables": {"drain": {"values": [False, True]},
        ...                                          "view": {"values": ["PA", "AP"]}}})
        >>> schema.variables["drain"].normalise("True"), schema.variables["view"].normalise("pa")
        (True, None)
        """
        if not self.is_boolean:
            return value if isinstance(value, str) and value in self.values else None
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the variable's dict form (as in a schema file)."""
        values: list[Value] | dict[str, str] = list(self.values)
        if any(self.value_descriptions.get(str(v)) for v in self.values):
            values = {str(v): self.value_descriptions.get(str(v), "") for v in self.values}
        out: dict[str, Any] = {
            "values": values,
            "description": self.description,
            "applies_to": self.applies_to,
        }
        if self.rule is not None:
            out["rule"] = self.rule.to_dict()
        return out


def _parse_variable(name: Any, spec: Any, problems: list[str]) -> Variable | None:
    """Check one variable's dict form: its problems go to ``problems``, else it is returned."""
    where = f"variables.{name}"
    start = len(problems)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"variable names must be non-empty strings; got {describe(name)}.")
        return None
    if name != name.strip():
        problems.append(f"variable name {describe(name)} has leading or trailing spaces.")
    if name in RESERVED_COLUMNS:
        problems.append(
            f"variable name {name!r} is reserved for a labels-file column "
            f"({', '.join(RESERVED_COLUMNS)}); rename the variable."
        )
    if not isinstance(spec, Mapping):
        problems.append(f"{where} must be a table/dict with 'values'; got {describe(spec)}.")
        return None
    problems += [
        f"{where} has an unknown key {describe(key)}.{_hint(key, VARIABLE_KEYS)}"
        for key in spec
        if key not in VARIABLE_KEYS
    ]
    raw = spec.get("values")
    values: list[Any] = []
    descriptions: dict[str, str] = {}
    if isinstance(raw, Mapping):
        values = list(raw)
        descriptions = {v: text for v, text in raw.items() if isinstance(text, str)}
        problems += [
            f"{where}.values[{describe(v)}] must be a description string; got {describe(text)}."
            for v, text in raw.items()
            if not isinstance(text, str)
        ]
    elif isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)):
        values = list(raw)
    else:
        problems.append(
            f'{where}.values must be a list of allowed values (e.g. ["yes", "no"]); '
            f"got {describe(raw)}."
        )
    n_bool = sum(isinstance(v, bool) for v in values)
    if 0 < n_bool < len(values):
        problems.append(
            f"{where}.values mixes booleans and other values: {_preview(values)}; use "
            '[false, true] or strings such as ["yes", "no"].'
        )
    bad = (
        [] if n_bool else [v for v in values if not isinstance(v, str) or v != v.strip() or not v]
    )
    if bad:
        problems.append(
            f"{where}.values must be non-empty strings without surrounding spaces; got "
            f'{_preview(bad)} (write numbers and booleans as strings, e.g. "1", "yes").'
        )
    if raw is not None and not values:
        problems.append(f"{where}.values is empty; a variable needs at least one value.")
    counts = Counter(v for v in values if isinstance(v, (str, bool)))
    duplicated = sorted(describe(v) for v, n in counts.items() if n > 1)
    if duplicated:
        problems.append(f"{where}.values lists {', '.join(duplicated)} more than once.")
    description = "" if spec.get("description") is None else spec["description"]
    if not isinstance(description, str):
        problems.append(f"{where}.description must be a string; got {describe(description)}.")
    applies_to = spec.get("applies_to", "all")
    if applies_to not in APPLIES_TO:
        hint = _hint(applies_to, APPLIES_TO) if isinstance(applies_to, str) else ""
        problems.append(
            f"{where}.applies_to must be one of {', '.join(map(repr, APPLIES_TO))}; got "
            f"{describe(applies_to)}.{hint}"
        )
    rule = None
    if spec.get("rule") is not None:
        rule_errors = rule_problems(spec["rule"], f"{where}.rule")
        problems += rule_errors
        if not rule_errors:
            rule = Rule.from_dict(spec["rule"])
            boolean = 0 < n_bool == len(values)
            if boolean and rule.is_boolean and {"true_value", "false_value"} & set(spec["rule"]):
                problems.append(
                    f"{where}.rule sets true_value/false_value, but the variable's values are "
                    "booleans: a yes/no rule gives True/False itself."
                )
            outputs = [] if bad else rule.outputs(boolean=boolean) or []
            problems += [
                f"{where}.rule can produce {out!r}, which is not one of the values "
                f"{_preview(values)}.{_hint(out, values)}"
                for out in outputs
                if out not in values
            ]
    if len(problems) > start:
        return None
    return Variable(
        name, tuple(values), description, applies_to, rule, MappingProxyType(descriptions)
    )


def _load_yaml(text: str) -> Any:
    """Parse YAML safely, refusing aliases that expand past ``_MAX_YAML_NODES`` (counted)."""
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:  # pragma: no cover - PyYAML is a dependency of the docs tooling
        raise ImportError(
            "Reading a YAML schema needs PyYAML: pip install pyyaml (or write the schema "
            "as JSON or TOML)."
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > _MAX_YAML_NODES:
            raise ValueError(
                f"its anchors and aliases (&name, *name) expand to more than "
                f"{_MAX_YAML_NODES:,} values; write the values out instead"
            )
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """Count the values under a YAML ``node`` as if every alias were copied out."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a node that contains itself counts once
        value = node.value
        if isinstance(value, list):  # a sequence of nodes, or a mapping's (key, value) pairs
            children = [c for v in value for c in (v if isinstance(v, tuple) else (v,))]
            sizes[id(node)] = 1 + sum(_expanded_size(c, sizes) for c in children)
    return sizes[id(node)]


_PARSERS: dict[str, Callable[[str], Any]] = {
    "json": json.loads,
    "toml": tomllib.loads,
    "yaml": _load_yaml,
}


def _header_problems(name: Any, target: Any, description: Any) -> list[str]:
    """Problems with a schema's name, target and description."""
    problems = []
    if not isinstance(name, str) or not name:
        problems.append(f"name must be a non-empty string; got {describe(name)}.")
    if target is not None and (not isinstance(target, str) or not target):
        problems.append(f"target must be a non-empty string or absent; got {describe(target)}.")
    if not isinstance(description, str):
        problems.append(f"description must be a string; got {describe(description)}.")
    return problems


class Schema:
    """The subclasses experts label, checked once and then used everywhere.

    Build one with :meth:`from_dict` or :meth:`from_file`; it cannot be changed afterwards,
    and its :attr:`digest` identifies the exact schema labels and reports were made with.

    Parameters
    ----------
    variables : sequence of Variable
        The labelled variables, in display order.
    name : str, default "schema"
        A short title.
    target : str, optional
        The label the subclasses divide (``"Pneumothorax"``).
    description : str, default ""
        Free text for annotators and reports.

    Examples
    --------
    >>> import hstrat
    >>> schema = hstrat.Schema.from_dict({
    ...     "name": "pneumothorax",
    ...     "target": "Pneumothorax",
    ...     "variables": {
    ...         "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"},
    ...         "view": {"values": ["PA", "AP"],
    ...                  "rule": {"column": "View Position", "map": {"PA": "PA", "AP": "AP"}}},
    ...     },
    ... })
    >>> schema
    Schema(name='pneumothorax', target='Pneumothorax', variables=['chest_drain', 'view'])
    >>> schema.variables["chest_drain"].applies_to
    'positives'
    >>> len(schema.digest)
    64
    """

    __slots__ = ("_description", "_digest", "_name", "_target", "_variables")

    def __init__(
        self,
        variables: Sequence[Variable],
        *,
        name: str = "schema",
        target: str | None = None,
        description: str = "",
    ) -> None:
        items = list(variables)
        if not all(isinstance(v, Variable) for v in items):
            raise TypeError(
                "variables must be Variable objects; build schemas with Schema.from_dict."
            )
        problems = _header_problems(name, target, description)
        if not items:
            problems.append("variables is empty; a schema needs at least one variable.")
        counts = Counter(v.name for v in items)
        dup = sorted(n for n, k in counts.items() if k > 1)
        if dup:
            problems.append(f"variables {dup!r} are defined more than once.")
        if problems:
            raise SchemaError(problems)
        self._name = name
        self._target = target
        self._description = description
        self._variables: Mapping[str, Variable] = MappingProxyType({v.name: v for v in items})
        canonical = json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        self._digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def select(self, variables: Sequence[str]) -> Schema:
        """Return the schema restricted to ``variables`` (a schema with its own digest).

        Examples
        --------
        >>> import hstrat
        >>> schema = hstrat.Schema.from_dict({"variables": {
        ...     "drain": {"values": ["yes", "no"]}, "site": {"values": ["a", "b"]}}})
        >>> list(schema.select(["drain"]).variables)
        ['drain']
        """
        return Schema(
            self._selected(variables),
            name=self._name,
            target=self._target,
            description=self._description,
        )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Schema:
        """Build a schema from its dict form, reporting every problem in one ``SchemaError``.

        Parameters
        ----------
        spec : mapping
            ``{"name", "target", "description", "variables"}``; only ``variables`` is
            required: a table of variable name to ``{"values", "description",
            "applies_to", "rule"}`` (or a list of such tables, each with a ``name``).
            ``values`` is a list, or a table of value to description; ``applies_to`` is
            ``"positives"``, ``"negatives"`` or ``"all"`` (the default); ``rule`` derives
            the variable from metadata (see :class:`~hstrat.strata.Rule`). A schema file
            holds the same in JSON, TOML or YAML.

        Returns
        -------
        Schema

        Raises
        ------
        SchemaError
            Listing unknown keys (with the closest valid one), bad values, rules that
            can produce values the variable does not allow, and so on.

        Examples
        --------
        >>> from hstrat import Schema
        >>> Schema.from_dict({"variables": {"drain": {"values": ["yes", "no"],
        ...                                           "applies_to": "positive"}}})
        Traceback (most recent call last):
        ...
        hstrat.exceptions.SchemaError: 1 problem found:
          - variables.drain.applies_to must be one of ... Did you mean 'positives'?
        """
        if isinstance(spec, Schema):
            return spec
        if not isinstance(spec, Mapping):
            raise TypeError(
                f"spec must be a dict (the parsed schema file); got {type(spec).__name__}."
            )
        problems = [
            f"the schema has an unknown key {describe(key)}.{_hint(key, SCHEMA_KEYS)}"
            for key in spec
            if key not in SCHEMA_KEYS
        ]
        raw = spec.get("variables")
        pairs: list[tuple[Any, Any]] = []
        if isinstance(raw, Mapping):
            pairs = list(raw.items())
        elif isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)):
            for i, item in enumerate(raw):
                if isinstance(item, Mapping) and "name" in item:
                    pairs.append((item["name"], {k: v for k, v in item.items() if k != "name"}))
                else:
                    problems.append(
                        f"variables[{i}] must be a table with a 'name'; got {describe(item)}."
                    )
            counts = Counter(p[0] for p in pairs if isinstance(p[0], str))
            dup = sorted(n for n, k in counts.items() if k > 1)
            if dup:
                problems.append(f"variables {_preview(dup)} are defined more than once.")
        else:
            problems.append(
                "the schema needs 'variables', a table of variable name to definition; got "
                f"{describe(raw)}."
            )
        if raw is not None and not pairs and not problems:
            problems.append("variables is empty; a schema needs at least one variable.")
        parsed = [_parse_variable(n, s, problems) for n, s in pairs]
        target = spec.get("target")
        name = spec.get("name", target if isinstance(target, str) and target else "schema")
        description = spec.get("description", "") or ""
        problems += _header_problems(name, target, description)
        if problems:
            raise SchemaError(problems)
        return cls(
            [v for v in parsed if v is not None], name=name, target=target, description=description
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, format: str | None = None) -> Schema:
        r"""Read a schema from a JSON, TOML or YAML file (problems as :meth:`from_dict`'s).

        YAML needs PyYAML and is read with its safe loader (no Python objects); anchors
        and aliases may not expand to more than 100,000 values ("billion laughs").

        Parameters
        ----------
        path : path-like
            The file; its suffix (``.json``, ``.toml``, ``.yaml``/``.yml``) gives the format.
        format : {"json", "toml", "yaml"}, optional
            Overrides the suffix.

        Returns
        -------
        Schema

        Examples
        --------
        >>> import pathlib, tempfile
        >>> from hstrat import Schema
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "schema.toml"
        >>> _ = path.write_text('target = "Fracture"\n[variables.subtle]\n'
        ...                     'values = ["yes", "no"]\napplies_to = "positives"\n')
        >>> Schema.from_file(path).variables["subtle"].values
        ('yes', 'no')
        """
        file = Path(path)
        kinds = {".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}
        kind = format if format is not None else kinds.get(file.suffix.lower())
        if kind not in _PARSERS:
            raise ValueError(
                f"Cannot tell the format of schema file {str(file)!r} from its suffix "
                f"{file.suffix!r}; name it .json, .toml, .yaml or .yml, or pass "
                "format='json' | 'toml' | 'yaml'."
            )
        text = file.read_text(encoding="utf-8")
        try:
            data = _PARSERS[kind](text)
        except ImportError:
            raise
        except Exception as err:  # each parser has its own error class
            raise SchemaError([f"{file}: not valid {kind.upper()}: {err}"]) from None
        if not isinstance(data, Mapping):
            raise SchemaError(
                [f"{file}: the file must hold a table/dict; got {type(data).__name__}."]
            )
        try:
            return cls.from_dict(data)
        except SchemaError as err:
            raise SchemaError([f"{file}: {p}" for p in err.problems]) from None

    @property
    def name(self) -> str:
        """The schema's title."""
        return self._name

    @property
    def target(self) -> str | None:
        """The label the subclasses divide, if given."""
        return self._target

    @property
    def description(self) -> str:
        """Free-text description."""
        return self._description

    @property
    def variables(self) -> Mapping[str, Variable]:
        """Read-only mapping of variable name to :class:`Variable`, in display order."""
        return self._variables

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: the same content gives the same digest."""
        return self._digest

    def to_dict(self) -> dict[str, Any]:
        """Return the schema's canonical dict form (:meth:`from_dict` rebuilds it).

        Examples
        --------
        >>> from hstrat import Schema
        >>> Schema.from_dict({"variables": {"x": {"values": ["a", "b"]}}}).to_dict()
        {'name': 'schema', 'target': None, 'description': '',
         'variables': {'x': {'values': ['a', 'b'], 'description': '', 'applies_to': 'all'}}}
        """
        return {
            "name": self._name,
            "target": self._target,
            "description": self._description,
            "variables": {n: v.to_dict() for n, v in self._variables.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return the schema as JSON text, written atomically to ``path`` when given.

        Examples
        --------
        >>> from hstrat import Schema
        >>> schema = Schema.from_dict({"variables": {"x": {"values": ["a"]}}})
        >>> Schema.from_dict(__import__("json").loads(schema.to_json())) == schema
        True
        """
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    def provenance(self) -> dict[str, Any]:
        """Return what a report should record about the schema: name, target, digest.

        Examples
        --------
        >>> from hstrat import Schema
        >>> p = Schema.from_dict({"name": "s", "variables": {"x": {"values": ["a"]}}}).provenance()
        >>> sorted(p)
        ['digest', 'name', 'target', 'variables']
        """
        return {
            "name": self._name,
            "target": self._target,
            "variables": list(self._variables),
            "digest": self._digest,
        }

    def __repr__(self) -> str:
        return (
            f"Schema(name={self._name!r}, target={self._target!r}, "
            f"variables={list(self._variables)!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self._digest == other._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    def _selected(self, variables: Sequence[str] | None) -> list[Variable]:
        if variables is None:
            return list(self._variables.values())
        if isinstance(variables, str):
            variables = [variables]
        unknown = [v for v in variables if v not in self._variables]
        if unknown:
            raise SchemaError(
                [
                    f"variables {unknown!r} are not in the schema; it has "
                    f"{list(self._variables)!r}.{_hint(unknown[0], self._variables)}"
                ]
            )
        return [self._variables[v] for v in variables]

    def validate(
        self,
        labels: pd.DataFrame | pd.Series,
        *,
        y_true: npt.ArrayLike | pd.Series | None = None,
        predictions: Predictions | None = None,
        variables: Sequence[str] | None = None,
        outside: str = "error",
    ) -> pd.DataFrame:
        """Check labels against the schema and return them in a clean form.

        Every problem is raised together in one :class:`SchemaError`: duplicate ids, a
        missing column (with the closest unexpected column), a value that is not allowed
        (with the closest allowed one), a value for a case the variable does not apply
        to, labelled ids that are not among the cases.

        Parameters
        ----------
        labels : pandas.DataFrame or Series
            One row per case, indexed by sample id or with an ``id`` column; one column
            per variable. Missing cells (NaN, None, ``""``) mean *not labelled*. Other
            columns (``annotator``, ``labelled_at``, notes) are ignored.
        y_true : array-like or pandas.Series, optional
            The cases' binary labels, to check ``applies_to`` (skipped without them): a
            Series indexed by sample id is joined by id, anything else is taken in the
            labels' order.
        predictions : Predictions, optional
            Instead of ``y_true``: labels are joined to its ids.
        variables : sequence of str, optional
            Check only these variables (default: all of the schema's).
        outside : {"error", "ignore"}, default "error"
            A value for a case its variable does not apply to (a drain label on a
            negative case): report it, or leave it out (for metadata columns filled in
            for every case).

        Returns
        -------
        pandas.DataFrame
            Indexed by id (named ``id``), one object column per checked variable, in
            schema order; missing values are NaN, boolean variables hold ``True``/``False``.

        Examples
        --------
        >>> import pandas as pd
        >>> from hstrat import Schema
        >>> schema = Schema.from_dict({"variables": {
        ...     "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"}}})
        >>> labels = pd.DataFrame({"id": ["a", "b", "c"], "chest_drain": ["yes", "Yes", "no"]})
        >>> schema.validate(labels, y_true=[1, 1, 0])
        Traceback (most recent call last):
        ...
        hstrat.exceptions.SchemaError: 2 problems found:
          - labels['chest_drain'] has the value 'Yes' (id 'b'), ... Did you mean 'yes'?
          - labels['chest_drain'] has values for 1 case(s) that are not positive (id 'c'), ...
        """
        check_option(outside, "outside", OUTSIDE)
        chosen = self._selected(variables)
        frame = _as_labels_frame(labels)
        problems: list[str] = []
        if not frame.index.is_unique:
            dup = list(dict.fromkeys(frame.index[frame.index.duplicated()].tolist()))
            problems.append(
                f"labels has duplicate ids: {_ids_text(dup)}; each case may have one row "
                "(split a file with several annotators by its 'annotator' column)."
            )
        if frame.index.hasnans:
            problems.append("labels has rows without an id.")
        present = [str(c) for c in frame.columns]
        extra = [c for c in present if c not in self._variables and c not in RESERVED_COLUMNS]
        out = pd.DataFrame(index=frame.index.copy())
        for var in chosen:
            if var.name not in frame.columns:
                close = difflib.get_close_matches(var.name, extra, n=1, cutoff=0.6)
                hint = f" Is {close[0]!r} a misspelling of it?" if close else ""
                problems.append(
                    f"labels has no column {var.name!r} for the variable {var.name!r}; the "
                    f"columns are {present!r}.{hint} (Add an empty column for a variable "
                    "nobody labelled, or pass variables=.)"
                )
                continue
            clean, bad = _allowed(var, frame[var.name], frame.index)
            for value, ids in bad:
                hint = _hint(value, var.values)
                if var.is_boolean:
                    hint = " The values are booleans: write True or False."
                kind = (
                    ""
                    if isinstance(value, str)
                    else f" (of type {type(value).__name__}, not text)"
                )
                problems.append(
                    f"labels[{var.name!r}] has the value {value!r}{kind} "
                    f"({'id' if len(ids) == 1 else f'{len(ids)} ids:'} {_ids_text(ids)}), "
                    f"which is not allowed; the values are {list(var.values)!r}.{hint}"
                )
            out[var.name] = pd.Series(clean, index=frame.index, dtype=object)
        y, y_problems = _case_labels(frame.index, y_true, predictions)
        problems += y_problems
        for var in chosen if y is not None else []:
            if var.applies_to == "all" or var.name not in out:
                continue
            wrong = (y == 0.0) if var.applies_to == "positives" else (y == 1.0)
            wrong &= out[var.name].notna().to_numpy()
            offending = frame.index[wrong].tolist()
            if offending and outside == "ignore":
                out.loc[wrong, var.name] = np.nan
            elif offending:
                kind = "positive" if var.applies_to == "positives" else "negative"
                problems.append(
                    f"labels[{var.name!r}] has values for {len(offending)} case(s) that are "
                    f"not {kind} ({'id' if len(offending) == 1 else 'ids'} "
                    f"{_ids_text(offending)}), "
                    f"but {var.name} applies to {var.applies_to} only; leave it empty there."
                )
        if problems:
            raise SchemaError(problems)
        out.index.name = "id"
        return out

    def to_strata(
        self,
        labels: pd.DataFrame | pd.Series,
        *,
        y_true: npt.ArrayLike | pd.Series | None = None,
        predictions: Predictions | None = None,
        ids: npt.ArrayLike | pd.Index | None = None,
        variables: Sequence[str] | None = None,
        outside: str = "error",
    ) -> list[Stratum]:
        """Turn valid labels into strata for :func:`hstrat.evaluate`.

        One :class:`~hstrat.Stratum` per variable and value present, named
        ``"variable=value"``, with the variable's ``applies_to`` as its population and
        the cases labelled for the variable as ``labelled`` (so the reference is the
        other labelled cases, never the unlabelled ones). Labels are checked with
        :meth:`validate` first.

        Parameters
        ----------
        labels, y_true, variables, outside
            As for :meth:`validate` (``y_true`` is used for checking only).
        predictions : Predictions, optional
            The strata's masks follow its ids (cases without labels are unlabelled).
        ids : array-like, optional
            Without ``predictions``: the sample ids in evaluation order. Default: the
            labels' own order.

        Returns
        -------
        list of Stratum

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import hstrat
        >>> schema = hstrat.Schema.from_dict({"variables": {
        ...     "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"}}})
        >>> ids = ["p1", "p2", "p3", "n1", "n2"]
        >>> labels = pd.DataFrame({"chest_drain": ["yes", "no", "yes"]}, index=["p1", "p2", "p3"])
        >>> y = pd.Series([1, 1, 1, 0, 0], index=ids)
        >>> strata = schema.to_strata(labels, y_true=y, ids=ids)
        >>> [(s.name, s.population, int(s.mask.sum())) for s in strata]
        [('chest_drain=yes', 'positives', 2), ('chest_drain=no', 'positives', 1)]
        """
        clean = self.validate(
            labels, y_true=y_true, predictions=predictions, variables=variables, outside=outside
        )
        if predictions is not None:
            cases: Cases | None = predictions.cases
        elif ids is not None:
            cases = Cases.of(range(len(cast(Any, ids))), ids=ids)
        elif isinstance(y_true, pd.Series):
            cases = Cases.of(y_true)
        else:
            cases = None
        if cases is not None:
            problems = _locate(clean.index, cases)[1]
            if problems:
                raise SchemaError(problems)
            clean = clean.reindex(cases.ids)
        out = []
        for var in self._selected(variables):
            column = clean[var.name]
            for level in var.values:
                mask = (column == level).astype(bool)
                if mask.any():
                    out.append(
                        Stratum(
                            mask,
                            var.applies_to,
                            name=f"{var.name}={level}",
                            variable=var.name,
                            level=level,
                            labelled=column.notna(),
                            finding=self._target,
                        )
                    )
        return out

    def derive(
        self,
        metadata: pd.DataFrame | Predictions,
        *,
        y_true: npt.ArrayLike | pd.Series | None = None,
    ) -> pd.DataFrame:
        """Apply the schema's rules to metadata: labels that cost no expert time.

        Parameters
        ----------
        metadata : pandas.DataFrame or Predictions
            One row per case (a Predictions' ``metadata`` and ``y_true`` are used).
        y_true : array-like or pandas.Series, optional
            With it, variables that apply to positives (negatives) are left empty on the
            other cases.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``metadata``, one column per variable that has a rule.

        Raises
        ------
        SchemaError
            Listing every missing metadata column and every derived value the variable
            does not allow (with the closest allowed one).

        Examples
        --------
        >>> import pandas as pd
        >>> from hstrat import Schema
        >>> schema = Schema.from_dict({"variables": {"body_part": {
        ...     "values": ["elbow", "wrist"],
        ...     "rule": {"column": "path", "regex": "XR_([A-Z]+)", "group": 1, "case": "lower"}}}})
        >>> meta = pd.DataFrame({"path": ["valid/XR_WRIST/p1/s1/i1.png",
        ...                               "valid/XR_ELBOW/p2/s1/i1.png"]})
        >>> schema.derive(meta)
          body_part
        0     wrist
        1     elbow
        """
        table: Any = metadata
        if isinstance(metadata, Predictions):
            if y_true is None:
                y_true = pd.Series(metadata.y_true, index=metadata.ids)
            table = metadata.metadata
            if table is None:
                raise ValueError("These predictions have no metadata to derive labels from.")
        if not isinstance(table, pd.DataFrame):
            raise TypeError(
                f"metadata must be a pandas DataFrame or Predictions; got {type(table).__name__}."
            )
        ruled = [(v, v.rule) for v in self._variables.values() if v.rule is not None]
        if not ruled:
            raise ValueError(
                f"The schema {self._name!r} has no rules; no variable can be derived."
            )
        columns = [str(c) for c in table.columns]
        problems = [
            f"metadata has no column {rule.column!r}, which the rule for {var.name!r} reads; "
            f"the columns are {columns!r}.{_hint(rule.column, columns)}"
            for var, rule in ruled
            if rule.column not in table.columns
        ]
        if problems:
            raise SchemaError(problems)
        y = None
        if y_true is not None:
            y = check_labels(Cases.of(table, name="metadata").align(y_true, "y_true"))
        out = pd.DataFrame(index=table.index.copy())
        for var, rule in ruled:
            derived, bad = _allowed(var, rule.apply(table, boolean=var.is_boolean), table.index)
            problems += [
                f"the rule for {var.name!r} derived {value!r} for {len(ids)} case(s) "
                f"({_ids_text(ids)}), which is not one of the values {list(var.values)!r}."
                f"{_hint(value, var.values)} Add it to the values, or give the rule a 'map' "
                "or 'case'."
                for value, ids in bad
            ]
            if y is not None and var.applies_to != "all":
                derived[~y if var.applies_to == "positives" else y] = np.nan
            out[var.name] = pd.Series(derived, index=table.index, dtype=object)
        if problems:
            raise SchemaError(problems)
        return out


def _allowed(
    var: Variable, values: Iterable[Any], ids: pd.Index
) -> tuple[npt.NDArray[np.object_], list[tuple[Any, list[Any]]]]:
    """Return the allowed value of each cell (NaN: missing), and each other value with its ids."""
    clean = np.full(len(ids), np.nan, dtype=object)
    bad: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
    for i, value in enumerate(values):
        if is_missing(value):
            continue
        allowed = var.normalise(value)
        if allowed is None:
            try:  # 1, 1.0 and True are told apart; unhashable values are grouped by repr
                key: tuple[Any, ...] = (type(value).__name__, value, hash(value))
            except TypeError:
                key = (type(value).__name__, repr(value))
            bad.setdefault(key, (value, []))[1].append(ids[i])
        else:
            clean[i] = allowed
    return clean, list(bad.values())


def _as_labels_frame(labels: Any) -> pd.DataFrame:
    if isinstance(labels, pd.Series):
        if labels.name is None:
            raise ValueError("labels is a Series without a name; name it after its variable.")
        return labels.to_frame()
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(
            f"labels must be a pandas DataFrame (one column per variable, indexed by id or "
            f"with an 'id' column); got {type(labels).__name__}."
        )
    return labels.set_index("id") if "id" in labels.columns else labels


def _locate(index: pd.Index, cases: Cases) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Return the case position of each id in ``index`` (-1: not a case), and that problem."""
    unique = index.drop_duplicates()  # duplicates are reported by the caller
    positions = cases.locate(unique, "labels", table=True)[unique.get_indexer(index)]
    missing = index[positions < 0].tolist()
    if not missing:
        return positions, []
    return positions, [
        f"labels has {len(missing)} id(s) that are not among the cases: "
        f"{_ids_text(missing)}{type_hint(index, cases.ids)}."
    ]


def _case_labels(
    index: pd.Index, y_true: Any, predictions: Any
) -> tuple[npt.NDArray[np.float64] | None, list[str]]:
    """Return the labels' rows' case labels (1.0 / 0.0 / NaN: not a case) and problems.

    ``predictions`` or a Series ``y_true`` are matched by id; a plain ``y_true`` is read
    in the labels' own order.
    """
    if predictions is not None:
        if y_true is not None:
            raise ValueError("Pass y_true or predictions, not both.")
        if not isinstance(predictions, Predictions):
            raise TypeError(
                f"predictions must be an hstrat Predictions; got {type(predictions).__name__}."
            )
        cases, y = predictions.cases, predictions.y_true
    elif y_true is None:
        return None, []
    elif isinstance(y_true, pd.Series):
        cases, y = Cases.of(y_true), check_labels(y_true)
    else:
        y = check_labels(y_true)
        if len(y) != len(index):
            raise ValueError(
                f"y_true must be a pandas Series indexed by sample id, or have one entry per "
                f"labels row ({len(index)}); got {len(y)} entries."
            )
        return y.astype(float), []
    positions, problems = _locate(index, cases)
    values = np.full(len(index), np.nan)
    values[positions >= 0] = y[positions[positions >= 0]]
    return values, problems


def read_labels(
    path: str | os.PathLike[str],
    *,
    annotator: str | None = None,
) -> pd.DataFrame:
    r"""Read a labels CSV (as the labelling tool writes it) with every cell as text.

    Parameters
    ----------
    path : path-like
        CSV with an ``id`` column; empty cells are *not labelled*.
    annotator : str, optional
        Keep only this annotator's rows. Required when the file holds several.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``id`` (text), all columns object dtype, missing cells NaN.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from hstrat.strata import read_labels
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = path.write_text("id,chest_drain,annotator\n001,yes,ann\n002,,ann\n")
    >>> read_labels(path)
        chest_drain annotator
    id
    001         yes       ann
    002         NaN       ann
    """
    where = repr(str(path))
    try:
        with warnings.catch_warnings():  # a row longer than the header loses data: refuse it
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, dtype=object, keep_default_na=False, na_values=[""], index_col=False
            )
    except (ValueError, pd.errors.ParserWarning) as err:  # also UnicodeDecodeError
        raise ValueError(
            f"{where} is damaged or not a CSV ({err}); repair it or restore a copy."
        ) from None
    if "id" not in frame.columns:
        raise ValueError(
            f"{where} has no 'id' column; its columns are {describe(list(frame.columns), 200)}."
        )
    if "annotator" in frame.columns:
        names = [a for a in dict.fromkeys(frame["annotator"].tolist()) if not is_missing(a)]
        if annotator is not None:
            if annotator not in names:
                raise ValueError(
                    f"{where} has no labels by annotator {annotator!r}; it has {names!r}."
                )
            frame = frame[frame["annotator"] == annotator]
        elif len(names) > 1:
            raise ValueError(
                f"{where} holds labels by {len(names)} annotators "
                f"({', '.join(map(repr, names))}); pass annotator= to read one of them."
            )
    elif annotator is not None:
        raise ValueError(f"{where} has no 'annotator' column to select {annotator!r} from.")
    return frame.set_index("id")
