import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import hstrat
from hstrat._audit import _cache, _distributed
from hstrat._audit._cache import Collected
from hstrat._audit._distributed import (
    copy_rows,
    loader_positions,
    merge_plan,
    merge_rows,
    shard_group,
)
from hstrat.exceptions import SmallStratumWarning

WORKER = Path(__file__).with_name("distributed_worker.py")
sys.path.insert(0, str(WORKER.parent))
import distributed_worker as worker  # noqa: E402  (the builders the launched script uses)

# -- the merge, without a process group ---------------------------------------------------


def sharded(n, world, shuffle=False, seed=0):
    data = TensorDataset(torch.zeros(n))
    return [
        np.array(list(DistributedSampler(data, world, r, shuffle=shuffle, seed=seed)))
        for r in range(world)
    ]


def shards_of(values, positions, embeddings=None, ids=None):
    out = []
    for p in positions:
        out.append(
            Collected(
                scores=values[p].astype(float),
                labels=values[p] % 2 == 0,
                ids=None if ids is None else ids[p],
                metadata={"half": values[p] // 2},
                embeddings=None if embeddings is None else embeddings[p],
            )
        )
    return out


def merge_shards(shards, plan):
    """The whole merge in memory: small arrays, then embeddings rank by rank."""
    merged = merge_rows(shards, plan)
    present = [s for s in shards if s is not None and s.embeddings is not None]
    if present:
        merged.embeddings = np.empty((len(plan.take), present[0].embeddings.shape[1]), "f4")
        for rank, shard in enumerate(shards):
            if shard is not None:
                copy_rows(merged.embeddings, shard.embeddings, plan, rank)
    return merged


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "world"), [(10, 3), (7, 2), (2, 4), (12, 4)])
def test_merge_restores_the_data_set_order_and_drops_the_padding(n, world, shuffle):
    positions = sharded(n, world, shuffle)
    assert sum(map(len, positions)) >= n  # padded to equal shards
    values = np.arange(n) * 10
    emb = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    shards = shards_of(values, positions, emb, ids)
    plan = merge_plan([s.labels for s in shards], positions=positions, ids=[s.ids for s in shards])
    assert plan.positions.tolist() == list(range(n))
    assert not plan.shuffled
    merged = merge_shards(shards, plan)
    np.testing.assert_array_equal(merged.scores, values.astype(float))
    np.testing.assert_array_equal(merged.labels, values % 2 == 0)
    np.testing.assert_array_equal(merged.ids, ids)
    np.testing.assert_array_equal(merged.metadata["half"], values // 2)
    np.testing.assert_array_equal(merged.embeddings, emb)


def test_merge_keeps_the_first_copy_in_the_samplers_padded_order():
    # the sampler pads with the first samples: rank 1's last row is sample 0 again
    positions = [np.array([0, 2, 4]), np.array([1, 3, 0])]
    labels = [np.array([True, False, True]), np.array([False, False, True])]
    plan = merge_plan(labels, positions=positions)
    assert plan.take.tolist() == [0, 3, 1, 4, 2]  # row 5 (rank 1's copy of 0) dropped
    assert plan.counts == (3, 3)


def test_merge_without_padding_positions_as_ids_when_not_a_range():
    # a sampler over part of the data set: the positions become the ids
    positions = [np.array([8, 2]), np.array([5])]
    shards = shards_of(np.arange(10), positions)
    plan = merge_plan([s.labels for s in shards], positions=positions)
    merged = merge_shards(shards, plan)
    assert merged.ids.tolist() == [2, 5, 8]
    np.testing.assert_array_equal(merged.scores, [2.0, 5.0, 8.0])


def test_merge_positions_from_zero_to_n_give_no_ids():
    positions = sharded(5, 2)
    shards = shards_of(np.arange(5), positions)
    merged = merge_shards(shards, merge_plan([s.labels for s in shards], positions=positions))
    assert merged.ids is None  # collect() makes them a RangeIndex, as in one process


def test_merge_refuses_duplicates_that_disagree():
    positions = [np.array([0, 1]), np.array([2, 0])]
    with pytest.raises(ValueError, match=r"Ranks 0 and 1 both yielded data-set position 0"):
        merge_plan([np.array([True, True]), np.array([True, False])], positions=positions)
    ids = [np.array(["a", "b"]), np.array(["c", "z"])]
    labels = [np.array([True, True]), np.array([True, True])]
    with pytest.raises(ValueError, match=r"different ids \('a' and 'z'\)"):
        merge_plan(labels, positions=positions, ids=ids)


def test_merge_refuses_a_sampler_that_lists_other_samples_than_were_yielded():
    with pytest.raises(ValueError, match=r"On rank 1 the loader yielded 2 samples but its"):
        merge_plan(
            [np.array([True]), np.array([True, False])],
            positions=[np.array([0]), np.array([1, 2, 3])],
        )


def test_merge_by_id_sorts_and_keeps_one_copy_from_the_lowest_rank():
    labels = [np.array([True, False]), np.array([False, True])]
    ids = [np.array(["c", "a"]), np.array(["b", "c"])]
    plan = merge_plan(labels, ids=ids)
    assert plan.shuffled
    assert plan.positions is None
    assert plan.take.tolist() == [1, 2, 0]  # a, b, c (c from rank 0)


def test_merge_by_id_mixed_types_keep_the_ranks_order():
    labels = [np.array([True, False]), np.array([False])]
    ids = [np.array([3, "a"], dtype=object), np.array([1], dtype=object)]
    assert merge_plan(labels, ids=ids).take.tolist() == [0, 1, 2]


def test_merge_by_id_refuses_an_id_twice_on_one_rank():
    with pytest.raises(ValueError, match="On rank 0 the loader yielded the sample ids"):
        merge_plan(
            [np.array([True, False]), np.array([True])],
            ids=[np.array(["a", "a"]), np.array(["b"])],
        )


def test_merge_needs_positions_or_ids():
    with pytest.raises(ValueError, match="DistributedSampler"):
        merge_plan([np.array([True]), np.array([False])])


def test_merge_skips_ranks_without_rows_and_refuses_when_all_are_empty():
    a = Collected(np.array([0.5]), np.array([True]), np.array(["x"]))
    plan = merge_plan([a.labels, np.zeros(0, bool)], ids=[a.ids, np.zeros(0)])
    assert merge_shards([a, None], plan).ids.tolist() == ["x"]
    with pytest.raises(ValueError, match="all ranks yielded no batches"):
        merge_shards([None, None], merge_plan([np.zeros(0, bool)] * 2, ids=[np.zeros(0)] * 2))


def test_embeddings_are_copied_in_bounded_blocks(monkeypatch):
    monkeypatch.setattr(_distributed, "COPY_BYTES", 8)  # two float32 values: one row per copy
    positions = sharded(9, 2, shuffle=True)
    emb = np.random.default_rng(0).random((9, 2), dtype=np.float32)
    shards = shards_of(np.arange(9), positions, emb)
    merged = merge_shards(shards, merge_plan([s.labels for s in shards], positions=positions))
    np.testing.assert_array_equal(merged.embeddings, emb)


def test_positions_from_the_loaders_distributed_sampler():
    data = TensorDataset(torch.zeros(7), torch.zeros(7))
    group = SimpleNamespace(rank=1, world_size=2)
    sampler = DistributedSampler(data, num_replicas=2, rank=1, shuffle=True, seed=5)
    loader = DataLoader(data, batch_size=3, sampler=sampler)
    np.testing.assert_array_equal(loader_positions(loader, group), list(sampler))
    assert loader_positions(DataLoader(data, batch_size=3), group) is None


@pytest.mark.parametrize(
    ("sampler", "loader_options", "match"),
    [
        (
            {"num_replicas": 3, "rank": 1},
            {},
            "num_replicas=3, rank=1, but this process is rank 1 of 2",
        ),
        (
            {"num_replicas": 2, "rank": 1, "drop_last": True},
            {},
            "DistributedSampler has drop_last",
        ),
        ({"num_replicas": 2, "rank": 1}, {"drop_last": True}, "The loader has drop_last=True"),
    ],
)
def test_positions_refuse_samplers_that_lose_samples_or_do_not_match(
    sampler, loader_options, match
):
    data = TensorDataset(torch.zeros(7), torch.zeros(7))
    loader = DataLoader(
        data, batch_size=3, sampler=DistributedSampler(data, **sampler), **loader_options
    )
    with pytest.raises(ValueError, match=match):
        loader_positions(loader, SimpleNamespace(rank=1, world_size=2))


def test_without_a_process_group_nothing_is_gathered():
    data = TensorDataset(torch.zeros(4, 2), torch.tensor([0.0, 1, 0, 1]))
    loader = DataLoader(data, sampler=DistributedSampler(data, num_replicas=2, rank=0))
    assert shard_group(None, loader) is None
    assert shard_group(False, loader) is None
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        shard_group(True, loader)
    with pytest.raises(TypeError, match="distributed must be None"):
        shard_group("yes", loader)
    # a manually sharded loader outside a group: collect() returns that shard, as before
    model = torch.nn.Linear(2, 1)
    # (activation named: on zero inputs the output is the random bias, maybe in [0, 1])
    assert len(hstrat.collect(model, loader, progress=False, activation="sigmoid")) == 2
    with pytest.raises(ValueError, match="distributed=True needs"):
        hstrat.audit(model, loader, progress=False, distributed=True)


# -- two processes under torchrun ---------------------------------------------------------


def _gloo_available():
    import torch.distributed as dist

    return dist.is_available() and dist.is_gloo_available()


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    if not _gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this build")
    out = tmp_path_factory.mktemp("distributed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(WORKER),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"torchrun failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    results = []
    for rank in range(2):
        with open(out / f"rank{rank}.pkl", "rb") as handle:
            results.append({**pickle.load(handle), "out": out})
    return results


@pytest.fixture(scope="module")
def reference():
    model = worker.Exact()
    ids = hstrat.collect(model, DataLoader(worker.Cases(), batch_size=8), progress=False)
    positions = hstrat.collect(
        model, DataLoader(worker.Cases(ids=False), batch_size=8), progress=False
    )
    table = hstrat.audit(
        model,
        DataLoader(worker.Cases(), batch_size=8),
        {"south": worker.site_mask()},
        progress=False,
        random_state=0,
        **worker.AUDIT,
    ).table
    # 201 cases make clusters below the size hstrat calls reliable: expected here.
    with pytest.warns(SmallStratumWarning):
        found = hstrat.audit(
            model,
            DataLoader(worker.Cases(), batch_size=8),
            {"south": worker.site_mask()},
            detectors=[worker.detector()],
            progress=False,
            random_state=0,
            **worker.AUDIT,
        )
    return {
        "ids": worker.snapshot(ids),
        "positions": worker.snapshot(positions),
        "audit": table,
        "audit detectors": (found.table, found.clusters),
    }


def assert_same(got, want, shuffled=False):
    np.testing.assert_array_equal(got["y_true"], want["y_true"])
    np.testing.assert_array_equal(got["y_score"], want["y_score"])  # exactly
    np.testing.assert_array_equal(got["embeddings"], want["embeddings"])
    pd.testing.assert_index_equal(got["ids"], want["ids"], exact=True)
    if want["metadata"] is None:
        assert got["metadata"] is None
    else:
        pd.testing.assert_frame_equal(got["metadata"], want["metadata"], check_exact=True)
    assert got["shuffled"] is shuffled


@pytest.mark.slow  # torchrun with several processes per scenario
@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        ("ids", "ids"),
        ("positions", "positions"),
        ("ids shuffled", "ids"),
        ("positions shuffled", "positions"),
        ("workers", "ids"),
        ("subgroup", "ids"),
        ("cache", "ids"),
        ("cache again", "ids"),
        ("cache positions", "positions"),
        ("plain", "ids"),
    ],
)
def test_every_rank_gets_what_one_process_gets(launched, reference, scenario, kind):
    for rank in range(2):
        assert_same(launched[rank][scenario], reference[kind])


