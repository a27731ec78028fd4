import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from hstrat import Schema
from hstrat.exceptions import SchemaError, UndefinedMetricWarning
from hstrat.strata import agreement, cohen_kappa, disagreements, merge_labels

SCHEMA = Schema.from_dict(
    {
        "variables": {
            "chest_drain": {"values": ["yes", "no"], "applies_to": "positives"},
            "opacity": {"values": ["none", "mild", "severe"]},
        }
    }
)


def two_annotators(rng, n, categories, accuracy):
    truth = rng.choice(categories, size=n)

    def noisy():
        keep = rng.random(n) < accuracy
        return np.where(keep, truth, rng.choice(categories, size=n))

    return noisy(), noisy()


@pytest.mark.parametrize("seed", range(6))
def test_kappa_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    categories = ["a", "b", "c"][: 2 + seed % 2]
    a, b = two_annotators(rng, 50 + 30 * seed, categories, accuracy=0.4 + 0.1 * seed)
    result = cohen_kappa(a, b)
    assert result.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert result.n == len(a)
    assert result.n_agree == int((a == b).sum())
    assert result.observed_agreement == pytest.approx((a == b).mean())


def test_kappa_matches_a_brute_force_count():
    rng = np.random.default_rng(3)
    a, b = two_annotators(rng, 120, ["x", "y", "z"], accuracy=0.6)
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    p_e = sum(list(a).count(c) * list(b).count(c) for c in {*a, *b}) / n**2
    result = cohen_kappa(a, b)
    assert result.observed_agreement == pytest.approx(p_o, abs=1e-12)
    assert result.expected_agreement == pytest.approx(p_e, abs=1e-12)
    assert result.kappa == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-12)


def test_standard_error_matches_statsmodels_fleiss_cohen_everitt():
    rng = np.random.default_rng(11)
    a, b = two_annotators(rng, 200, ["none", "mild", "severe"], accuracy=0.6)
    result = cohen_kappa(a, b)
    categories = sorted(set(a) | set(b))
    table = pd.crosstab(pd.Categorical(a, categories), pd.Categorical(b, categories), dropna=False)
    reference = statsmodels_kappa(table.to_numpy())  # 95% interval
    assert result.kappa == pytest.approx(reference.kappa, abs=1e-12)
    assert result.standard_error == pytest.approx(reference.std_kappa, rel=1e-10)
    assert result.ci_low == pytest.approx(reference.kappa_low, rel=1e-10)
    assert result.ci_high == pytest.approx(reference.kappa_upp, rel=1e-10)
    assert result.to_frame().loc[0, "kappa"] == result.kappa


def test_kappa_interval_covers_the_truth():
    rng = np.random.default_rng(5)
    n, reps = 300, 300
    truth_a, truth_b = two_annotators(rng, 200_000, ["x", "y", "z"], accuracy=0.7)
    true_kappa = cohen_kappa_score(truth_a, truth_b)
    hits = 0
    for _ in range(reps):
        idx = rng.integers(0, len(truth_a), size=n)
        r = cohen_kappa(truth_a[idx], truth_b[idx])
        hits += r.ci_low <= true_kappa <= r.ci_high
    assert 0.91 <= hits / reps <= 0.98


def test_missing_labels_are_left_out_pairwise():
    a = ["yes", "no", None, "yes", np.nan, ""]
    b = ["yes", "yes", "no", None, "no", "no"]
    result = cohen_kappa(a, b)
    assert result.n == 2
    assert result.kappa == pytest.approx(cohen_kappa_score(["yes", "no"], ["yes", "yes"]))


def test_undefined_kappa_is_nan_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="one value to every case"):
        result = cohen_kappa(["yes"] * 5, ["yes"] * 5)
    assert np.isnan(result.kappa)
    assert result.n == 5
    assert result.n_agree == 5
    with pytest.warns(UndefinedMetricWarning, match="no case was labelled by both"):
        assert np.isnan(cohen_kappa(["yes", None], [None, "no"]).kappa)


def test_perfect_agreement_has_kappa_one():
    result = cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"])
    assert result.kappa == 1.0
    assert result.ci_high == 1.0


def test_kappa_argument_checks():
    with pytest.raises(ValueError, match="one entry per case"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match=r"confidence_level must be in \(0, 1\)"):
        cohen_kappa(["a"], ["a"], confidence_level=95)


# -- per variable ------------------------------------------------------------------
@pytest.fixture
def labels():
    ids = [f"c{i}" for i in range(8)]
    a = pd.DataFrame(
        {
            "chest_drain": ["yes", "yes", "no", "no", None, None, None, None],
            "opacity": ["none", "mild", "severe", "none", "mild", "none", "mild", None],
        },
        index=ids,
    )
    b = pd.DataFrame(
        {
            "chest_drain": ["yes", "no", "no", None, "yes", None, None, None],
            "opacity": ["none", "mild", "mild", "none", "mild", "severe", None, "none"],
        },
        index=ids,
    ).iloc[::-1]  # matched by id, not position
    return a, b


