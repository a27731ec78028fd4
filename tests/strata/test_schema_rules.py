import numpy as np
import pandas as pd
import pytest

from hstrat import Predictions, Schema
from hstrat.exceptions import SchemaError
from hstrat.strata import Rule


@pytest.fixture
def cxr14():
    """Rows shaped like Data_Entry_2017 joined with Google's expert labels."""
    return pd.DataFrame(
        {
            "Finding Labels": [
                "Pneumothorax",
                "Pneumothorax|Consolidation",
                "Infiltration|Pneumothorax",
                "No Finding",
                "Consolidation",
                "Mass|Nodule",
                None,
            ],
            "View Position": ["PA", "AP", "PA", "AP", "PA", "PA", "AP"],
            "Patient Age": [58, 61, 23, 45, 70, 33, 80],
            "Airspace opacity": ["NO", "YES", "YES", "NO", "YES", "NO", None],
        },
        index=pd.Index([f"0000000{i}_000.png" for i in range(7)], name="Image Index"),
    )


@pytest.fixture
def mura():
    paths = [
        "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png",
        "MURA-v1.1/valid/XR_ELBOW/patient11186/study1_negative/image2.png",
        "MURA-v1.1/valid/XR_FINGER/patient11187/study2_positive/image1.png",
        "MURA-v1.1\\valid\\XR_HUMERUS\\patient11188\\study1_negative\\image1.png",
        "MURA-v1.1/valid/XR_FOREARM/patient11189/study1_positive/image3.png",
        "MURA-v1.1/valid/XR_HAND/patient11190/study1_negative/image1.png",
        "MURA-v1.1/valid/XR_SHOULDER/patient11191/study1_positive/image1.png",
    ]
    return pd.DataFrame({"path": paths}, index=pd.RangeIndex(7, name="id"))


BODY_PARTS = ["elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"]


def test_contains_with_a_separator_matches_whole_findings(cxr14):
    rule = Rule.from_dict(
        {"column": "Finding Labels", "contains": ["Consolidation", "Infiltration"], "sep": "|"}
    )
    assert rule.apply(cxr14).tolist() == ["no", "yes", "yes", "no", "yes", "no", None]
    partial = pd.DataFrame({"Finding Labels": ["Pleural_Thickening", "Consolidation"]})
    whole = Rule.from_dict({"column": "Finding Labels", "contains": "Thickening", "sep": "|"})
    substring = Rule.from_dict({"column": "Finding Labels", "contains": "Thickening"})
    assert whole.apply(partial).tolist() == ["no", "no"]
    assert substring.apply(partial).tolist() == ["yes", "no"]


def test_equals_in_and_custom_values(cxr14):
    pa = Rule.from_dict(
        {"column": "View Position", "equals": "PA", "true_value": "PA", "false_value": "other"}
    )
    assert pa.apply(cxr14).tolist() == ["PA", "other", "PA", "other", "PA", "PA", "other"]
    ages = Rule.from_dict({"column": "Patient Age", "in": [58, 61]})
    assert ages.apply(cxr14).tolist() == ["yes", "yes", "no", "no", "no", "no", "no"]
    folded = Rule.from_dict({"column": "View Position", "equals": "pa", "case_sensitive": False})
    assert folded.apply(cxr14).tolist()[:2] == ["yes", "no"]


def test_map_translates_expert_labels(cxr14):
    rule = Rule.from_dict({"column": "Airspace opacity", "map": {"YES": "yes", "NO": "no"}})
    assert rule.apply(cxr14).tolist() == ["no", "yes", "yes", "no", "yes", "no", None]


def test_regex_yes_no_and_extraction(mura):
    positive = Rule.from_dict({"column": "path", "regex": r"study\d+_positive"})
    assert positive.apply(mura).tolist() == ["yes", "no", "yes", "no", "yes", "no", "yes"]
    part = Rule.from_dict(
        {"column": "path", "regex": r"XR_(?P<part>[A-Z]+)", "group": "part", "case": "lower"}
    )
    assert part.apply(mura).tolist() == [
        "wrist",
        "elbow",
        "finger",
        "humerus",
        "forearm",
        "hand",
        "shoulder",
    ]
    nothing = Rule.from_dict({"column": "path", "regex": r"CT_([A-Z]+)", "group": 1})
    assert nothing.apply(mura).tolist() == [None] * 7


def test_path_component_handles_both_separators(mura):
    rule = Rule.from_dict(
        {"column": "path", "path_component": -4, "strip_prefix": "XR_", "case": "lower"}
    )
    assert rule.apply(mura).tolist() == [
        "wrist",
        "elbow",
        "finger",
        "humerus",
        "forearm",
        "hand",
        "shoulder",
    ]
    too_far = Rule.from_dict({"column": "path", "path_component": 12})
    assert too_far.apply(mura).tolist() == [None] * 7


