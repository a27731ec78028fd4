r"""Rules that derive a schema variable from metadata, so some labels cost no expert time.

A rule reads one metadata column and maps each row to a value of its variable (or to
missing = not labelled). At most one *matcher* says how:

* none: the column's value itself, looked up in ``map`` when given —
  ``{"column": "Airspace opacity", "map": {"YES": "yes", "NO": "no"}}``;
* ``equals``: ``true_value`` if the value equals it, else ``false_value`` —
  ``{"column": "View Position", "equals": "PA"}``;
* ``in``: ``true_value`` if the value is one of a list —
  ``{"column": "site", "in": ["A", "B"]}``;
* ``contains``: ``true_value`` if the text contains the string (or any of a list); with
  ``sep`` the text is split and whole items are compared —
  ``{"column": "Finding Labels", "contains": "Consolidation", "sep": "|"}``;
* ``regex``: a pattern without capture groups gives ``true_value`` if it is found; one
  with groups gives the captured text (group 1, or the ``group`` named or numbered) —
  ``{"column": "path", "regex": "XR_([A-Z]+)"}``. ``pattern`` is accepted as another
  name for ``regex`` (the built-in schemas of :mod:`hstrat.datasets` use it);
* ``path_component``: the path's component at that index (``/`` and ``\`` both
  separate) — ``{"column": "path", "path_component": -4, "strip_prefix": "XR_"}``.

Yes/no matchers give ``true_value`` / ``false_value`` (default ``"yes"`` / ``"no"``,
or ``True`` / ``False`` for a variable whose values are booleans);
``case_sensitive: false`` makes them ignore case. Extracting rules (no matcher,
``regex`` with a group, ``path_component``) give text, which ``strip_prefix``, ``case``
(``"lower"`` or ``"upper"``) and ``map`` then transform, in that order. A missing
metadata value, a failed extraction or a ``map`` without the key gives a missing label,
never a guess.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._validation import describe

__all__ = ["RULE_KEYS", "Rule"]

MATCHERS: tuple[str, ...] = ("equals", "in", "contains", "regex", "path_component")
ALIASES: dict[str, str] = {"pattern": "regex"}
RULE_KEYS: tuple[str, ...] = (
    "column",
    *MATCHERS,
    *ALIASES,
    "sep",
    "group",
    "true_value",
    "false_value",
    "strip_prefix",
    "case",
    "map",
    "case_sensitive",
)
CASES: tuple[str, ...] = ("lower", "upper")


def _closest(value: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(allowed), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Rule:
    """How one variable is derived from one metadata column (see the module docstring).

    Build rules with :meth:`from_dict`; the constructor does not check its arguments.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import Rule
    >>> rule = Rule.from_dict({"column": "path", "path_component": -4,
    ...                        "strip_prefix": "XR_", "case": "lower"})
    >>> meta = pd.DataFrame({"path": ["valid/XR_WRIST/patient1/study1_positive/image1.png"]})
    >>> rule.apply(meta).tolist()
    ['wrist']
    """

    column: str
    matcher: str | None = None
    argument: Any = None
    sep: str | None = None
    group: int | str | None = None
    true_value: str = "yes"
    false_value: str = "no"
    strip_prefix: str | None = None
    case: str | None = None
    mapping: Mapping[str, str | bool] | None = field(default=None, hash=False)
    case_sensitive: bool = True

    @property
    def is_boolean(self) -> bool:
        """Whether the rule answers yes/no (``true_value`` / ``false_value``)."""
        if self.matcher in ("equals", "in", "contains"):
            return True
        return self.matcher == "regex" and self.group is None and _groups(self.argument) == 0

    def outputs(self, *, boolean: bool = False) -> list[str | bool] | None:
        """Return the values the rule can produce, when they are known in advance.

        With ``boolean`` (a variable whose values are ``False``/``True``) yes/no
        matchers produce ``True``/``False``.
        """
        if self.is_boolean:
            return [True, False] if boolean else [self.true_value, self.false_value]
        if self.mapping is not None:
            return list(dict.fromkeys(self.mapping.values()))
        return None

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, where: str = "rule") -> Rule:
        """Build a rule from its dict form, listing every problem in one ``SchemaError``.

        Parameters
        ----------
        spec : mapping
            The rule (keys in :data:`RULE_KEYS`).
        where : str, default "rule"
            Where the rule sits, for messages (``"variables.body_part.rule"``).

        Returns
        -------
        Rule
            The checked rule.

        Examples
        --------
        >>> from hstrat.strata import Rule
        >>> Rule.from_dict({"column": "Finding Labels", "contains": "Consolidation", "sep": "|"})
        Rule(column='Finding Labels', matcher='contains', argument='Consolidation', sep='|', ...)
        """
        from ..exceptions import SchemaError

        problems = rule_problems(spec, where)
        if problems:
            raise SchemaError(problems)
        spec = _canonical(spec)
        matchers = [m for m in MATCHERS if m in spec]
        matcher = matchers[0] if matchers else None
        argument = spec[matcher] if matcher else None
        if matcher in ("in", "contains") and not isinstance(argument, str):
            argument = tuple(spec[matcher])
        mapping = spec.get("map")
        return cls(
            column=spec["column"],
            matcher=matcher,
            argument=argument,
            sep=spec.get("sep"),
            group=spec.get("group"),
            true_value=spec.get("true_value", "yes"),
            false_value=spec.get("false_value", "no"),
            strip_prefix=spec.get("strip_prefix"),
            case=spec.get("case"),
            mapping=None if mapping is None else dict(mapping),
            case_sensitive=spec.get("case_sensitive", True),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the rule's dict form (only the keys that differ from the defaults).

        Examples
        --------
        >>> from hstrat.strata import Rule
        >>> Rule.from_dict({"column": "view", "equals": "PA"}).to_dict()
        {'column': 'view', 'equals': 'PA'}
        """
        out: dict[str, Any] = {"column": self.column}
        if self.matcher is not None:
            arg = self.argument
            out[self.matcher] = list(arg) if isinstance(arg, tuple) else arg
        for key, value, default in (
            ("sep", self.sep, None),
            ("group", self.group, None),
            ("true_value", self.true_value, "yes"),
            ("false_value", self.false_value, "no"),
            ("strip_prefix", self.strip_prefix, None),
            ("case", self.case, None),
            ("case_sensitive", self.case_sensitive, True),
        ):
            if value != default:
                out[key] = value
        if self.mapping is not None:
            out["map"] = dict(self.mapping)
        return out

    # -- application -------------------------------------------------------------
    def apply(self, metadata: pd.DataFrame, *, boolean: bool = False) -> pd.Series:
        """Derive the variable for every row of ``metadata``.

        Parameters
        ----------
        metadata : pandas.DataFrame
            Must have the rule's column.
        boolean : bool, default False
            Yes/no matchers give ``True``/``False`` instead of ``true_value`` /
            ``false_value`` (for variables whose values are booleans).

        Returns
        -------
        pandas.Series
            Object dtype, indexed like ``metadata``: a string value per row, or ``None``
            where the rule gives no answer (missing metadata, no match to extract, a
            key absent from ``map``).

        Examples
        --------
        >>> import pandas as pd
        >>> from hstrat.strata import Rule
        >>> meta = pd.DataFrame({"Finding Labels": ["Pneumothorax|Consolidation",
        ...                                         "No Finding", None]})
        >>> rule = Rule.from_dict({"column": "Finding Labels", "contains": "Consolidation",
        ...                        "sep": "|"})
        >>> rule.apply(meta).tolist()
        ['yes', 'no', None]
        """
        if not isinstance(metadata, pd.DataFrame):
            raise TypeError(f"metadata must be a pandas DataFrame; got {type(metadata).__name__}.")
        if self.column not in metadata.columns:
            columns = list(map(str, metadata.columns))
            raise ValueError(
                f"metadata has no column {self.column!r}, which a rule reads; the columns "
                f"are {columns!r}.{_closest(self.column, columns)}"
            )
        values = metadata[self.column].to_numpy(dtype=object)
        out = [self._one(v, boolean) for v in values]
        return pd.Series(out, index=metadata.index, dtype=object, name=self.column)

    def _one(self, value: Any, boolean: bool) -> str | bool | None:
        if is_missing(value):
            return None
        if self.is_boolean:
            hit = self._match(value)
            if boolean:
                return hit
            return self.true_value if hit else self.false_value
        text = self._extract(value)
        if text is None:
            return None
        if self.strip_prefix is not None and text.startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        if self.case == "lower":
            text = text.lower()
        elif self.case == "upper":
            text = text.upper()
        if self.mapping is not None:
            return self.mapping.get(text)
        return text

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else text.casefold()

    def _match(self, value: Any) -> bool:
        if self.matcher == "equals":
            if isinstance(self.argument, str) and isinstance(value, str):
                return self._fold(value) == self._fold(self.argument)
            return bool(value == self.argument)
        if self.matcher == "in":
            if isinstance(value, str):
                return self._fold(value) in {
                    self._fold(a) for a in self.argument if isinstance(a, str)
                }
            return any(value == a for a in self.argument if not isinstance(a, str))
        text = self._fold(str(value))
        if self.matcher == "contains":
            wanted = [self.argument] if isinstance(self.argument, str) else list(self.argument)
            wanted = [self._fold(w) for w in wanted]
            if self.sep is not None:
                items = {item.strip() for item in text.split(self._fold(self.sep))}
                return any(w in items for w in wanted)
            return any(w in text for w in wanted)
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return re.search(self.argument, str(value), flags) is not None

    def _extract(self, value: Any) -> str | None:
        text = str(value)
        if self.matcher is None:
            return text
        if self.matcher == "regex":
            flags = 0 if self.case_sensitive else re.IGNORECASE
            found = re.search(self.argument, text, flags)
            if found is None:
                return None
            part = found.group(1 if self.group is None else self.group)
            return None if part is None else str(part)
        parts = [p for p in re.split(r"[\\/]+", text) if p != ""]
        index = int(self.argument)
        if -len(parts) <= index < len(parts):
            return parts[index]
        return None


