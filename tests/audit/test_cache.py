import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import hstrat
from hstrat._audit import _cache
from hstrat.exceptions import CacheError

N, D, BATCH = 60, 5, 8  # 8 batches, the last one of 4
PART = "rank-00000-of-00001"


class Net(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(D, 6), nn.BatchNorm1d(6), nn.ReLU())
        self.classifier = nn.Linear(6, 1)
        self.register_buffer("shift", torch.zeros(1), persistent=False)
        self.scale = 4.0  # logits of both signs

    def forward(self, x):
        return self.classifier(self.body(x + self.shift)) * self.scale


def count_calls(model, fail_at=None, error=RuntimeError):
    """Count forward calls (and fail at one) from a closure, which the fingerprint cannot see."""
    state = {"calls": 0, "fail_at": fail_at}

    def hook(module, args):
        state["calls"] += 1
        if state["calls"] == state["fail_at"]:
            raise error("interrupted")

    model.register_forward_pre_hook(hook)
    return state


class Cases(Dataset):
    def __init__(self, n=N, seed=0, flip=(), nudge=(), id_prefix="case"):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(N, D, generator=g)[:n]  # the first n of the N cases
        self.x[list(nudge)] += 1e-3
        self.y = (torch.arange(n) % 3 == 0).float()
        self.y[list(flip)] = 1 - self.y[list(flip)]
        self.prefix = id_prefix

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {
            "image": self.x[i],
            "label": self.y[i],
            "id": f"{self.prefix}{i:03d}",
            "site": "north" if i % 2 else "south",
        }


def loader(dataset=None, **kwargs):
    return DataLoader(dataset or Cases(), batch_size=BATCH, **kwargs)


def collect(model, data=None, **kwargs):
    return hstrat.collect(model, loader(data), progress=False, **kwargs)


def assert_same(a, b):
    np.testing.assert_array_equal(a.y_score, b.y_score)
    np.testing.assert_array_equal(a.y_true, b.y_true)
    np.testing.assert_array_equal(np.asarray(a.embeddings), np.asarray(b.embeddings))
    pd.testing.assert_index_equal(a.ids, b.ids)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)


def manifest(directory):
    return json.loads((directory / f"{PART}.json").read_text())


@pytest.fixture
def flush_every_batch(monkeypatch):
    monkeypatch.setattr(_cache, "FLUSH_BYTES", 0)


# -- reuse and resume ---------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_resume_after_an_interruption_skips_finished_batches(tmp_path, error):
    reference = collect(Net())
    model = Net()
    calls = count_calls(model, fail_at=4, error=error)
    with pytest.raises(error, match="interrupted"):
        collect(model, cache=tmp_path)
    assert [rows for _, rows in manifest(tmp_path)["batches"]] == [BATCH] * 3
    calls.update(calls=0, fail_at=None)
    resumed = collect(model, cache=tmp_path)
    assert calls["calls"] == 5  # batches 3..7 only
    assert_same(resumed, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{PART}.embeddings",
        f"{PART}.json",
        f"{PART}.outputs",
    ]


def test_complete_cache_is_reused_without_running_the_model(tmp_path):
    model = Net()
    calls = count_calls(model)
    first = collect(model, cache=tmp_path)
    assert calls["calls"] == 8
    again = collect(model, cache=tmp_path)
    assert calls["calls"] == 8
    for p in (first, again):
        assert isinstance(p.embeddings, np.memmap)
        assert p.embeddings.dtype == np.float32
        assert not p.embeddings.flags.writeable
    assert_same(again, first)


def test_resume_after_many_flushes(tmp_path, flush_every_batch):
    reference = collect(Net())
    model = Net()
    calls = count_calls(model, fail_at=6)
    with pytest.raises(RuntimeError):
        collect(model, cache=tmp_path)
    assert len(manifest(tmp_path)["batches"]) == 5
    calls.update(calls=0, fail_at=None)
    assert_same(collect(model, cache=tmp_path), reference)
    assert calls["calls"] == 3


