"""`msd-bench init`: the folder it writes validates and evaluates as written; bad input writes nothing."""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.harness.manifest import load_manifest
from msd_bench.harness.scaffold import TEMPLATES, init_submission, template_text
from msd_bench.testing import require_judge

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("init")
    out = {}
    for fmt in ("torch", "onnx"):
        r = runner.invoke(app, ["init", str(base / f"my-{fmt}"), "--format", fmt, "--dataset", "sprites",
                                "--author", "Ada Lovelace"])
        assert r.exit_code == 0, r.output
        out[fmt] = base / f"my-{fmt}"
    return out


def test_init_writes_the_documented_files(folders):
    assert _tree(folders["torch"]) == {"submission.yaml", "model.py", "train.py", "model.safetensors", "README.md"}
    assert _tree(folders["onnx"]) == {
        "submission.yaml", "model.py", "train.py", "export.py", "model.safetensors", "README.md", "sprites",
        "sprites/encoder.onnx", "sprites/decoder.onnx", "sprites/prior_static.onnx", "sprites/prior_dynamic.onnx",
    }
    for fmt, folder in folders.items():
        m = load_manifest(folder)
        assert (m.name, m.version, m.format, m.authors) == (f"my-{fmt}", "0.1.0", fmt, ["Ada Lovelace"])
        assert m.training_datasets == ["sprites"] and list(m.datasets) == ["sprites"]
        text = (folder / "submission.yaml").read_text()
        assert text.count("\n#") >= 5 and 'version: "0.1.0"' in text  # commented, version quoted
        readme = (folder / "README.md").read_text()
        assert "msd-bench validate" in readme and "train.py" in readme and "{{" not in readme
        assert oct((folder / "model.safetensors").stat().st_mode & 0o777) != oct(0o600)


@pytest.mark.parametrize("fmt", ["torch", "onnx"])
def test_validate_passes_as_written(folders, fmt):
    args = ["validate", str(folders[fmt]), "--json"] + (["--trust-code"] if fmt == "torch" else [])
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)[0]
    assert report["passed"] and report["shape"] == [8, 3, 64, 64]
    assert {c["name"]: c["passed"] for c in report["checks"]}["prior dynamic"] is True


# torch's run is slow-marked: tests/test_docs_submit.py evaluates a torch folder of `init` in the fast suite
@pytest.mark.parametrize("fmt", [pytest.param("torch", marks=pytest.mark.slow), "onnx"])
def test_evaluate_limit_64_runs_as_written(folders, fmt, tmp_path):
    require_judge("sprites")
    out = tmp_path / "res"
    args = ["evaluate", "--dataset", "sprites", "--submission", str(folders[fmt]), "--limit", "64", "--size",
            "small", "--device", "cpu", "--no-pictures", "--out", str(out)]
    r = runner.invoke(app, args + (["--trust-code"] if fmt == "torch" else []))
    assert r.exit_code == 0, r.output
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "complete" and result["dataset"]["n"] == 64
    assert result["submission"]["name"] == f"my-{fmt}"
    assert result["scores"]["static_dynamic_swap.accuracy.mean"]["status"] == "ok"
    assert result["scores"]["generation.sample_static.accuracy"]["status"] == "ok"  # the priors are used


def test_same_arguments_write_the_same_weights(tmp_path):
    a = init_submission(tmp_path / "a", "torch", "moving-digits", name="x", seed=3)
    init_submission(tmp_path / "b", "torch", "moving-digits", name="x", seed=3)
    assert a == sorted(Path(p) for p in ("README.md", "model.py", "model.safetensors", "submission.yaml", "train.py"))
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    m = load_manifest(tmp_path / "a")
    assert m.datasets["moving-digits"].static_dim == 8
    assert '"channels": 1' in (tmp_path / "a" / "model.py").read_text()  # sized from the dataset's [T, C, H, W]


def test_an_existing_empty_folder_is_used(tmp_path):
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["init", str(tmp_path / "empty"), "--static-dim", "3", "--dynamic-dim", "2"])
    assert r.exit_code == 0, r.output
    entry = load_manifest(tmp_path / "empty").datasets["sprites"]
    assert (entry.static_dim, entry.dynamic_dim) == (3, 2)
    assert '"static_dim": 3' in (tmp_path / "empty" / "model.py").read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "tensorflow"], "--format 'tensorflow' is not a submission format (expected one of: torch, onnx)"),
        (["--dataset", "nope"], "unknown dataset 'nope'; known datasets: sprites"),
        (["--name", "My Model"], "--name 'My Model' is not a valid name"),
        (["--static-dim", "0"], "--static-dim is 0; expected an integer >= 1"),
        (["--author", " "], "--author must be a non-empty name"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, needle):
    before = _tree(tmp_path)
    r = runner.invoke(app, ["init", str(tmp_path / "new" / "sub"), *args])
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert r.output.strip().count("\n") == 0 and r.output.startswith("error: ")
    assert _tree(tmp_path) == before  # not even the parent folder


def test_a_non_empty_folder_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    r = runner.invoke(app, ["init", str(target), "--format", "onnx"])
    assert r.exit_code == 2 and "is not empty" in r.output and r.output.strip().count("\n") == 0
    assert _tree(tmp_path) == before and (target / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["init", str(tmp_path / "file")])
    assert r.exit_code == 2 and "is not a folder" in r.output


def test_a_failure_half_way_leaves_nothing(tmp_path, monkeypatch):
    import msd_bench.harness.scaffold as scaffold

    def boom(*a, **k):
        raise RuntimeError("export failed")

    monkeypatch.setattr(scaffold, "_write_weights", boom)
    with pytest.raises(RuntimeError, match="export failed"):
        init_submission(tmp_path / "deep" / "sub", "onnx")
    assert _tree(tmp_path) == set()


def test_templates_are_package_data():
    """Every template ships in the wheel: its file name matches a package-data pattern of pyproject.toml."""
    names = {t for files in TEMPLATES.values() for t in files}
    assert names == {p.name for p in (REPO / "msd_bench" / "harness" / "templates").iterdir()}
    for name in names:
        assert "{{" in template_text(name) or name.endswith(".md.txt")
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["msd_bench"]
    for name in names:
        rel = f"harness/templates/{name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), (rel, patterns)


def test_written_yaml_is_plain_yaml(folders):
    data = yaml.safe_load((folders["onnx"] / "submission.yaml").read_text())
    assert data["datasets"]["sprites"]["encoder"] == "sprites/encoder.onnx"
    assert data["interface_version"] == 1 and isinstance(data["version"], str)
    assert os.access(folders["onnx"] / "export.py", os.R_OK)
