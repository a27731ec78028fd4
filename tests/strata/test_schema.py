import json
import time

import numpy as np
import pandas as pd
import pytest

import hstrat
from hstrat import Predictions, Schema
from hstrat.exceptions import SchemaError
from hstrat.strata import read_labels

PNEUMOTHORAX = {
    "name": "CXR14 pneumothorax",
    "target": "Pneumothorax",
    "description": "Subclasses of pneumothorax",
    "variables": {
        "chest_drain": {
            "values": ["yes", "no"],
            "applies_to": "positives",
            "description": "Is a chest drain visible?",
        },
        "airspace_opacity": {
            "values": {"yes": "consolidation or infiltrate", "no": "clear lungs"},
            "applies_to": "all",
        },
        "hardware": {"values": ["yes", "no"], "applies_to": "negatives"},
    },
}

TOML = """
name = "CXR14 pneumothorax"
target = "Pneumothorax"
description = "Subclasses of pneumothorax"

[variables.chest_drain]
values = ["yes", "no"]
applies_to = "positives"
description = "Is a chest drain visible?"

[variables.airspace_opacity.values]
yes = "consolidation or infiltrate"
no = "clear lungs"

[variables.hardware]
values = ["yes", "no"]
applies_to = "negatives"
"""

YAML = """
name: CXR14 pneumothorax
target: Pneumothorax
description: Subclasses of pneumothorax
variables:
  chest_drain:
    values: ["yes", "no"]
    applies_to: positives
    description: Is a chest drain visible?
  airspace_opacity:
    values:
      "yes": consolidation or infiltrate
      "no": clear lungs
  hardware:
    values: ["yes", "no"]
    applies_to: negatives
"""


@pytest.fixture
def schema():
    return Schema.from_dict(PNEUMOTHORAX)


def problems_of(excinfo):
    return excinfo.value.problems


# -- parsing -------------------------------------------------------------------------
def test_from_dict_reads_every_field(schema):
    assert schema.name == "CXR14 pneumothorax"
    assert schema.target == "Pneumothorax"
    assert list(schema.variables) == ["chest_drain", "airspace_opacity", "hardware"]
    drain = schema.variables["chest_drain"]
    assert drain.values == ("yes", "no")
    assert drain.applies_to == "positives"
    assert drain.description == "Is a chest drain visible?"
    opacity = schema.variables["airspace_opacity"]
    assert opacity.values == ("yes", "no")
    assert opacity.value_descriptions["yes"] == "consolidation or infiltrate"
    assert opacity.applies_to == "all"


def test_schema_is_importable_from_top_level():
    assert hstrat.Schema is Schema
    assert "Schema" in hstrat.__all__


def test_variables_may_be_a_list_of_named_tables():
    spec = {"variables": [{"name": "drain", "values": ["yes", "no"], "applies_to": "positives"}]}
    assert Schema.from_dict(spec).variables["drain"].applies_to == "positives"


def test_to_dict_round_trips(schema):
    again = Schema.from_dict(schema.to_dict())
    assert again == schema
    assert again.to_dict() == schema.to_dict()
    assert again.digest == schema.digest


def test_digest_is_stable_and_content_sensitive(schema):
    reordered = dict(reversed(list(PNEUMOTHORAX.items())))
    assert Schema.from_dict(reordered).digest == schema.digest
    changed = json.loads(json.dumps(PNEUMOTHORAX))
    changed["variables"]["chest_drain"]["values"] = ["yes", "no", "unsure"]
    assert Schema.from_dict(changed).digest != schema.digest
    # a known value guards against accidental changes of the canonical form
    small = Schema.from_dict({"name": "s", "variables": {"x": {"values": ["a"]}}})
    import hashlib

    canonical = json.dumps(small.to_dict(), sort_keys=True, separators=(",", ":"))
    assert small.digest == hashlib.sha256(canonical.encode()).hexdigest()