def _groups(pattern: Any) -> int:
    """Return the number of capture groups of a (valid) pattern."""
    try:
        return re.compile(pattern).groups
    except (re.error, TypeError):
        return 0


def _canonical(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return the rule with aliases (``pattern``) under their canonical names."""
    return {ALIASES.get(key, key): value for key, value in spec.items()}


def is_missing(value: Any) -> bool:
    """Whether a label cell counts as *not labelled* (None, NaN, NA or the empty string)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_str_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) > 0
        and all(isinstance(v, str) for v in value)
    )


def rule_problems(spec: Any, where: str) -> list[str]:
    """Every problem with a rule's dict form, as sentences (empty when it is valid)."""
    if not isinstance(spec, Mapping):
        return [f"{where} must be a table/dict; got {describe(spec)}."]
    problems = []
    for alias, name in ALIASES.items():
        if alias in spec and name in spec:
            problems.append(
                f"{where} has both {alias!r} and {name!r}, two names for one thing; keep {name!r}."
            )
    for key in spec:
        if key not in RULE_KEYS:
            problems.append(f"{where} has an unknown key {key!r}.{_closest(str(key), RULE_KEYS)}")
    spec = _canonical(spec)
    column = spec.get("column")
    if not isinstance(column, str) or not column:
        problems.append(
            f"{where} needs 'column', the metadata column it reads; got {describe(column)}."
        )
    matchers = [m for m in MATCHERS if m in spec]
    if len(matchers) > 1:
        problems.append(
            f"{where} has several matchers {matchers!r}; use exactly one of {list(MATCHERS)!r}."
        )
    matcher = matchers[0] if len(matchers) == 1 else None
    arg = spec.get(matcher) if matcher else None
    if matcher == "equals" and (arg is None or isinstance(arg, (list, dict))):
        problems.append(
            f"{where}.equals must be a single value (use 'in' for a list); got {describe(arg)}."
        )
    if matcher == "in" and not (
        isinstance(arg, Sequence) and not isinstance(arg, (str, bytes)) and len(arg) > 0
    ):
        problems.append(f"{where}.in must be a non-empty list; got {describe(arg)}.")
    if matcher == "contains" and not ((isinstance(arg, str) and arg) or _is_str_list(arg)):
        problems.append(
            f"{where}.contains must be a non-empty string or list of strings; got {describe(arg)}."
        )
    if matcher == "regex":
        if not isinstance(arg, str):
            problems.append(f"{where}.regex must be a string; got {describe(arg)}.")
        else:
            try:
                compiled = re.compile(arg)
            except re.error as err:
                problems.append(f"{where}.regex {arg!r} is not a valid regular expression: {err}.")
            else:
                group = spec.get("group")
                if group is not None:
                    if isinstance(group, bool) or not isinstance(group, (int, str)):
                        problems.append(
                            f"{where}.group must be a group number or name; got {describe(group)}."
                        )
                    elif isinstance(group, int) and not 0 <= group <= compiled.groups:
                        problems.append(
                            f"{where}.group is {group} but the pattern has "
                            f"{compiled.groups} group(s)."
                        )
                    elif isinstance(group, str) and group not in compiled.groupindex:
                        problems.append(
                            f"{where}.group {group!r} is not a named group of the pattern."
                        )
    if matcher == "path_component" and (isinstance(arg, bool) or not isinstance(arg, int)):
        problems.append(
            f"{where}.path_component must be an integer index (e.g. -2); got {describe(arg)}."
        )
    if "group" in spec and matcher != "regex":
        problems.append(f"{where}.group is only used with 'regex'.")
    if "sep" in spec and matcher != "contains":
        problems.append(f"{where}.sep is only used with 'contains'.")
    if "sep" in spec and not (isinstance(spec["sep"], str) and spec["sep"]):
        problems.append(f"{where}.sep must be a non-empty string; got {describe(spec['sep'])}.")
    boolean = matcher in ("equals", "in", "contains") or (
        matcher == "regex" and "group" not in spec and _groups(arg) == 0
    )
    for key in ("true_value", "false_value"):
        if key in spec:
            if not boolean:
                problems.append(
                    f"{where}.{key} is only used by yes/no matchers (equals, in, contains, "
                    "regex without group)."
                )
            elif not isinstance(spec[key], str) or not spec[key]:
                problems.append(
                    f"{where}.{key} must be a non-empty string; got {describe(spec[key])}."
                )
    for key in ("strip_prefix", "case", "map"):
        if key in spec and boolean:
            problems.append(
                f"{where}.{key} is only used by rules that extract text, not by {matcher!r}."
            )
    if "strip_prefix" in spec and not isinstance(spec["strip_prefix"], str):
        problems.append(
            f"{where}.strip_prefix must be a string; got {describe(spec['strip_prefix'])}."
        )
    if "case" in spec and spec["case"] not in CASES:
        problems.append(
            f"{where}.case must be one of {list(CASES)!r}; got {describe(spec['case'])}."
        )
    if "map" in spec:
        mapping = spec["map"]
        if not (
            isinstance(mapping, Mapping)
            and mapping
            and all(isinstance(k, str) and isinstance(v, (str, bool)) for k, v in mapping.items())
        ):
            problems.append(
                f"{where}.map must be a non-empty table of text to value; got {describe(mapping)}."
            )
    if "case_sensitive" in spec and not isinstance(spec["case_sensitive"], bool):
        problems.append(
            f"{where}.case_sensitive must be true or false; got "
            f"{describe(spec['case_sensitive'])}."
        )
    return problems
