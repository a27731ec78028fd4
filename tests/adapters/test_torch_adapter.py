import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)

import hstrat
from hstrat.adapters import TorchAdapter, loader_order_is_random, penultimate_layer


def images(n, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), (torch.arange(n) % 2).float()


def collect_images(model, n=4, size=32, **kwargs):
    # one batch of the same size as the manual forward: oneDNN prepares kernels per shape
    x, y = images(n, size)
    kwargs.setdefault("activation", "sigmoid")  # random weights: 4 logits may all be in [0, 1]
    p = hstrat.collect(
        model, DataLoader(TensorDataset(x, y), batch_size=4), progress=False, **kwargs
    )
    return x, p


@pytest.mark.slow  # a full DenseNet-121 forward pass
def test_densenet121_embeddings_are_the_classifier_input():
    torch.manual_seed(0)
    model = torchvision.models.densenet121(num_classes=1)  # random init, no download
    assert penultimate_layer(model) == "classifier"
    x, p = collect_images(model)
    model.eval()
    with torch.inference_mode():
        out = F.relu(model.features(x))
        expected = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        logits = model(x)[:, 0].double()
    assert p.embeddings.shape == (4, 1024)
    np.testing.assert_allclose(p.embeddings, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.y_score, torch.sigmoid(logits).numpy(), rtol=1e-5)


def test_small_densenet_and_named_layer_output():
    torch.manual_seed(0)
    model = torchvision.models.DenseNet(
        growth_rate=8, block_config=(2, 2), num_init_features=8, num_classes=1
    )
    x, p = collect_images(model, size=16)
    model.eval()
    with torch.no_grad():
        features = model.features(x)
        pooled = torch.flatten(F.adaptive_avg_pool2d(F.relu(features), (1, 1)), 1)
    np.testing.assert_allclose(p.embeddings, pooled.numpy(), rtol=1e-5, atol=1e-6)
    _, named = collect_images(model, size=16, embedding_layer="features.norm5")
    # the output of the named module (before DenseNet's functional relu), flattened
    np.testing.assert_allclose(named.embeddings, features.flatten(1).numpy(), rtol=1e-5, atol=1e-6)


def test_resnet18_embeddings_are_the_fc_input():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1)
    assert penultimate_layer(model) == "fc"
    x, p = collect_images(model)
    model.eval()
    with torch.no_grad():
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
        expected = torch.flatten(model.avgpool(h), 1)
    assert p.embeddings.shape == (4, 512)
    np.testing.assert_allclose(p.embeddings, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_sequential_embeddings_are_the_last_linear_input():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Dropout(0.3), nn.Linear(7, 1)
    )
    assert penultimate_layer(model) == "4"
    x = torch.randn(10, 3, 2, 2)
    p = hstrat.collect(model, [(x, torch.arange(10) % 2)], progress=False)
    model.eval()
    with torch.no_grad():
        expected = model[:-1](x)
    np.testing.assert_allclose(p.embeddings, expected.numpy(), rtol=1e-6)


def test_penultimate_layer_of_other_torchvision_heads():
    mobilenet = torchvision.models.mobilenet_v3_small(num_classes=1)
    assert penultimate_layer(mobilenet) == "classifier.3"
    x, p = collect_images(mobilenet, n=4)
    mobilenet.eval()
    with torch.no_grad():
        expected = mobilenet.classifier[:-1](
            torch.flatten(mobilenet.avgpool(mobilenet.features(x)), 1)
        )
    np.testing.assert_allclose(p.embeddings, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert penultimate_layer(nn.DataParallel(nn.Sequential(nn.Linear(2, 2)))) == "module.0"
    assert penultimate_layer(nn.Linear(3, 1)) == ""
    with pytest.raises(ValueError, match=r"has no torch\.nn\.Linear"):
        penultimate_layer(nn.Sequential(nn.Conv2d(3, 1, 3), nn.Flatten()))
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        penultimate_layer(lambda x: x)


def test_embedding_layer_name_errors_and_false():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(ValueError, match="Did you mean 'classifier'"):
        TorchAdapter(Flaky(), embedding_layer="clasifier")
    with pytest.raises(ValueError, match="not a module of Sequential"):
        TorchAdapter(model, embedding_layer="classifier")
    p = hstrat.collect(
        model,
        [(torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1]))],
        embedding_layer=False,
        progress=False,
    )
    assert p.embeddings is None


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 1)
        self.spare = nn.Linear(4, 2)  # registered but never called

    def forward(self, x):
        return self.body(x)