def test_bytes_past_the_manifest_are_cut_off(tmp_path):
    model = Net()
    calls = count_calls(model, fail_at=4)
    with pytest.raises(RuntimeError):
        collect(model, cache=tmp_path)
    with open(tmp_path / f"{PART}.outputs", "ab") as handle:  # a crash mid-append
        handle.write(b"\x7f" * 13)
    calls.update(fail_at=None)
    assert_same(collect(model, cache=tmp_path), collect(Net()))
    assert (tmp_path / f"{PART}.outputs").stat().st_size == N * 8


def test_labels_ids_and_metadata_come_from_the_loader_every_time(tmp_path):
    model = Net()
    calls = count_calls(model)
    collect(model, cache=tmp_path)
    # labels changed from batch 2 on, and other ids: read afresh, the model not run
    changed = Cases(flip=range(2 * BATCH, N), id_prefix="img")
    again = collect(model, changed, cache=tmp_path)
    assert calls["calls"] == 8
    assert_same(again, collect(Net(), changed))
    assert again.ids[0] == "img000"


def test_changed_inputs_are_refused_and_the_cache_kept(tmp_path):
    model = Net()
    first = collect(model, cache=tmp_path)
    for nudge, batch in (([2 * BATCH + 3], 2), ([N - 1], 7)):
        with pytest.raises(CacheError, match=rf"outputs of batch {batch} for other inputs"):
            collect(model, Cases(nudge=nudge), cache=tmp_path)
    with pytest.raises(CacheError, match="batch 0 for other inputs"):
        collect(model, Cases(seed=1), cache=tmp_path)
    with pytest.raises(CacheError, match="batch 0 for other inputs"):
        hstrat.collect(model, DataLoader(Cases(), batch_size=10), cache=tmp_path, progress=False)
    assert_same(collect(model, cache=tmp_path), first)


def test_resume_with_changed_inputs(tmp_path):
    model = Net()
    calls = count_calls(model, fail_at=4)  # batches 0..2 cached
    with pytest.raises(RuntimeError):
        collect(model, cache=tmp_path)
    calls.update(fail_at=None)
    with pytest.raises(CacheError, match="batch 1 for other inputs"):
        collect(model, Cases(nudge=[BATCH + 1]), cache=tmp_path)
    # a change past what was cached is simply computed
    changed = Cases(nudge=[5 * BATCH])
    assert_same(collect(model, changed, cache=tmp_path), collect(Net(), changed))


def test_a_loader_with_fewer_or_more_batches(tmp_path):
    model = Net()
    calls = count_calls(model)
    collect(model, Cases(n=3 * BATCH), cache=tmp_path)
    assert_same(collect(model, cache=tmp_path), collect(Net()))
    assert calls["calls"] == 8  # 3, then the 5 batches that were not cached
    short = collect(model, Cases(n=2 * BATCH), cache=tmp_path)
    assert_same(short, collect(Net(), Cases(n=2 * BATCH)))
    assert calls["calls"] == 8


def test_target_and_activation_apply_to_the_cached_outputs(tmp_path):
    model = Net()
    calls = count_calls(model)
    collect(model, cache=tmp_path)
    raw = collect(model, cache=tmp_path, activation="none")
    assert calls["calls"] == 8
    np.testing.assert_array_equal(raw.y_score, collect(Net(), activation="none").y_score)


# -- what the fingerprint covers ----------------------------------------------------------


def new_weights(m):
    torch.manual_seed(1)
    m.classifier.reset_parameters()


def running_mean(m):  # a persistent buffer
    m.body[1].running_mean += 0.5


def non_persistent_buffer(m):
    m.shift += 0.25


def plain_attribute(m):
    m.scale = 2.5


def module_configuration(m):
    m.body[1].eps = 0.5


def activation_attribute(m):
    m.body[2] = nn.LeakyReLU(0.5)


def activation_function(m):
    m.body[2].forward = torch.tanh  # monkeypatched on the instance


