"""The built wheel works in a fresh virtual environment without torch.

Builds the wheel and sdist with ``python -m build``, installs the wheel into a new
venv (which has no torch), and checks that it is installed under its distribution name,
``hstrat-audit`` (the package index's ``hstrat`` is another project), that the core
works, the console script runs, and the torch-only features say which extra to install.
Slow (a minute or two: the venv installs numpy, pandas, scikit-learn... from the package
index or pip's cache).
"""

import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECKS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import hstrat

    assert "torch" not in sys.modules and "matplotlib" not in sys.modules, sorted(sys.modules)
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.4
    s = rng.normal(size=300) + y
    report = hstrat.evaluate(y, s, {"half": np.arange(300) < 150}, ci="delong", progress=False)
    assert report.table["stratum"].tolist() == ["overall", "half"]
    assert "torch" not in sys.modules

    from hstrat.datasets import make_synthetic_cxr
    try:
        make_synthetic_cxr(4, random_state=0)[0]
    except ImportError as err:
        assert "hstrat-audit[torch]" in str(err), err
    else:
        raise AssertionError("a torch-only feature worked without torch")
    from importlib import metadata
    assert metadata.version("hstrat-audit") == hstrat.__version__
    assert metadata.packages_distributions()["hstrat"] == ["hstrat-audit"]
    print("ok")
    """
)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_without_torch(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheels = list(dist.glob("hstrat_audit-*.whl"))
    assert len(wheels) == 1, sorted(p.name for p in dist.iterdir())
    assert list(dist.glob("hstrat_audit-*.tar.gz"))
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheels[0]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    check = subprocess.run([str(python), "-c", CHECKS], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("ok")
    help_ = subprocess.run([str(env / "bin" / "hstrat"), "--help"], capture_output=True, text=True)
    assert help_.returncode == 0
    assert "demo" in help_.stdout
    demo = subprocess.run(
        [str(env / "bin" / "hstrat"), "demo", "--fast", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
    )
    assert demo.returncode == 1
    assert "hstrat-audit[torch]" in demo.stderr
    versions = subprocess.run(
        [str(python), "-c", "import hstrat; hstrat.show_versions()"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "distribution hstrat-audit" in versions.stdout.splitlines()[0]
    assert "warning" not in versions.stdout
    # the labelling page's static files are in the wheel
    files = subprocess.run(
        [
            str(python),
            "-c",
            "import hstrat.strata._labeler as m, pathlib; "
            "static = pathlib.Path(m.__file__).parent / '_labeler_static'; "
            "print(sorted(p.name for p in static.iterdir()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "index.html" in files.stdout


def test_import_is_light():
    code = (
        "import sys, hstrat\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'sklearn', 'statsmodels', 'scipy.stats')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_is_single_sourced():
    import tomllib

    import hstrat

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"]
    citation = (ROOT / "CITATION.cff").read_text()
    assert f"version: {hstrat.__version__}" in citation
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