def test_agreement_table_per_variable(labels):
    a, b = labels
    table = agreement(a, b, SCHEMA)
    assert list(table.columns) == [
        "variable",
        "n_a",
        "n_b",
        "n",
        "n_agree",
        "n_disagree",
        "observed_agreement",
        "kappa",
        "kappa_low",
        "kappa_high",
        "kappa_se",
        "note",
    ]
    drain = table.set_index("variable").loc["chest_drain"]
    assert (drain["n_a"], drain["n_b"], drain["n"], drain["n_agree"], drain["n_disagree"]) == (
        4,
        4,
        3,
        2,
        1,
    )
    assert drain["kappa"] == pytest.approx(
        cohen_kappa_score(["yes", "yes", "no"], ["yes", "no", "no"])
    )
    opacity = table.set_index("variable").loc["opacity"]
    both = a.index[a["opacity"].notna() & b.reindex(a.index)["opacity"].notna()]
    assert opacity["n"] == len(both) == 6
    assert opacity["kappa"] == pytest.approx(
        cohen_kappa_score(a.loc[both, "opacity"], b.loc[both, "opacity"])
    )


def test_agreement_without_schema_uses_shared_columns(labels):
    a, b = labels
    a = a.assign(annotator="ann")
    b = b.assign(annotator="bob", notes="x")
    table = agreement(a, b)
    assert table["variable"].tolist() == ["chest_drain", "opacity"]
    with pytest.raises(ValueError, match="share no variable columns"):
        agreement(a[["annotator"]], b[["notes"]])


def test_agreement_notes_undefined_kappa():
    a = pd.DataFrame({"chest_drain": ["yes", "yes"], "opacity": [None, None]}, index=["x", "y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = agreement(a, a, SCHEMA).set_index("variable")
    assert "one value to every case" in table.loc["chest_drain", "note"]
    assert table.loc["opacity", "note"] == "no case labelled by both annotators"


def test_agreement_validates_both_against_the_schema(labels):
    a, b = labels
    b = b.astype(object)
    b.loc["c1", "opacity"] = "Mild"
    with pytest.raises(SchemaError, match="labels_b: labels\\['opacity'\\] has the value 'Mild'"):
        agreement(a, b, SCHEMA)


def test_disagreements_list_conflicts_only(labels):
    a, b = labels
    table = disagreements(a, b, SCHEMA)
    assert table.to_dict("records") == [
        {"id": "c1", "variable": "chest_drain", "value_a": "yes", "value_b": "no"},
        {"id": "c2", "variable": "opacity", "value_a": "severe", "value_b": "mild"},
        {"id": "c5", "variable": "opacity", "value_a": "none", "value_b": "severe"},
    ]
    empty = disagreements(a, a, SCHEMA)
    assert list(empty.columns) == ["id", "variable", "value_a", "value_b"]
    assert len(empty) == 0


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # ids c0..c7 of opacity: a = none mild severe none mild none mild -
        #                        b = none mild mild   none mild severe -  none
        ("agree", ["none", "mild", None, "none", "mild", None, None, None]),
        ("either", ["none", "mild", None, "none", "mild", None, "mild", "none"]),
        ("prefer_a", ["none", "mild", "severe", "none", "mild", "none", "mild", "none"]),
        ("prefer_b", ["none", "mild", "mild", "none", "mild", "severe", "mild", "none"]),
    ],
)
def test_merge_rules(labels, rule, expected):
    a, b = labels
    merged = merge_labels(a, b, SCHEMA, rule=rule)
    assert merged.index.tolist() == a.index.tolist()
    got = [None if pd.isna(v) else v for v in merged["opacity"]]
    assert got == expected
    SCHEMA.validate(merged)


def test_merge_keeps_ids_only_one_annotator_saw():
    a = pd.DataFrame({"opacity": ["none"]}, index=["x"])
    b = pd.DataFrame({"opacity": ["mild"]}, index=["y"])
    merged = merge_labels(a, b, rule="either")
    assert merged["opacity"].to_dict() == {"x": "none", "y": "mild"}
    assert merged.index.name == "id"
    with pytest.raises(ValueError, match=r"rule must be one of .* Did you mean 'agree'"):
        merge_labels(a, b, rule="agreed")


def test_duplicate_ids_are_refused_without_schema():
    a = pd.DataFrame({"opacity": ["none", "mild"]}, index=["x", "x"])
    with pytest.raises(ValueError, match="labels_a has duplicate ids"):
        agreement(a, a)