def forward_hook(m):
    m.classifier.register_forward_hook(lambda module, args, out: out * 3)


@pytest.mark.parametrize(
    "change",
    [
        new_weights,
        running_mean,
        non_persistent_buffer,
        plain_attribute,
        module_configuration,
        activation_attribute,
        activation_function,
        forward_hook,
    ],
)
def test_a_model_that_computes_otherwise_is_refused(tmp_path, change):
    model = Net()
    before = collect(model, cache=tmp_path)
    change(model)
    assert not np.array_equal(collect(model).y_score, before.y_score)  # the change matters
    with pytest.raises(CacheError, match="different model: its weights, buffers or config"):
        collect(model, cache=tmp_path)


def test_a_tiny_weight_change_and_another_kind_of_model_are_refused(tmp_path):
    collect(Net(), cache=tmp_path)
    tweaked = Net()
    with torch.no_grad():
        tweaked.classifier.bias += 1e-6
    with pytest.raises(CacheError, match="different model"):
        collect(tweaked, cache=tmp_path)
    with pytest.raises(CacheError, match=r"different kind of model \(.*Net there"):
        collect(lambda x: x[:, 0], cache=tmp_path)


def test_cache_key_covers_what_the_fingerprint_cannot_see(tmp_path):
    model = Net()
    collect(model, cache=tmp_path, cache_key="preprocessing v1")
    collect(model, cache=tmp_path, cache_key="preprocessing v1")
    with pytest.raises(CacheError, match="cache_key was 'preprocessing v1', now 'v2'"):
        collect(model, cache=tmp_path, cache_key="v2")
    with pytest.raises(ValueError, match="cache_key='v2' applies to a cache, and cache=None"):
        collect(model, cache_key="v2")
    with pytest.raises(TypeError, match="cache_key must be a string or None; got 1"):
        collect(model, cache=tmp_path, cache_key=1)


def test_another_embedding_layer_is_refused(tmp_path):
    model = Net()
    collect(model, cache=tmp_path)
    with pytest.raises(CacheError, match="embedding was 'input of classifier', now None"):
        collect(model, cache=tmp_path, embedding_layer=False)


def test_a_cache_with_nothing_saved_is_started_afresh(tmp_path, flush_every_batch):
    model = Net()
    count_calls(model, fail_at=1)
    with pytest.raises(RuntimeError):
        collect(model, cache=tmp_path)
    assert len(collect(Net(seed=1), cache=tmp_path)) == N


# -- the directory and its files ----------------------------------------------------------


def test_cache_directory_checks(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CacheError, match=r"holds files that are not an hstrat cache's"):
        collect(Net(), cache=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="is a file"):
        collect(Net(), cache=tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="fixed order"):
        hstrat.collect(Net(), loader(shuffle=True), cache=tmp_path / "new", progress=False)
    with pytest.raises(TypeError, match="cache must be a directory path or None"):
        collect(Net(), cache=3)


def truncate_outputs(d):
    path = d / f"{PART}.outputs"
    path.write_bytes(path.read_bytes()[:100])


def remove_embeddings(d):
    (d / f"{PART}.embeddings").unlink()


def link_outputs(d):
    path = d / f"{PART}.outputs"
    (d.parent / "elsewhere").write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(d.parent / "elsewhere")


def edit_manifest(text):
    def damage(d):
        (d / f"{PART}.json").write_text(text(manifest(d)))

    return damage


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (edit_manifest(lambda m: json.dumps(m)[:-20]), "is not readable JSON"),
        (edit_manifest(lambda m: json.dumps({**m, "batches": [[1, 2]]})), "fields of a manifest"),
        (edit_manifest(lambda m: json.dumps({**m, "n_outputs": 0})), "fields of a manifest"),
        (edit_manifest(lambda m: "[1, 2]"), "not the manifest of an hstrat cache"),
        (truncate_outputs, r"outputs holds 100 bytes, its manifest needs 480"),
        (remove_embeddings, r"embeddings is missing"),
        (link_outputs, r"outputs is not a regular file"),
    ],
)
def test_a_damaged_cache_gets_one_clear_error(tmp_path, damage, problem):
    cache = tmp_path / "cache"
    collect(Net(), cache=cache)
    damage(cache)
    with pytest.raises(CacheError) as info:
        collect(Net(), cache=cache)
    message = str(info.value)
    assert message.startswith(f"The cache at {str(cache)!r} is damaged (")
    assert message.endswith("delete it, or pass another cache= directory or cache=None.")
    assert re.search(problem, message)