def test_layer_that_does_not_run_is_reported():
    with pytest.raises(ValueError, match="'spare' did not run"):
        hstrat.collect(Unused(), [(torch.randn(3, 4), torch.tensor([0, 1, 0]))], progress=False)


class Flaky(nn.Module):
    def __init__(self, fail_at=None):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.2), nn.ReLU())
        self.classifier = nn.Linear(6, 1)
        self.fail_at = fail_at
        self.calls = 0
        self.seen_training = []

    def forward(self, x):
        self.calls += 1
        self.seen_training.append([m.training for m in self.modules()])
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return self.classifier(self.body(x))


def batches(n_batches=3, size=5):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(size, 4, generator=g), torch.arange(size) % 2) for _ in range(n_batches)]


def mixed_flags(model):
    model.train()
    model.body[1].eval()  # a frozen BatchNorm inside a training model
    return [m.training for m in model.modules()]


def test_training_flags_restored_and_eval_during_the_pass():
    model = Flaky()
    before = mixed_flags(model)
    running_mean = model.body[1].running_mean.clone()
    hstrat.collect(model, batches(), progress=False)
    assert [m.training for m in model.modules()] == before
    assert all(not any(flags) for flags in model.seen_training)
    assert torch.equal(model.body[1].running_mean, running_mean)
    assert not model.classifier._forward_pre_hooks
    assert not model.classifier._forward_hooks


def test_training_flags_restored_after_an_exception_inside_forward():
    model = Flaky(fail_at=2)
    before = mixed_flags(model)
    with pytest.raises(RuntimeError, match="boom"):
        hstrat.collect(model, batches(), progress=False)
    assert [m.training for m in model.modules()] == before
    assert not model.classifier._forward_pre_hooks
    model.eval()
    model.fail_at, model.calls = 1, 0
    with pytest.raises(RuntimeError, match="boom"):
        hstrat.collect(model, batches(), embedding_layer="body", progress=False)
    assert not any(m.training for m in model.modules())
    assert not model.body._forward_hooks


def test_outputs_are_computed_under_inference_mode():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 1)

        def forward(self, x):
            seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
            return self.fc(x)

    hstrat.collect(Probe(), batches(1), progress=False)
    assert seen == [(True, False)]
    assert torch.is_grad_enabled()
    assert not torch.is_inference_mode_enabled()


def test_device_option():
    model = Flaky()
    p = hstrat.collect(model, batches(), device="cpu", activation="sigmoid", progress=False)
    assert len(p) == 15
    assert next(model.parameters()).device.type == "cpu"
    p2 = hstrat.collect(
        model, batches(), device=torch.device("cpu"), activation="sigmoid", progress=False
    )
    np.testing.assert_array_equal(p.y_score, p2.y_score)
    with pytest.raises(ValueError, match="device must be a string such as"):
        hstrat.collect(model, batches(), device="gpu", progress=False)
    with pytest.raises(TypeError, match="device must be"):
        hstrat.collect(model, batches(), device=0.5, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            hstrat.collect(model, batches(), device="cuda", progress=False)


def test_device_moves_the_model_there_and_back_even_on_error(monkeypatch):
    # no accelerator here: record the moves instead of making them
    model = Flaky()
    moves = []
    monkeypatch.setattr(nn.Module, "to", lambda self, device: moves.append(device) or self)
    adapter = TorchAdapter(model, device="cpu")
    adapter.device = torch.device("cuda", 0)
    session = adapter.session()
    session.__enter__()
    assert moves == [torch.device("cuda", 0)]
    session.__exit__(RuntimeError, RuntimeError("inside the pass"), None)
    assert moves == [torch.device("cuda", 0), torch.device("cpu")]
    moves.clear()
    adapter.device = torch.device("cpu")  # already there: no move
    with adapter.session():
        pass
    assert moves == []


def test_device_refused_for_a_model_on_several_devices():
    model = Flaky()
    model.classifier.to("meta")
    adapter = TorchAdapter(model, device="cpu")
    with pytest.raises(ValueError, match="several devices"), adapter.session():
        pass


class Outputs(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.kind = kind

    def forward(self, x):
        out = self.fc(x)
        if self.kind == "dict":
            return {"logits": out, "aux": out}
        if self.kind == "tuple":
            return out, out.sum()
        if self.kind == "3d":
            return out[:, :, None]
        return "nonsense"


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_model_outputs_as_dict_or_tuple(kind):
    p = hstrat.collect(Outputs(kind), batches(), target=1, progress=False)
    assert len(p) == 15


def test_bad_model_outputs():
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, n_outputs\)"):
        hstrat.collect(Outputs("3d"), batches(), target=1, progress=False)
    with pytest.raises(TypeError, match="must be a tensor"):
        hstrat.collect(Outputs("str"), batches(), target=1, progress=False)


def test_float64_models_keep_float64_scores():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1)).double()
    data = [(torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 1]))]
    p = hstrat.collect(model, data, progress=False)
    with torch.no_grad():
        expected = torch.sigmoid(model(data[0][0])[:, 0]).numpy()
    # float64 end to end: agreement to double precision, not float32's 1e-7
    np.testing.assert_allclose(p.y_score, expected, rtol=1e-14, atol=0)
    assert p.embeddings.dtype == np.float32