def test_schema_is_immutable(schema):
    with pytest.raises(TypeError):
        schema.variables["new"] = schema.variables["hardware"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        schema.name = "other"  # type: ignore[misc]
    assert hash(schema) == hash(Schema.from_dict(PNEUMOTHORAX))


def test_provenance_names_the_digest(schema):
    p = schema.provenance()
    assert p["digest"] == schema.digest
    assert p["variables"] == ["chest_drain", "airspace_opacity", "hardware"]


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".yaml", YAML), (".yml", YAML)])
def test_from_file_reads_toml_and_yaml_like_json(tmp_path, schema, suffix, text):
    path = tmp_path / f"schema{suffix}"
    path.write_text(text)
    assert Schema.from_file(path) == schema
    json_path = tmp_path / "schema.json"
    json_path.write_text(json.dumps(PNEUMOTHORAX))
    assert Schema.from_file(json_path) == schema


def test_to_json_writes_a_file_from_file_reads(tmp_path, schema):
    path = tmp_path / "out" / "schema.json"
    schema.to_json(path)
    assert Schema.from_file(path) == schema


def test_from_file_with_explicit_format(tmp_path, schema):
    path = tmp_path / "schema.txt"
    path.write_text(TOML)
    assert Schema.from_file(path, format="toml") == schema
    with pytest.raises(ValueError, match=r"suffix '\.txt'"):
        Schema.from_file(path)


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SchemaError, match="not valid YAML"):
        Schema.from_file(path)