def test_a_cache_of_another_format_version_is_refused(tmp_path):
    collect(Net(), cache=tmp_path)
    edit_manifest(lambda m: json.dumps({**m, "version": 1}))(tmp_path)
    with pytest.raises(CacheError, match="has format version 1; this hstrat reads version 2"):
        collect(Net(), cache=tmp_path)


def test_a_link_where_a_data_file_belongs_is_not_followed(tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{PART}.embeddings").symlink_to(target)
    with pytest.raises(CacheError, match=r"is damaged \(rank-00000-of-00001\.embeddings: "):
        collect(Net(), cache=cache)
    assert target.read_bytes() == b"keep"


def test_temporary_files_have_unique_names_and_are_never_followed(tmp_path, monkeypatch):
    target = tmp_path / "precious"
    target.write_bytes(b"keep")
    fd, path = _cache.create_exclusive(tmp_path, "merged-ab")
    os.close(fd)
    assert path.name.startswith(".merged-ab.")
    assert path.name.endswith(".tmp")
    monkeypatch.setattr(_cache.secrets, "token_hex", lambda n: "fixed")
    (tmp_path / ".merged-ab.fixed.tmp").symlink_to(target)
    with pytest.raises(FileExistsError, match="hstrat will not write through it"):
        _cache.create_exclusive(tmp_path, "merged-ab")
    assert target.read_bytes() == b"keep"


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        collect(Net(), cache=tmp_path)
        fd, path = _cache.create_exclusive(tmp_path, "merged-ab")
        os.close(fd)
    finally:
        os.umask(old)
    # the manifest is written by hstrat._io.atomic_write_text, whose mode is its own
    for name in (f"{PART}.outputs", f"{PART}.embeddings", path.name):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_inputs_without_a_stable_digest_are_refused(tmp_path):
    batches = [(np.array([object(), object()], dtype=object), np.array([0, 1]))]
    with pytest.raises(TypeError, match="only description is a memory address"):
        hstrat.collect(lambda x: np.zeros(len(x)), batches, cache=tmp_path, progress=False)


def test_cache_for_sklearn_and_numpy_batches(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    batches = [(X[i : i + 10], y[i : i + 10], np.arange(i, i + 10)) for i in range(0, 40, 10)]
    clf = LogisticRegression().fit(X, y)
    first = hstrat.collect(clf, batches, cache=tmp_path, progress=False)
    again = hstrat.collect(clf, batches, cache=tmp_path, progress=False)
    np.testing.assert_array_equal(first.y_score, again.y_score)
    pd.testing.assert_index_equal(first.ids, again.ids)
    refit = LogisticRegression(C=0.01).fit(X, y)
    with pytest.raises(CacheError, match="different model"):
        hstrat.collect(refit, batches, cache=tmp_path, progress=False)
    frames = [(pd.DataFrame(b[0], columns=list("abc")), b[1]) for b in batches]
    renamed = [(f.rename(columns={"a": "z"}), y) for f, y in frames]
    assert _cache.digest_values(frames[0][0]) != _cache.digest_values(renamed[0][0])


def test_audit_passes_cache_key_on(tmp_path):
    model = Net()
    hstrat.audit(model, loader(), cache=tmp_path, cache_key="a", ci="delong", progress=False)
    with pytest.raises(CacheError, match="cache_key was 'a', now 'b'"):
        hstrat.audit(model, loader(), cache=tmp_path, cache_key="b", ci="delong", progress=False)
