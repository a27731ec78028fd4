"""Rules that derive a schema variable from metadata, so some labels cost no expert time."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from .._validation import describe, did_you_mean
from ..exceptions import SchemaError

__all__ = ["RULE_KEYS", "Rule"]

MATCHERS: tuple[str, ...] = ("equals", "in", "contains", "regex", "path_component")
ALIASES: dict[str, str] = {"pattern": "regex"}
_OPTIONS = ("sep", "group", "true_value", "false_value", "strip_prefix", "case", "case_sensitive")
RULE_KEYS: tuple[str, ...] = ("column", *MATCHERS, *ALIASES, *_OPTIONS, "map")
CASES: tuple[str, ...] = ("lower", "upper")


@dataclass(frozen=True)
class Rule:
    r"""How one variable is derived from one metadata column.

    A rule maps each row's value to a value of its variable, or to missing (not
    labelled). At most one *matcher* says how:

    * none: the column's value itself, looked up in ``map`` when given —
      ``{"column": "Airspace opacity", "map": {"YES": "yes", "NO": "no"}}``;
    * ``equals``: ``true_value`` if the value equals it, else ``false_value`` —
      ``{"column": "View Position", "equals": "PA"}``;
    * ``in``: ``true_value`` if the value is one of a list;
    * ``contains``: ``true_value`` if the text contains the string (or any of a list);
      with ``sep`` the text is split and whole items are compared —
      ``{"column": "Finding Labels", "contains": "Consolidation", "sep": "|"}``;
    * ``regex`` (or ``pattern``): without capture groups, ``true_value`` if the pattern
      is found; with groups, the captured text (group 1, or the ``group`` named or
      numbered) — ``{"column": "path", "regex": "XR_([A-Z]+)"}``;
    * ``path_component``: the path's component at that index (``/`` and ``\`` both
      separate) — ``{"column": "path", "path_component": -4, "strip_prefix": "XR_"}``.

    Yes/no matchers give ``true_value`` / ``false_value`` (default ``"yes"`` / ``"no"``,
    or ``True`` / ``False`` for a boolean variable); ``case_sensitive: false`` makes them
    ignore case. The text of extracting rules goes through ``strip_prefix``, ``case``
    (``"lower"``/``"upper"``) and ``map``, in that order. Missing metadata, a failed
    extraction or a key absent from ``map`` gives a missing label, never a guess.

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
        return _yes_no(self.matcher, self.argument, self.group)

    def outputs(self, *, boolean: bool = False) -> list[str | bool] | None:
        """Return the values the rule can produce, if known (``boolean``: as for :meth:`apply`)."""
        if self.is_boolean:
            return [True, False] if boolean else [self.true_value, self.false_value]
        if self.mapping is not None:
            return list(dict.fromkeys(self.mapping.values()))
        return None

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

        Examples
        --------
        >>> from hstrat.strata import Rule
        >>> Rule.from_dict({"column": "Finding Labels", "contains": "Consolidation", "sep": "|"})
        Rule(column='Finding Labels', matcher='contains', argument='Consolidation', sep='|', ...)
        """
        problems = rule_problems(spec, where)
        if problems:
            raise SchemaError(problems)
        spec = {ALIASES.get(key, key): value for key, value in spec.items()}
        matcher = next((m for m in MATCHERS if m in spec), None)
        argument: Any = spec[matcher] if matcher else None
        if matcher in ("in", "contains") and not isinstance(argument, str):
            argument = tuple(argument)
        return cls(
            column=spec["column"],
            matcher=matcher,
            argument=argument,
            mapping=dict(spec["map"]) if "map" in spec else None,
            **{key: spec[key] for key in _OPTIONS if key in spec},
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
        defaults = {f.name: f.default for f in fields(self)}
        for key in _OPTIONS:
            if getattr(self, key) != defaults[key]:
                out[key] = getattr(self, key)
        if self.mapping is not None:
            out["map"] = dict(self.mapping)
        return out

    def apply(self, metadata: pd.DataFrame, *, boolean: bool = False) -> pd.Series:
        """Derive the variable for every row of ``metadata``.

        Parameters
        ----------
        metadata : pandas.DataFrame
            Must have the rule's column.
        boolean : bool, default False
            Yes/no matchers give ``True``/``False`` (for a boolean variable).

        Returns
        -------
        pandas.Series
            Object dtype, indexed like ``metadata``: the value per row, or ``None`` where
            the rule gives no answer.

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
                f"are {columns!r}.{did_you_mean(self.column, columns, cutoff=0.5)}"
            )
        values = metadata[self.column].to_numpy(dtype=object)
        out = [self._one(v, boolean) for v in values]
        return pd.Series(out, index=metadata.index, dtype=object, name=self.column)

    def _one(self, value: Any, boolean: bool) -> str | bool | None:
        if is_missing(value):
            return None
        if self.is_boolean:
            hit = self._match(value)
            return hit if boolean else (self.true_value if hit else self.false_value)
        text = self._extract(str(value))
        if text is None:
            return None
        if self.strip_prefix is not None and text.startswith(self.strip_prefix):
            text = text[len(self.strip_prefix) :]
        if self.case is not None:
            text = text.lower() if self.case == "lower" else text.upper()
        return text if self.mapping is None else self.mapping.get(text)

    def _fold(self, text: str) -> str:
        return text if self.case_sensitive else text.casefold()

    def _search(self, text: str) -> re.Match[str] | None:
        return re.search(self.argument, text, 0 if self.case_sensitive else re.IGNORECASE)

    def _match(self, value: Any) -> bool:
        if self.matcher == "regex":
            return self._search(str(value)) is not None
        if self.matcher == "contains":
            text = self._fold(str(value))
            wanted = (self.argument,) if isinstance(self.argument, str) else self.argument
            if self.sep is not None:
                items = {item.strip() for item in text.split(self._fold(self.sep))}
                return any(self._fold(w) in items for w in wanted)
            return any(self._fold(w) in text for w in wanted)
        options = (self.argument,) if self.matcher == "equals" else self.argument
        if isinstance(value, str):  # text compares as text (case folded if asked)
            return self._fold(value) in {self._fold(a) for a in options if isinstance(a, str)}
        return any(value == a for a in options if not isinstance(a, str))

    def _extract(self, text: str) -> str | None:
        if self.matcher is None:
            return text
        if self.matcher == "regex":
            found = self._search(text)
            part = None if found is None else found.group(1 if self.group is None else self.group)
            return None if part is None else str(part)
        parts = [p for p in re.split(r"[\\/]+", text) if p != ""]
        index = int(self.argument)
        return parts[index] if -len(parts) <= index < len(parts) else None