def test_rule_to_dict_round_trips():
    specs = [
        {"column": "Finding Labels", "contains": ["Consolidation", "Infiltration"], "sep": "|"},
        {"column": "view", "equals": "PA", "true_value": "PA", "false_value": "AP"},
        {
            "column": "path",
            "regex": "XR_([A-Z]+)",
            "group": 1,
            "case": "lower",
            "map": {"wrist": "w"},
        },
        {"column": "path", "path_component": -4, "strip_prefix": "XR_"},
        {"column": "x", "in": ["a", "b"], "case_sensitive": False},
    ]
    for spec in specs:
        assert Rule.from_dict(spec).to_dict() == spec


def test_every_rule_problem_is_reported():
    bad = {
        "colum": "x",
        "equals": "a",
        "regex": "(",
        "group": 3,
        "strip_prefix": "XR_",
        "case": "title",
        "map": {"a": 1},
        "sep": "",
        "case_sensitive": "no",
    }
    with pytest.raises(SchemaError) as excinfo:
        Rule.from_dict(bad)
    text = "\n".join(excinfo.value.problems)
    assert "unknown key 'colum'. Did you mean 'column'?" in text
    assert "needs 'column'" in text
    assert "several matchers ['equals', 'regex']" in text
    assert "group is only used with 'regex'" in text
    assert "sep is only used with 'contains'" in text
    assert "sep must be a non-empty string" in text
    assert "case must be one of ['lower', 'upper']" in text
    assert "map must be a non-empty table" in text
    assert "case_sensitive must be true or false" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"column": "x", "regex": "("}, "not a valid regular expression"),
        ({"column": "x", "regex": "(a)", "group": 2}, "the pattern has 1 group"),
        ({"column": "x", "regex": "(a)", "group": "name"}, "not a named group"),
        ({"column": "x", "regex": "(a)", "group": True}, "group number or name"),
        ({"column": "x", "in": "abc"}, "in must be a non-empty list"),
        ({"column": "x", "equals": ["a"]}, "use 'in' for a list"),
        ({"column": "x", "contains": ""}, "contains must be a non-empty string"),
        ({"column": "x", "path_component": "2"}, "integer index"),
        ({"column": "x", "path_component": 2, "true_value": "y"}, "only used by yes/no matchers"),
        (
            {"column": "x", "equals": "a", "true_value": ""},
            "true_value must be a non-empty string",
        ),
        ({"column": "x", "equals": "a", "strip_prefix": "XR_"}, "only used by rules that extract"),
        ("column x", "must be a table/dict"),
    ],
)
def test_single_rule_problems(spec, message):
    with pytest.raises(SchemaError, match=message):
        Rule.from_dict(spec)  # type: ignore[arg-type]


def test_apply_names_a_missing_column():
    rule = Rule.from_dict({"column": "Finding Label", "contains": "Mass"})
    with pytest.raises(
        ValueError, match=r"no column 'Finding Label'.*Did you mean 'Finding Labels'"
    ):
        rule.apply(pd.DataFrame({"Finding Labels": ["Mass"]}))
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        rule.apply({"Finding Labels": ["Mass"]})  # type: ignore[arg-type]


# -- schemas with rules --------------------------------------------------------------
CXR14_SCHEMA = {
    "name": "CXR14 pneumothorax",
    "target": "Pneumothorax",
    "variables": {
        "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"},
        "airspace_opacity": {
            "values": ["yes", "no"],
            "rule": {"column": "Airspace opacity", "map": {"YES": "yes", "NO": "no"}},
        },
        "consolidation": {
            "values": ["yes", "no"],
            "rule": {
                "column": "Finding Labels",
                "contains": ["Consolidation", "Infiltration"],
                "sep": "|",
            },
        },
        "view": {
            "values": ["PA", "AP"],
            "rule": {"column": "View Position", "map": {"PA": "PA", "AP": "AP"}},
        },
    },
}

MURA_SCHEMA = {
    "name": "MURA abnormal",
    "target": "abnormal",
    "variables": {
        "body_part": {
            "values": BODY_PARTS,
            "rule": {
                "column": "path",
                "path_component": -4,
                "strip_prefix": "XR_",
                "case": "lower",
            },
        },
        "hardware": {"values": ["yes", "no"], "applies_to": "positives"},
    },
}


def test_derive_cxr14_opacity_and_view_without_manual_work(cxr14):
    schema = Schema.from_dict(CXR14_SCHEMA)
    labels = schema.derive(cxr14)
    assert list(labels.columns) == ["airspace_opacity", "consolidation", "view"]
    assert labels.index.equals(cxr14.index)
    assert labels["airspace_opacity"].tolist()[:6] == ["no", "yes", "yes", "no", "yes", "no"]
    assert pd.isna(labels["airspace_opacity"].iloc[6])
    assert labels["view"].tolist() == ["PA", "AP", "PA", "AP", "PA", "PA", "AP"]
    strata = schema.to_strata(labels, variables=["airspace_opacity", "view"])
    assert [s.name for s in strata] == [
        "airspace_opacity=yes",
        "airspace_opacity=no",
        "view=PA",
        "view=AP",
    ]
    assert strata[0].population == "all"