@pytest.mark.slow  # torchrun
def test_the_cache_assembles_one_memory_mapped_file_and_is_reused(launched):
    for rank in range(2):
        got = launched[rank]
        assert got["cache"]["mmap"]
        assert got["cache again"]["mmap"]
        assert got["cache calls"] == 0  # the second pass did not run the model
        assert got["cache assembled once"]  # nor copy the embeddings again
        parts = [f"rank-0000{r}-of-00002.{kind}" for r in (0, 1) for kind in _PART_FILES]
        assert got["cache files"][1:] == parts
        assert got["cache files"][0].startswith("merged-")


_PART_FILES = ("embeddings", "json", "outputs")


def test_the_ranks_write_the_manifest_of_a_one_process_cache(launched, tmp_path):
    model = worker.Exact()
    hstrat.collect(model, DataLoader(worker.Cases(), batch_size=4), cache=tmp_path, progress=False)
    single = json.loads((tmp_path / "rank-00000-of-00001.json").read_text())
    for rank in range(2):
        path = launched[0]["out"] / "cache" / f"rank-0000{rank}-of-00002.json"
        part = _cache._read_manifest(path)  # the reader of every cache
        assert part.keys() == single.keys()
        assert part["identity"]["embedding"] == single["identity"]["embedding"]
        # the same model (its class lives in __main__ under torchrun), fingerprinted alike
        assert part["identity"]["model"].keys() == single["identity"]["model"].keys()
        assert sum(rows for _, rows in part["batches"]) == (worker.N + 1) // 2