class Stream(IterableDataset):
    def __iter__(self):
        return iter([(torch.zeros(2), 0.0)] * 3)


def test_loader_order_detection():
    ds = TensorDataset(torch.zeros(8, 2), torch.zeros(8))
    assert loader_order_is_random(DataLoader(ds, shuffle=True))
    assert not loader_order_is_random(DataLoader(ds))
    assert loader_order_is_random(DataLoader(ds, sampler=SubsetRandomSampler(range(8))))
    assert loader_order_is_random(DataLoader(ds, sampler=WeightedRandomSampler([1.0] * 8, 8)))
    shuffled = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True)
    in_order = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=False)
    assert loader_order_is_random(DataLoader(ds, sampler=shuffled))
    assert not loader_order_is_random(DataLoader(ds, sampler=in_order))
    assert loader_order_is_random(
        DataLoader(ds, batch_sampler=BatchSampler(RandomSampler(ds), 3, False))
    )
    assert not loader_order_is_random(
        DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 3, False))
    )
    assert loader_order_is_random(DataLoader(ds, sampler=[3, 1, 2]))  # unknown: not trusted
    assert not loader_order_is_random(DataLoader(Stream(), batch_size=2))
    assert not loader_order_is_random([(1, 0)])
    assert not loader_order_is_random(iter([]))


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU())
        self.classifier = nn.Linear(6, 1)
        self.register_buffer("offset", torch.zeros(4), persistent=False)
        self.gain = 1.0

    def forward(self, x):
        return self.classifier(self.body(x + self.offset)) * self.gain


def test_fingerprint_covers_parameters_buffers_and_configuration():
    model = Scaled()
    fingerprint = TorchAdapter(model).fingerprint
    first = fingerprint()
    assert first["n_bytes"] == 4 * (4 * 6 + 6 + 6 * 4 + 6 + 1 + 4) + 8  # +num_batches_tracked
    model.train()
    with TorchAdapter(model).session():  # a pass in eval mode changes no state
        model(torch.randn(3, 4))
    assert fingerprint() == first
    changes = [
        lambda m: m.offset.add_(1.0),  # non-persistent: not in state_dict
        lambda m: setattr(m, "gain", 2.0),
        lambda m: setattr(m.body[1], "eps", 0.1),
        lambda m: setattr(m.body[2], "inplace", True),
        lambda m: setattr(m, "extra", {"mode": ("a", 1)}),
        lambda m: setattr(m, "table", torch.ones(2)),  # a plain tensor attribute
        lambda m: m.register_forward_hook(lambda mod, args, out: out),
    ]
    seen = {first["digest"]}
    for change in changes:
        change(model)
        digest = fingerprint()["digest"]
        assert digest not in seen
        seen.add(digest)


def test_fingerprint_looks_inside_data_parallel_wrappers():
    model = Scaled()
    assert (
        TorchAdapter(nn.DataParallel(model)).fingerprint()["digest"]
        == (TorchAdapter(model).fingerprint()["digest"])
    )