def _yes_no(matcher: str | None, argument: Any, group: Any) -> bool:
    """Whether a rule with this matcher answers yes/no (a regex only without groups)."""
    if matcher == "regex" and group is None:
        try:
            return re.compile(argument).groups == 0
        except (re.error, TypeError):
            return True
    return matcher in ("equals", "in", "contains")


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


def rule_problems(spec: Any, where: str) -> list[str]:
    """Every problem with a rule's dict form, as sentences (empty when it is valid)."""
    if not isinstance(spec, Mapping):
        return [f"{where} must be a table/dict; got {describe(spec)}."]
    problems = [
        f"{where} has both {alias!r} and {name!r}, two names for one thing; keep {name!r}."
        for alias, name in ALIASES.items()
        if alias in spec and name in spec
    ]
    problems += [
        f"{where} has an unknown key {key!r}.{did_you_mean(str(key), RULE_KEYS, cutoff=0.5)}"
        for key in spec
        if key not in RULE_KEYS
    ]
    spec = {ALIASES.get(key, key): value for key, value in spec.items()}
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
    arg: Any = spec.get(matcher) if matcher else None
    is_list = isinstance(arg, Sequence) and not isinstance(arg, (str, bytes)) and len(arg) > 0
    wrong = {
        "equals": (
            arg is None or isinstance(arg, (list, dict)),
            "must be a single value (use 'in' for a list)",
        ),
        "in": (not is_list, "must be a non-empty list"),
        "contains": (
            not (
                (isinstance(arg, str) and arg)
                or (is_list and all(isinstance(v, str) for v in arg))
            ),
            "must be a non-empty string or list of strings",
        ),
        "regex": (not isinstance(arg, str), "must be a string"),
        "path_component": (
            isinstance(arg, bool) or not isinstance(arg, int),
            "must be an integer index (e.g. -2)",
        ),
    }
    if matcher is not None and wrong[matcher][0]:
        problems.append(f"{where}.{matcher} {wrong[matcher][1]}; got {describe(arg)}.")
    elif matcher == "regex":
        problems += _regex_problems(arg, spec.get("group"), where)
    if "group" in spec and matcher != "regex":
        problems.append(f"{where}.group is only used with 'regex'.")
    if "sep" in spec and matcher != "contains":
        problems.append(f"{where}.sep is only used with 'contains'.")
    boolean = _yes_no(matcher, arg, spec.get("group"))
    for key in ("true_value", "false_value"):
        if key in spec and not boolean:
            problems.append(
                f"{where}.{key} is only used by yes/no matchers (equals, in, contains, "
                "regex without group)."
            )
        elif key in spec and not (isinstance(spec[key], str) and spec[key]):
            problems.append(
                f"{where}.{key} must be a non-empty string; got {describe(spec[key])}."
            )
    problems += [
        f"{where}.{key} is only used by rules that extract text, not by {matcher!r}."
        for key in ("strip_prefix", "case", "map")
        if key in spec and boolean
    ]
    mapping = spec.get("map")
    checks = {
        "sep": (isinstance(spec.get("sep"), str) and spec["sep"], "must be a non-empty string"),
        "strip_prefix": (isinstance(spec.get("strip_prefix"), str), "must be a string"),
        "case": (spec.get("case") in CASES, f"must be one of {list(CASES)!r}"),
        "map": (
            isinstance(mapping, Mapping)
            and mapping
            and all(isinstance(k, str) and isinstance(v, (str, bool)) for k, v in mapping.items()),
            "must be a non-empty table of text to value",
        ),
        "case_sensitive": (isinstance(spec.get("case_sensitive"), bool), "must be true or false"),
    }
    problems += [
        f"{where}.{key} {text}; got {describe(spec[key])}."
        for key, (ok, text) in checks.items()
        if key in spec and not ok
    ]
    return problems


def _regex_problems(pattern: str, group: Any, where: str) -> list[str]:
    """Problems with a valid-looking ``regex`` and its ``group``."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        return [f"{where}.regex {pattern!r} is not a valid regular expression: {err}."]
    if group is None:
        return []
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        return [f"{where}.group must be a group number or name; got {describe(group)}."]
    if isinstance(group, int) and not 0 <= group <= compiled.groups:
        return [f"{where}.group is {group} but the pattern has {compiled.groups} group(s)."]
    if isinstance(group, str) and group not in compiled.groupindex:
        return [f"{where}.group {group!r} is not a named group of the pattern."]
    return []
