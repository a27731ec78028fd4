"""Every way a user hands over per-case data gives the aligned truth or a clear refusal.

The truth is scikit-learn's AUC on a table whose rows were lined up by hand. Each case
below is an ordinary pandas habit (a slice, a shuffle, a filter, a fresh DataFrame from
arrays, a MultiIndex, a review sample covering some cases); none may give a wrong number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

import hstrat
from hstrat.metrics import auc, bootstrap_ci, delong_ci, stratified_auc

N = 300


def frame(index: pd.Index | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.random(N) < 0.45
    drain = y & (rng.random(N) < 0.7)
    d = pd.DataFrame(
        {
            "y": y.astype(int),  # 0/1 integers, as most files have them
            "drain": drain,
            "site": rng.choice(["a", "b", "c"], N),
            "patient": rng.integers(0, 120, N),
            "w": rng.uniform(0.5, 2.0, N),
        }
    )
    d["p"] = rng.normal(size=N) + d.y + 1.5 * drain + 0.5 * (d.site == "b")
    return d if index is None else d.set_axis(index)


def truth(d: pd.DataFrame) -> dict[str, float]:
    """AUCs of the rows as lined up in ``d``, by scikit-learn."""
    y, p = d.y.to_numpy(), d.p.to_numpy()
    neg = y == 0
    drain = d.drain.to_numpy()
    out = {"overall": roc_auc_score(y, p), "drain": roc_auc_score(y[drain | neg], p[drain | neg])}
    for site in ("a", "b", "c"):
        m = (d.site == site).to_numpy()
        out[f"site={site}"] = roc_auc_score(y[m], p[m])
    return out


def aucs(table: pd.DataFrame) -> dict[str, float]:
    return dict(zip(table["stratum"], table["auc"], strict=True))


def check(result: pd.DataFrame, d: pd.DataFrame) -> None:
    got, want = aucs(result), truth(d)
    for name, value in got.items():
        assert value == pytest.approx(want[name], abs=1e-12), name


INDEXES = {
    "default": lambda: pd.RangeIndex(N),
    "offset": lambda: pd.RangeIndex(1000, 1000 + N),
    "step": lambda: pd.RangeIndex(0, 2 * N, 2),
    "shuffled ints": lambda: pd.Index(np.random.default_rng(9).permutation(N) + 50),
    "strings": lambda: pd.Index([f"img{i:04d}" for i in range(N)]),
    "multi": lambda: pd.MultiIndex.from_arrays([np.arange(N) // 3, np.arange(N) % 3]),
}


def both(y, p, strata, **kw):
    """stratified_auc and evaluate on the same arguments: the same numbers, always."""
    kw = {"ci": "delong", "random_state": 0, "n_resamples": 200, **kw}  # 200 permutations
    a = stratified_auc(y, p, strata, **kw)
    b = hstrat.evaluate(y, p, strata, progress=False, **kw).table
    cols = ["stratum", "n", "n_pos", "n_neg", "n_unlabelled", "auc", "auc_low", "p_value"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    return a


@pytest.mark.parametrize("kind", list(INDEXES))
@pytest.mark.parametrize(
    "slicing",
    ["whole", "iloc", "boolean", "shuffled"],
)
def test_inputs_that_share_an_index_are_computed_whatever_the_index(kind, slicing):
    d = frame(INDEXES[kind]())
    if slicing == "iloc":
        d = d.iloc[40:]
    elif slicing == "boolean":
        d = d[d.w > 0.8]
    elif slicing == "shuffled":
        d = d.sample(frac=1, random_state=3)
    check(both(d.y, d.p, {"drain": d.drain}), d)
    check(both(d.y, d.p, {"drain": d.drain.to_numpy()}), d)
    check(both(d.y, d.p, d.site), d)
    check(both(d.y, d.p, d[["site"]]), d)


@pytest.mark.parametrize("container", [np.asarray, list, pd.Series])
def test_plain_arrays_and_default_indexes_pair_by_position(container):
    d = frame().sample(frac=1, random_state=1).reset_index(drop=True)
    y, p = container(d.y.to_numpy()), container(d.p.to_numpy())
    check(both(y, p, {"drain": d.drain.to_numpy()}), d)
    check(both(y, p, pd.DataFrame({"site": d.site.to_numpy()})), d)


@pytest.mark.parametrize("kind", [k for k in INDEXES if k != "default"])
def test_labels_keyed_by_the_same_ids_in_another_order_are_realigned(kind):
    d = frame(INDEXES[kind]())
    other_order = d.sample(frac=1, random_state=7)
    check(both(d.y, d.p, other_order.site), d)
    check(both(d.y, d.p, {"drain": other_order.drain}), d)
    # and the scores too: a pandas y_score is lined up with y_true by the same rule
    check(both(d.y, other_order.p, other_order[["site"]]), d)


def test_a_fresh_table_next_to_ids_is_refused_not_guessed():
    d = frame().sample(frac=1, random_state=1)  # ids 0..N-1, shuffled
    fresh = pd.DataFrame({"site": d.site.to_numpy()})  # index 0..N-1 in order
    with pytest.raises(ValueError, match=r"positions or ids.*set_axis\(y_true.index\)"):
        both(d.y, d.p, fresh)
    with pytest.raises(ValueError, match=r"positions or ids.*to_numpy"):
        both(d.y, d.p, {"drain": pd.Series(d.drain.to_numpy())})
    # the same intent stated: by position, or by id
    check(both(d.y, d.p, fresh.set_axis(d.index)), d)
    check(both(d.y, d.p, {"drain": d.drain.to_numpy()}), d)


def test_arrays_for_the_labels_and_a_table_keyed_by_ids_are_refused():
    d = frame(INDEXES["offset"]()).iloc[50:]
    with pytest.raises(ValueError, match=r"only positions.*reset_index"):
        both(d.y.to_numpy(), d.p.to_numpy(), d[["site"]])
    with pytest.raises(ValueError, match="to_numpy"):
        both(d.y.to_numpy(), d.p.to_numpy(), {"drain": d.drain})
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(d.y.to_numpy(), d.p.to_numpy(), groups=d.patient, n_resamples=10)
    with pytest.raises(ValueError, match="sample_weight"):
        auc(d.y.to_numpy(), d.p.to_numpy(), sample_weight=d.w)


def test_partial_labels_are_unlabelled_but_partial_masks_groups_and_weights_are_refused():
    d = frame(INDEXES["strings"]())
    reviewed = d.sample(200, random_state=2)
    table = both(d.y, d.p, reviewed.site)
    assert (table["n_unlabelled"].iloc[1:] == N - 200).all()
    sub = d.loc[reviewed.index]
    for name, value in aucs(table).items():
        if name != "overall":
            assert value == pytest.approx(truth(sub)[name], abs=1e-12)
    with pytest.raises(ValueError, match=r"strata\['drain'\] has no entry for 100"):
        both(d.y, d.p, {"drain": reviewed.drain})
    with pytest.raises(ValueError, match="groups has no entry for 100"):
        delong_ci(d.y, d.p, groups=reviewed.patient)
    with pytest.raises(ValueError, match="sample_weight has no entry for 100"):
        auc(d.y, d.p, sample_weight=reviewed.w)
    with pytest.raises(ValueError, match="embeddings has no entry"):
        hstrat.evaluate(d.y, d.p, embeddings=pd.DataFrame(np.ones((200, 2)), index=sub.index))


def test_ids_outside_the_cases_are_refused_for_masks_and_warned_for_labels():
    d = frame(INDEXES["strings"]())
    extra = pd.concat([d.site, pd.Series(["a"], index=["stranger"])])
    with pytest.warns(UserWarning, match="1 ids that are not among the cases"):
        check(both(d.y, d.p, extra.rename("site")), d)
    mask = pd.concat([d.drain, pd.Series([True], index=["stranger"])])
    with pytest.raises(ValueError, match="1 ids that are not among the cases"):
        both(d.y, d.p, {"drain": mask})
    with pytest.raises(ValueError, match="none of strata's ids"):
        both(d.y, d.p, d.site.set_axis(range(5000, 5000 + N)))


def test_duplicated_missing_and_blank_ids_are_refused():
    d = frame(INDEXES["strings"]())
    doubled = pd.concat([d.iloc[:10], d.iloc[:10]])
    with pytest.raises(ValueError, match="y_true's index has duplicate ids"):
        both(doubled.y, doubled.p, None)
    labels = pd.concat([d.site.iloc[:5], d.site.iloc[:5]])
    with pytest.raises(ValueError, match="strata's index has duplicate ids"):
        both(d.y, d.p, labels)
    with pytest.raises(ValueError, match="missing or blank id at position 2"):
        hstrat.evaluate([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], ids=["a", "b", " ", "d"])
    with pytest.raises(ValueError, match="missing or blank id"):
        both(d.y.set_axis([None, *d.index[1:]]), d.p.to_numpy(), None)


def test_ids_argument_names_the_rows_of_y_true():
    d = frame(INDEXES["offset"]())
    ids = pd.Index([f"x{i}" for i in range(N)])
    keyed = d.site.set_axis(ids).sample(frac=1, random_state=4)
    report = hstrat.evaluate(d.y, d.p, keyed, ids=ids, ci="delong", random_state=0, progress=False)
    check(report.table, d)
    # y_true's own index is still understood as the same rows
    report = hstrat.evaluate(
        d.y, d.p, d[["site"]], ids=ids, ci="delong", random_state=0, progress=False
    )
    check(report.table, d)
    assert report.predictions.ids.equals(ids)


def test_metadata_groups_and_embeddings_follow_the_rule():
    d = frame(INDEXES["strings"]())
    shuffled = d.sample(frac=1, random_state=5)
    meta = shuffled[["patient", "site"]]
    report = hstrat.evaluate(
        d.y,
        d.p,
        lambda m: m[["site"]],
        metadata=meta,
        groups="patient",
        ci="delong",
        random_state=0,
        progress=False,
    )
    direct = hstrat.evaluate(
        d.y.to_numpy(),
        d.p.to_numpy(),
        d[["site"]].reset_index(drop=True),
        groups=d.patient.to_numpy(),
        ci="delong",
        random_state=0,
        progress=False,
    )
    pd.testing.assert_series_equal(report.table["auc_se"], direct.table["auc_se"])
    assert report.provenance["groups"] == "patient"
    emb = pd.DataFrame(np.arange(2 * N).reshape(N, 2), index=d.index)
    got = hstrat.evaluate(
        d.y,
        d.p,
        embeddings=emb.sample(frac=1, random_state=6),
        ci="delong",
        random_state=0,
        progress=False,
    )
    assert np.array_equal(got.predictions.embeddings, emb.to_numpy())


def test_strata_from_a_schema_keep_their_ids():
    schema = hstrat.Schema.from_dict(
        {"variables": {"drain": {"values": ["yes", "no"], "applies_to": "positives"}}}
    )
    d = frame(INDEXES["strings"]())
    pos = d[d.y == 1]
    labels = pd.DataFrame({"drain": np.where(pos.drain, "yes", "no")}, index=pos.index)
    strata = schema.to_strata(labels.iloc[::-1], y_true=d.y)
    shuffled = d.sample(frac=1, random_state=8)
    report = hstrat.evaluate(
        shuffled.y, shuffled.p, strata, ci="delong", random_state=0, progress=False
    )
    want = truth(d)["drain"]
    assert aucs(report.table)["drain=yes"] == pytest.approx(want, abs=1e-12)


def test_empty_input_names_y_true():
    with pytest.raises(ValueError, match="y_true is empty"):
        stratified_auc([], [], None)
    with pytest.raises(ValueError, match="y_true is empty"):
        auc(pd.Series([], dtype=int), pd.Series([], dtype=float))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(INDEXES)),
    seed=st.integers(0, 2**16),
    alone=st.sampled_from(["p", "site", "drain", "patient"]),
)
def test_permutations_change_nothing_or_are_refused(kind, seed, alone):
    d = frame(INDEXES[kind](), seed=seed % 7)
    perm = np.random.default_rng(seed).permutation(N)

    def run(y, p, site, drain, patient):
        return stratified_auc(
            y,
            p,
            {"drain": drain, **{f"site={s}": site == s for s in "abc"}},
            ci="delong",
            random_state=0,
            groups=patient,
        )

    base = run(d.y, d.p, d.site, d.drain, d.patient)
    # every input permuted together: not a single number changes
    q = d.iloc[perm]
    together = run(q.y, q.p, q.site, q.drain, q.patient)
    pd.testing.assert_frame_equal(together, base)
    # one pandas input permuted alone: realigned by id; refused where an index is 0..n-1
    args = {c: d[c] for c in ("y", "p", "site", "drain", "patient")}
    args[alone] = d[alone].iloc[perm]
    if kind == "default":
        with pytest.raises(ValueError, match="positions or ids"):
            run(**args)
    else:
        pd.testing.assert_frame_equal(run(**args), base)
