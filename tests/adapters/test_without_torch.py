import subprocess
import sys
import textwrap


def run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_hstrat_does_not_import_torch():
    out = run_python(
        """
        import sys
        import hstrat
        print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_hstrat_works_without_torch_and_torch_features_name_the_extra():
    out = run_python(
        """
        import sys
        sys.modules["torch"] = None  # makes `import torch` raise ImportError
        import numpy as np
        import hstrat
        from hstrat.adapters import TorchAdapter, penultimate_layer

        rng = np.random.default_rng(0)
        y = np.arange(100) % 2
        s = rng.normal(size=100) + y
        report = hstrat.evaluate(y, s, ci="delong", progress=False)
        print(round(report.table["auc"][0], 6))

        batches = [(np.c_[s[i:i + 25]], y[i:i + 25]) for i in range(0, 100, 25)]
        p = hstrat.collect(lambda x: x[:, 0], batches, progress=False)
        print(np.array_equal(p.y_score, s))
        print(hstrat.collect(None, [(s, y)], progress=False))

        for call in (lambda: TorchAdapter(object()), lambda: penultimate_layer(object())):
            try:
                call()
            except ImportError as err:
                print("ImportError:", err)
        """
    )
    lines = out.strip().splitlines()
    assert lines[1:3] == ["True", "Predictions(n=100, positives=50, embeddings=none, target=None)"]
    assert len(lines) == 5
    for line in lines[3:]:
        assert line.startswith("ImportError:")
        assert "pip install 'hstrat-audit[torch]'" in line