def billion_laughs(levels):
    """A YAML schema whose nested aliases expand to 9**levels values (about 600 bytes)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    lines.append(f"variables:\n  drain:\n    values: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(9))  # 9**9 = 387 million values once expanded
    assert len(path.read_bytes()) < 700
    started = time.perf_counter()
    with pytest.raises(SchemaError, match=r"aliases .* expand to more than 100,000 values") as err:
        Schema.from_file(path)
    assert time.perf_counter() - started < 1.0
    assert len(str(err.value)) < 500


def test_yaml_aliases_that_stay_small_are_read(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(
        'variables:\n  drain: {values: &yes_no ["yes", "no"]}\n  opacity: {values: *yes_no}\n'
    )
    assert Schema.from_file(path).variables["opacity"].values == ("yes", "no")
    path.write_text(billion_laughs(4))  # 2 x 6,561 values: large, but under the bound
    with pytest.raises(SchemaError, match="values must be non-empty strings") as err:
        Schema.from_file(path)
    assert max(map(len, err.value.problems)) < 400  # the values are summarised, not printed


def test_invalid_json_is_reported_with_the_path(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"variables": {')
    with pytest.raises(SchemaError, match=r"bad\.json: not valid JSON"):
        Schema.from_file(path)


def test_file_problems_are_prefixed_with_the_path(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"variables": {"x": {"values": []}}}))
    with pytest.raises(SchemaError) as excinfo:
        Schema.from_file(path)
    assert all(p.startswith(str(path)) for p in problems_of(excinfo))


def test_a_file_holding_a_list_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("[1, 2]")
    with pytest.raises(SchemaError, match="must hold a table"):
        Schema.from_file(path)


# -- schema errors ---------------------------------------------------------------
def test_every_schema_problem_is_reported_at_once():
    spec = {
        "nme": "typo",
        "target": 3,
        "variables": {
            "chest_drain": {"values": ["yes", "no"], "applies": "positives"},
            "subtle": {"values": ["yes", "yes"], "applies_to": "positive"},
            "id": {"values": ["a"]},
            "size": {"values": [1, 2]},
            "empty": {"values": []},
            "novalues": {"description": "forgot"},
            "badrule": {
                "values": ["yes", "no"],
                "rule": {"column": "x", "equals": "a", "true_value": "maybe"},
            },
        },
    }
    with pytest.raises(SchemaError) as excinfo:
        Schema.from_dict(spec)
    text = "\n".join(problems_of(excinfo))
    assert "unknown key 'nme'. Did you mean 'name'?" in text
    assert "variables.chest_drain has an unknown key 'applies'. Did you mean 'applies_to'?" in text
    assert "'yes' more than once" in text
    assert "got 'positive'. Did you mean 'positives'?" in text
    assert "'id' is reserved" in text
    assert "write numbers and booleans as strings" in text
    assert "variables.empty.values is empty" in text
    assert "variables.novalues.values must be a list" in text
    assert "variables.badrule.rule can produce 'maybe'" in text
    assert "target must be a non-empty string" in text
    assert len(excinfo.value.problems) == 10
    assert str(excinfo.value).startswith("10 problems found:")


def test_schema_error_is_a_value_error():
    with pytest.raises(ValueError, match="needs 'variables'"):
        Schema.from_dict({"name": "x"})


def test_no_variables_is_an_error():
    with pytest.raises(SchemaError, match="variables is empty"):
        Schema.from_dict({"variables": {}})


def test_duplicate_variables_in_a_list_are_an_error():
    spec = {"variables": [{"name": "a", "values": ["x"]}, {"name": "a", "values": ["y"]}]}
    with pytest.raises(SchemaError, match="defined more than once"):
        Schema.from_dict(spec)


def test_from_dict_refuses_non_mappings():
    with pytest.raises(TypeError, match="spec must be a dict"):
        Schema.from_dict([("variables", {})])  # type: ignore[arg-type]


# -- labels ------------------------------------------------------------------------
@pytest.fixture
def cases():
    ids = ["p1", "p2", "p3", "p4", "n1", "n2", "n3"]
    y = pd.Series([1, 1, 1, 1, 0, 0, 0], index=ids)
    return ids, y


def good_labels():
    return pd.DataFrame(
        {
            "id": ["p1", "p2", "p3", "p4", "n1", "n2", "n3"],
            "chest_drain": ["yes", "no", "yes", None, None, None, None],
            "airspace_opacity": ["no", "yes", np.nan, "no", "yes", "no", ""],
            "hardware": [None, None, None, None, "yes", "no", "no"],
            "annotator": ["a"] * 7,
        }
    )


def test_validate_returns_clean_labels_indexed_by_id(schema, cases):
    _, y = cases
    clean = schema.validate(good_labels(), y_true=y)
    assert clean.index.name == "id"
    assert list(clean.columns) == ["chest_drain", "airspace_opacity", "hardware"]
    assert clean.loc["p1", "chest_drain"] == "yes"
    assert pd.isna(clean.loc["n3", "airspace_opacity"])  # "" means not labelled
    assert pd.isna(clean.loc["p3", "airspace_opacity"])


def test_validate_accepts_an_id_index_and_a_series(schema):
    labels = good_labels().set_index("id")
    assert schema.validate(labels).shape == (7, 3)
    series = labels["chest_drain"]
    assert list(schema.validate(series, variables=["chest_drain"]).columns) == ["chest_drain"]


def test_validate_reports_every_label_problem_at_once(schema, cases):
    _, y = cases
    labels = good_labels().astype(object)
    labels.loc[0, "chest_drain"] = "Yes"
    labels.loc[1, "chest_drain"] = "maybe"
    labels.loc[4, "chest_drain"] = "no"  # a negative case
    labels.loc[5, "hardware"] = "yes"
    labels.loc[2, "hardware"] = "no"  # a positive case
    labels.loc[3, "airspace_opacity"] = 1
    labels = labels.rename(columns={"airspace_opacity": "airspace_opacty"})
    labels = pd.concat([labels, labels.iloc[[6]], pd.DataFrame({"id": ["zz"]})], ignore_index=True)
    with pytest.raises(SchemaError) as excinfo:
        schema.validate(labels, y_true=y)
    problems = problems_of(excinfo)
    text = "\n".join(problems)
    assert "duplicate ids: 'n3'" in text
    assert "no column 'airspace_opacity'" in text
    assert "Is 'airspace_opacty' a misspelling" in text
    assert (
        "has the value 'Yes' (id 'p1'), which is not allowed; the values are ['yes', 'no']. "
        "Did you mean 'yes'?" in text
    )
    assert "has the value 'maybe' (id 'p2')" in text
    assert "values for 1 case(s) that are not positive (id 'n1')" in text
    assert "values for 1 case(s) that are not negative (id 'p3')" in text
    assert "id(s) that are not among the cases: 'zz'" in text
    assert len(problems) == 7


def test_a_non_text_value_is_named_with_its_type(schema):
    labels = pd.DataFrame({"chest_drain": [1]}, index=["p1"])
    with pytest.raises(SchemaError, match=r"value 1 \(of type int, not text\)"):
        schema.validate(labels, variables=["chest_drain"])


def test_many_offending_ids_are_summarised(schema):
    labels = pd.DataFrame({"chest_drain": ["Y"] * 10}, index=[f"p{i}" for i in range(10)])
    with pytest.raises(SchemaError, match=r"10 ids: 'p0', 'p1', 'p2' and 7 more"):
        schema.validate(labels, variables=["chest_drain"])


def test_validate_without_y_true_skips_applies_to(schema):
    labels = good_labels()
    labels.loc[4, "chest_drain"] = "no"
    assert schema.validate(labels).loc["n1", "chest_drain"] == "no"


def test_validate_with_predictions_joins_by_id(schema, cases):
    ids, y = cases
    predictions = Predictions(y.to_numpy(), np.linspace(0, 1, 7), ids=ids)
    labels = good_labels().iloc[::-1]
    schema.validate(labels, predictions=predictions)
    labels.loc[6, "chest_drain"] = "yes"  # row 6 is n3, a negative
    with pytest.raises(SchemaError, match="not positive"):
        schema.validate(labels, predictions=predictions)


def test_validate_with_positional_y_true(schema):
    labels = good_labels()
    schema.validate(labels, y_true=[1, 1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="one entry per labels row"):
        schema.validate(labels, y_true=[1, 0])
    with pytest.raises(ValueError, match="y_true or predictions, not both"):
        schema.validate(labels, y_true=[1] * 7, predictions=Predictions([0, 1], [0.1, 0.2]))


def test_type_mismatch_of_ids_gets_a_hint(schema):
    labels = pd.DataFrame({"chest_drain": ["yes"]}, index=["0"])
    y = pd.Series([1, 0], index=[10, 11])
    with pytest.raises(ValueError, match="its ids are string, the cases' are integer"):
        schema.validate(labels, y_true=y, variables=["chest_drain"])


def test_validate_refuses_other_types(schema):
    with pytest.raises(TypeError, match="labels must be a pandas DataFrame"):
        schema.validate({"chest_drain": ["yes"]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Series without a name"):
        schema.validate(pd.Series(["yes"]))
    with pytest.raises(
        ValueError,
        match=r"variables \['chest_drian'\] are not in the schema.*Did you mean 'chest_drain'",
    ):
        schema.validate(good_labels(), variables=["chest_drian"])


# -- strata ------------------------------------------------------------------------
def test_to_strata_gives_populations_from_applies_to(schema, cases):
    ids, y = cases
    strata = schema.to_strata(good_labels(), y_true=y, ids=ids)
    by_name = {s.name: s for s in strata}
    assert list(by_name) == [
        "chest_drain=yes",
        "chest_drain=no",
        "airspace_opacity=yes",
        "airspace_opacity=no",
        "hardware=yes",
        "hardware=no",
    ]
    drain = by_name["chest_drain=yes"]
    assert drain.population == "positives"
    assert drain.variable == "chest_drain"
    assert drain.level == "yes"
    assert drain.mask.tolist() == [True, False, True, False, False, False, False]
    assert drain.labelled.tolist() == [True, True, True, False, False, False, False]
    assert by_name["hardware=no"].population == "negatives"
    assert by_name["airspace_opacity=yes"].population == "all"
    assert by_name["airspace_opacity=yes"].labelled.tolist() == [
        True,
        True,
        False,
        True,
        True,
        True,
        False,
    ]


def test_to_strata_follows_the_predictions_order(schema, cases):
    ids, y = cases
    order = [*ids[::-1], "extra"]
    predictions = Predictions(np.r_[y.to_numpy()[::-1], 0], np.linspace(0, 1, 8), ids=order)
    strata = schema.to_strata(good_labels(), predictions=predictions)
    drain = next(s for s in strata if s.name == "chest_drain=yes")
    assert drain.mask.tolist() == [False, False, False, False, True, False, True, False]


def test_to_strata_refuses_ids_outside_the_cases(schema):
    with pytest.raises(SchemaError, match="not among the cases: 'n3'"):
        schema.to_strata(good_labels(), ids=["p1", "p2", "p3", "p4", "n1", "n2"])


def test_to_strata_skips_values_nobody_has(schema):
    labels = pd.DataFrame({"chest_drain": ["yes", "yes"]}, index=["a", "b"])
    strata = schema.to_strata(labels, variables=["chest_drain"])
    assert [s.name for s in strata] == ["chest_drain=yes"]


def test_schema_strata_feed_evaluate_with_the_papers_populations():
    rng = np.random.default_rng(1)
    n_pos, n_neg = 200, 400
    ids = [f"c{i}" for i in range(n_pos + n_neg)]
    y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    drain = np.r_[rng.random(n_pos) < 0.7, np.zeros(n_neg, bool)]
    score = rng.normal(size=n_pos + n_neg) + 0.5 * y + 1.5 * drain
    labels = pd.DataFrame({"chest_drain": np.where(drain, "yes", "no")[:n_pos]}, index=ids[:n_pos])
    schema = Schema.from_dict(
        {"variables": {"chest_drain": {"values": ["yes", "no"], "applies_to": "positives"}}}
    )
    predictions = Predictions(y, score, ids=ids)
    strata = schema.to_strata(labels, predictions=predictions)
    report = hstrat.evaluate(y, score, strata, ids=ids, ci="delong", progress=False)
    table = report.table.set_index("stratum")
    assert table.loc["chest_drain=yes", "population"] == "positives"
    assert table.loc["chest_drain=yes", "n_neg"] == n_neg
    assert table.loc["chest_drain=no", "n_pos"] == int((~drain[:n_pos]).sum())
    assert table.loc["chest_drain=no", "auc"] < table.loc["chest_drain=yes", "auc"]


# -- reading labels files ------------------------------------------------------------
def test_read_labels_keeps_text_and_selects_an_annotator(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,chest_drain,annotator,labelled_at\n"
        "001,yes,ann,2024-01-01T00:00:00+00:00\n"
        "002,,ann,2024-01-01T00:00:01+00:00\n"
        "001,no,bob,2024-01-01T00:00:02+00:00\n"
    )
    with pytest.raises(ValueError, match="2 annotators"):
        read_labels(path)
    ann = read_labels(path, annotator="ann")
    assert ann.index.tolist() == ["001", "002"]
    assert ann.loc["001", "chest_drain"] == "yes"
    assert pd.isna(ann.loc["002", "chest_drain"])
    with pytest.raises(ValueError, match="no labels by annotator 'eve'"):
        read_labels(path, annotator="eve")


def test_read_labels_needs_an_id_column(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("case,chest_drain\n1,yes\n")
    with pytest.raises(ValueError, match="no 'id' column"):
        read_labels(path)
    path.write_text("id,chest_drain\n1,yes\n")
    assert read_labels(path).index.tolist() == ["1"]
    with pytest.raises(ValueError, match="no 'annotator' column"):
        read_labels(path, annotator="ann")


# -- boolean values and the built-in schemas -------------------------------------------
def test_boolean_values_accept_bools_and_their_csv_text():
    schema = Schema.from_dict(
        {
            "target": "Pneumothorax",
            "variables": {"chest_drain": {"values": [False, True], "applies_to": "positives"}},
        }
    )
    assert schema.name == "Pneumothorax"  # the target names a schema without a name
    assert schema.variables["chest_drain"].is_boolean
    labels = pd.DataFrame(
        {"chest_drain": [True, "False", "true", np.bool_(False), None]}, index=list("abcde")
    )
    clean = schema.validate(labels)
    assert clean["chest_drain"].tolist()[:4] == [True, False, True, False]
    strata = schema.to_strata(labels)
    assert [s.name for s in strata] == ["chest_drain=False", "chest_drain=True"]
    assert strata[1].level is True
    with pytest.raises(SchemaError, match="The values are booleans: write True or False"):
        schema.validate(pd.DataFrame({"chest_drain": ["yes"]}, index=["a"]))
    with pytest.raises(SchemaError, match="mixes booleans and other values"):
        Schema.from_dict({"variables": {"x": {"values": [True, "no"]}}})


def test_unquoted_yaml_yes_no_are_booleans(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("variables:\n  drain:\n    values: [yes, no]\n")
    assert Schema.from_file(path).variables["drain"].values == (True, False)


def test_outside_ignore_blanks_values_for_cases_a_variable_does_not_apply_to(schema, cases):
    ids, y = cases
    complete = pd.DataFrame(
        {"chest_drain": ["yes", "no", "yes", "no", "no", "no", "yes"]}, index=ids
    )
    with pytest.raises(SchemaError, match="3 case"):
        schema.validate(complete, y_true=y, variables=["chest_drain"])
    clean = schema.validate(complete, y_true=y, variables=["chest_drain"], outside="ignore")
    assert clean["chest_drain"].notna().tolist() == [True, True, True, True, False, False, False]
    strata = schema.to_strata(complete, y_true=y, variables=["chest_drain"], outside="ignore")
    assert strata[0].labelled.tolist() == [True, True, True, True, False, False, False]
    with pytest.raises(ValueError, match="outside must be one of"):
        schema.validate(complete, outside="drop")


def test_builtin_dataset_schemas_are_accepted():
    datasets = pytest.importorskip("hstrat.datasets")
    cxr14 = Schema.from_dict(datasets.cxr14_schema())
    assert cxr14.target == "Pneumothorax"
    assert cxr14.variables["chest_drain"].applies_to == "positives"
    assert cxr14.variables["chest_drain"].values == (False, True)
    mura = Schema.from_dict(datasets.mura_schema())
    body_part = mura.variables["body_part"]
    assert body_part.rule is not None
    assert body_part.rule.matcher == "regex"
    meta = pd.DataFrame(
        {
            "path": [
                "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png",
                "MURA-v1.1/valid/XR_ELBOW/patient11186/study1_negative/image1.png",
            ]
        }
    )
    assert mura.derive(meta)["body_part"].tolist() == ["WRIST", "ELBOW"]


def test_builtin_schema_strata_from_synthetic_metadata():
    datasets = pytest.importorskip("hstrat.datasets")
    data = datasets.make_synthetic_cxr(80, random_state=0)
    meta = data.metadata
    schema = Schema.from_dict(datasets.cxr14_schema())
    y = pd.Series(meta["label"].to_numpy().astype(int), index=meta.index)
    strata = schema.to_strata(
        meta[["chest_drain", "airspace_opacity"]], y_true=y, outside="ignore"
    )
    names = [s.name for s in strata]
    assert "chest_drain=True" in names
    assert "airspace_opacity=False" in names
    drain = next(s for s in strata if s.name == "chest_drain=True")
    assert drain.population == "positives"
    assert not (drain.mask & (y.to_numpy() == 0)).any()


def test_select_keeps_only_the_named_variables():
    from hstrat import Schema
    from hstrat.exceptions import SchemaError

    schema = Schema.from_dict(
        {
            "name": "s",
            "target": "T",
            "variables": {
                "drain": {"values": ["yes", "no"], "applies_to": "positives"},
                "site": {"values": ["a", "b"]},
            },
        }
    )
    only = schema.select(["drain"])
    assert list(only.variables) == ["drain"]
    assert only.variables["drain"] == schema.variables["drain"]
    assert (only.name, only.target) == ("s", "T")
    assert only.digest != schema.digest
    with pytest.raises(SchemaError, match="Did you mean 'drain'"):
        schema.select(["drian"])