def test_the_audit_report_is_the_one_process_report_on_every_rank(launched, reference):
    for rank in range(2):
        pd.testing.assert_frame_equal(
            launched[rank]["audit"], reference["audit"], check_exact=True
        )
        table, clusters = launched[rank]["audit detectors"]
        pd.testing.assert_frame_equal(table, reference["audit detectors"][0], check_exact=True)
        pd.testing.assert_frame_equal(clusters, reference["audit detectors"][1], check_exact=True)
    # without a seed, rank 0's seed is shared: still the same report on both ranks
    pd.testing.assert_frame_equal(
        launched[0]["audit unseeded"], launched[1]["audit unseeded"], check_exact=True
    )


def test_opting_out_returns_each_ranks_shard(launched):
    got = [launched[rank]["opt out"]["ids"].tolist() for rank in range(2)]
    assert got[0] == [f"case{i:03d}" for i in range(0, worker.N, 2)]
    assert got[1] == [f"case{i:03d}" for i in range(1, worker.N, 2)] + ["case000"]


def test_without_a_sampler_rows_are_matched_and_sorted_by_id(launched, reference):
    for rank in range(2):
        assert_same(launched[rank]["by id"], reference["ids"], shuffled=True)


def test_a_rank_without_batches_contributes_nothing(launched):
    for rank in range(2):
        got = launched[rank]["empty rank"]
        assert got["ids"].tolist() == [f"case{i:03d}" for i in range(0, worker.N, 2)]
        assert got["shuffled"]


def test_an_error_on_one_rank_is_raised_on_every_rank(launched):
    failing, other = launched[1]["error bad label"], launched[0]["error bad label"]
    assert failing["type"] == "ValueError"
    assert "must be 0 or 1" in failing["message"]
    assert other["type"] == "ValueError"
    assert other["message"].startswith("collect() failed on rank 1 of 2")
    assert "must be 0 or 1" in other["message"]


@pytest.mark.parametrize(
    ("scenario", "match"),
    [
        ("error weights", "weights differ between rank 0 and rank 1"),
        ("error drop_last", "drop_last=True"),
        ("error no ids", "cannot tell which sample"),
        ("error detector seed", "KMeansDetector() has random_state=None"),
    ],
)
def test_inconsistent_ranks_are_refused_on_every_rank(launched, scenario, match):
    for rank in range(2):
        error = launched[rank][scenario]
        assert error is not None
        assert error["type"] == "ValueError"
        assert match in error["message"]