def test_derive_mura_body_part(mura):
    schema = Schema.from_dict(MURA_SCHEMA)
    labels = schema.derive(mura)
    assert labels["body_part"].tolist() == [
        "wrist",
        "elbow",
        "finger",
        "humerus",
        "forearm",
        "hand",
        "shoulder",
    ]
    schema.validate(labels, variables=["body_part"])


def test_derive_from_predictions_leaves_out_of_population_cases_empty(mura):
    spec = {
        "variables": {
            "wrist_fracture_site": {
                "values": ["yes", "no"],
                "applies_to": "positives",
                "rule": {"column": "path", "regex": "XR_WRIST"},
            }
        }
    }
    schema = Schema.from_dict(spec)
    y = np.array([1, 0, 1, 0, 1, 0, 1], bool)
    predictions = Predictions(y, np.linspace(0, 1, 7), ids=mura.index, metadata=mura)
    labels = schema.derive(predictions)
    assert labels["wrist_fracture_site"].tolist()[0] == "yes"
    assert labels["wrist_fracture_site"][~y].isna().all()
    assert (labels["wrist_fracture_site"][y].notna()).all()
    schema.validate(labels, predictions=predictions)


def test_derive_reports_values_the_variable_does_not_allow(mura):
    spec = {
        "variables": {
            "body_part": {"values": BODY_PARTS, "rule": {"column": "path", "path_component": -4}}
        }
    }
    with pytest.raises(SchemaError) as excinfo:
        Schema.from_dict(spec).derive(mura)
    problems = excinfo.value.problems
    assert len(problems) == 7
    assert "derived 'XR_WRIST' for 1 case(s) (0)" in problems[0]
    assert "give the rule a 'map' or 'case'" in problems[0]


def test_derive_reports_missing_columns_together(cxr14):
    schema = Schema.from_dict(CXR14_SCHEMA)
    with pytest.raises(SchemaError) as excinfo:
        schema.derive(cxr14.drop(columns=["Airspace opacity", "View Position"]))
    assert len(excinfo.value.problems) == 2
    assert "no column 'View Position'" in excinfo.value.problems[1]


def test_derive_needs_rules_and_metadata(cxr14):
    schema = Schema.from_dict({"variables": {"drain": {"values": ["yes", "no"]}}})
    with pytest.raises(ValueError, match="has no rules"):
        schema.derive(cxr14)
    with pytest.raises(ValueError, match="no metadata"):
        Schema.from_dict(CXR14_SCHEMA).derive(Predictions([0, 1], [0.1, 0.2]))
    with pytest.raises(TypeError, match="DataFrame or Predictions"):
        Schema.from_dict(CXR14_SCHEMA).derive([1, 2])  # type: ignore[arg-type]


def test_a_rule_producing_a_value_outside_the_schema_is_a_schema_error():
    spec = {
        "variables": {
            "view": {
                "values": ["PA", "AP"],
                "rule": {"column": "v", "map": {"PA": "PA", "LL": "lateral"}},
            }
        }
    }
    with pytest.raises(SchemaError, match="can produce 'lateral'"):
        Schema.from_dict(spec)


def test_a_regex_with_a_group_extracts_group_one_by_default(mura):
    rule = Rule.from_dict({"column": "path", "regex": r"XR_([A-Z]+)"})
    assert not rule.is_boolean
    assert rule.apply(mura).tolist()[:2] == ["WRIST", "ELBOW"]
    plain = Rule.from_dict({"column": "path", "regex": r"XR_WRIST"})
    assert plain.is_boolean
    assert plain.apply(mura).tolist()[:2] == ["yes", "no"]


def test_pattern_is_another_name_for_regex(mura):
    rule = Rule.from_dict({"column": "path", "pattern": r"XR_([A-Z]+)"})
    assert rule == Rule.from_dict({"column": "path", "regex": r"XR_([A-Z]+)"})
    assert rule.to_dict() == {"column": "path", "regex": r"XR_([A-Z]+)"}
    with pytest.raises(SchemaError, match="has both 'pattern' and 'regex'"):
        Rule.from_dict({"column": "path", "pattern": "a", "regex": "b"})


def test_yes_no_rules_give_booleans_for_boolean_variables(cxr14):
    spec = {
        "variables": {
            "consolidation": {
                "values": [False, True],
                "rule": {"column": "Finding Labels", "contains": "Consolidation", "sep": "|"},
            }
        }
    }
    labels = Schema.from_dict(spec).derive(cxr14)
    assert labels["consolidation"].tolist()[:6] == [False, True, False, False, True, False]
    spec["variables"]["consolidation"]["rule"]["true_value"] = "yes"
    with pytest.raises(SchemaError, match="a yes/no rule gives True/False itself"):
        Schema.from_dict(spec)
