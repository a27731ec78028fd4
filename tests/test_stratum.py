import numpy as np
import pandas as pd
import pytest

from hstrat import Stratum
from hstrat._stratum import as_strata

Y = np.array([1, 1, 1, 0, 0, 0], dtype=bool)


def test_auto_population():
    assert Stratum(np.array([1, 1, 0, 0, 0, 0], bool)).resolve_population(Y) == "positives"
    assert Stratum(np.array([0, 0, 0, 1, 1, 0], bool)).resolve_population(Y) == "negatives"
    assert Stratum(np.array([1, 0, 0, 1, 0, 0], bool)).resolve_population(Y) == "all"
    assert Stratum(np.zeros(6, bool)).resolve_population(Y) == "all"


def test_subsets_follow_the_populations():
    mask = np.array([1, 0, 0, 1, 0, 0], bool)
    pos = Stratum(mask, "positives").subsets(Y)
    assert pos.pos.tolist() == [1, 0, 0, 0, 0, 0]
    assert pos.neg.tolist() == (~Y).tolist()
    assert pos.complement_pos.tolist() == [0, 1, 1, 0, 0, 0]
    assert pos.complement_neg.tolist() == (~Y).tolist()
    neg = Stratum(mask, "negatives").subsets(Y)
    assert neg.pos.tolist() == Y.tolist()
    assert neg.neg.tolist() == [0, 0, 0, 1, 0, 0]
    assert neg.complement_neg.tolist() == [0, 0, 0, 0, 1, 1]
    both = Stratum(mask, "all").subsets(Y)
    assert both.pos.tolist() == [1, 0, 0, 0, 0, 0]
    assert both.neg.tolist() == [0, 0, 0, 1, 0, 0]
    assert both.complement_pos.tolist() == [0, 1, 1, 0, 0, 0]


def test_complement_only_among_labelled():
    mask = np.array([1, 0, 0, 0, 0, 0], bool)
    labelled = np.array([1, 1, 0, 0, 0, 0], bool)
    sub = Stratum(mask, "positives", labelled=labelled).subsets(Y)
    assert sub.complement_pos.tolist() == [0, 1, 0, 0, 0, 0]


def test_mask_must_be_boolean():
    with pytest.raises(TypeError, match="mask must be a boolean mask"):
        Stratum(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="population must be one of"):
        Stratum(np.array([True]), "positive")
    with pytest.raises(ValueError, match="labelled"):
        Stratum(np.array([True, False]), labelled=np.array([False, True]))


def test_as_strata_from_frame_levels_and_nan():
    labels = pd.DataFrame(
        {"drain": ["yes", "no", None, None, None, None], "site": ["a", "b", "a", "b", "a", "b"]}
    )
    items = as_strata(labels, 6)
    assert [s.name for s in items] == ["drain=no", "drain=yes", "site=a", "site=b"]
    drain_no = items[0]
    assert drain_no.variable == "drain"
    assert drain_no.level == "no"
    assert drain_no.mask.tolist() == [False, True, False, False, False, False]
    assert drain_no.labelled.tolist() == [True, True, False, False, False, False]


def test_as_strata_categorical_order_is_kept():
    s = pd.Series(pd.Categorical(["b", "a", "c"], categories=["c", "b", "a"]), name="v")
    assert [x.level for x in as_strata(s, 3)] == ["c", "b", "a"]


def test_as_strata_errors():
    with pytest.raises(ValueError, match=r"must have one entry per case \(3\); got 2"):
        as_strata({"a": np.array([True, False])}, 3)
    with pytest.raises(ValueError, match="overall"):
        as_strata({"overall": np.array([True])}, 1)
    with pytest.raises(TypeError, match="strata must be"):
        as_strata(42, 3)
    with pytest.raises(TypeError, match=r"strata\['a'\] must be a boolean mask"):
        as_strata({"a": [0, 1, 1]}, 3)
    with pytest.raises(ValueError, match="no name"):
        as_strata([Stratum(np.array([True]))], 1)


def test_stratum_equality_and_repr():
    a = Stratum(np.array([True, False]), name="x")
    assert a == Stratum(np.array([True, False]), name="x")
    assert a != Stratum(np.array([False, True]), name="x")
    assert "n=1 of 2" in repr(a)


def test_intersections_equal_hand_built_masks_and_keep_empty_combinations():
    import pandas as pd

    import hstrat
    from hstrat.exceptions import UndefinedMetricWarning
    from hstrat.strata import intersections

    rng = np.random.default_rng(0)
    n = 1500
    y = rng.random(n) < 0.4
    drain = np.where(y, np.where(rng.random(n) < 0.7, "yes", "no"), None)
    size = np.where(y, rng.choice(["small", "large"], n), None)
    site = rng.choice(["a", "b", "c"], n)
    site[(site == "c") & (drain == "no")] = "b"  # no undrained case at site c
    s = rng.normal(size=n) + y + 1.5 * (drain == "yes")
    labels = pd.DataFrame({"drain": drain, "size": size})
    report = hstrat.evaluate(y, s, labels, intersections=True, ci="delong", progress=False)
    table = report.table.set_index("stratum")
    hand = {
        f"drain={d} & size={z}": Stratum((drain == d) & (size == z), name=f"drain={d} & size={z}")
        for d in ("no", "yes")
        for z in ("large", "small")
    }
    direct = hstrat.metrics.stratified_auc(
        y, s, list(hand.values()), ci="delong", reference="overall"
    ).set_index("stratum")
    for name in hand:
        assert table.loc[name, "population"] == "positives"
        assert table.loc[name, "auc"] == pytest.approx(direct.loc[name, "auc"])
        assert table.loc[name, "n_pos"] == direct.loc[name, "n_pos"]
    # the four crossings share one multiplicity family with the plain strata
    assert (report.table["family"].iloc[1:] == "strata").all()
    # empty combinations are rows with a note, not crashes
    with pytest.warns(UndefinedMetricWarning, match="drain=no & site=c"):
        crossed = hstrat.evaluate(
            y,
            s,
            pd.DataFrame({"drain": drain, "size": size, "site": site}),
            intersections=[("drain", "site")],
            ci="delong",
            progress=False,
        )
    row = crossed.table.set_index("stratum").loc["drain=no & site=c"]
    assert row["n_pos"] == 0
    assert "AUC undefined" in row["note"]
    assert len(crossed.table) == 1 + 2 + 2 + 3 + 2 * 3
    with pytest.raises(ValueError, match="Did you mean 'drain'"):
        intersections(as_strata(labels, n), [("drains", "size")])
    with pytest.raises(TypeError, match="intersections must be"):
        hstrat.evaluate(y, s, labels, intersections="drain", progress=False)


def test_stratum_and_refuses_strata_on_different_indexes():
    import pandas as pd

    a = Stratum(pd.Series([True, False], index=["x", "y"]), name="a")
    b = Stratum(pd.Series([True, False], index=["y", "x"]), name="b")
    with pytest.raises(ValueError, match="different pandas indexes"):
        a & b
