"""Issue 18, items 1-5: path escapes, exits from submission code, markup in errors, strict manifests,
option checks, --limit clamping, symlinked manifests, no empty --out folder, bench's INVALID verdict.

Every test uses the exact case of the issue; nothing here needs a trained judge or a built dataset
(a synthetic dataset and a random judge stand in where the runner needs them).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from typer.testing import CliRunner

import msd_bench.datasets as datasets_mod
import msd_bench.judges as judges_mod
from msd_bench.cli import app
from msd_bench.errors import ManifestError, MsdBenchError, SubmissionError
from msd_bench.harness.examples import build_example
from msd_bench.harness.manifest import NAME_PATTERN, load_manifest, parse_manifest
from msd_bench.harness.runner import _score, evaluate
from msd_bench.testing import RandomJudge, SyntheticDataset

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

runner = CliRunner()
TOY = (4, 3, 16, 16)  # a non-built-in dataset declared through input_shape (validate / bench)
DSPRITES = "dsprites-dynamic"  # a built-in name (evaluate / submit look it up; no data is read here)


def edit(folder: Path, fn) -> Path:
    path = folder / "submission.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))
    return folder


@pytest.fixture(scope="module")
def torch_sub(tmp_path_factory) -> Path:
    return build_example(tmp_path_factory.mktemp("sub") / "torch", "torch", dataset="toy", shape=TOY,
                         input_shape_in_manifest=True)


@pytest.fixture()
def sub(torch_sub, tmp_path) -> Path:
    """A fresh copy of the torch example (tests edit it)."""
    import shutil

    return Path(shutil.copytree(torch_sub, tmp_path / "sub"))


def _declare(folder: Path, dataset: str) -> Path:
    from msd_bench.datasets import get_spec

    shape = list(get_spec(dataset).shape)

    def fn(d):
        entry = d["datasets"].pop("toy")
        entry.pop("input_shape", None)
        entry["config"].update(frames=shape[0], channels=shape[1], height=shape[2], width=shape[3])
        d["datasets"][dataset] = entry

    return edit(folder, fn)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# ------------------------------------------------------------------------- 1. escape via the manifest
def test_version_path_escape_is_refused_by_validate_and_evaluate(sub, tmp_path, monkeypatch):
    edit(sub, lambda d: d.update(version="../../../../outside"))
    work = tmp_path / "a" / "b" / "c" / "d"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = _files(tmp_path)
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2 and "version" in r.output and "../../../../outside" in r.output
    for args in ([], ["--out", str(work / "out")]):
        r = runner.invoke(app, ["evaluate", "--dataset", DSPRITES, "--submission", str(sub), "--trust-code", *args])
        assert r.exit_code == 2, r.output
        assert "version" in r.output and "Traceback" not in r.output
    with pytest.raises(ManifestError, match="version"):
        evaluate(sub, DSPRITES, trust_code=True, out=work / "out2")
    assert _files(tmp_path) == before  # nothing written anywhere, inside or outside --out
    assert not (tmp_path / "outside").exists()


def test_one_name_rule_for_every_path_component():
    from msd_bench.harness.results import DatasetRef, SubmissionRef
    from msd_bench.testing import make_result

    bad = ["../x", "..", ".hidden", "a/b", "a\\b", "", "Upper", "sp ace", "x" * 65]
    for value in bad:
        with pytest.raises(ManifestError):
            parse_manifest({"name": value})  # fails on the name first
        for kw in ({"submission": value}, {"version": value}, {"dataset": value}, {"protocol": value}):
            with pytest.raises(ValueError):
                make_result(**kw)
    good = ["dsvae", "1.0.0", "msd-bench-1", "dsprites-dynamic", "3dshapes-dynamic", "v1.0+cu121", "a_b"]
    for value in good:
        make_result(submission=value, version=value, dataset=value, protocol=value)
    # the schema carries one pattern for all of them
    for model, fld in ((DatasetRef, "name"), (SubmissionRef, "name"), (SubmissionRef, "version")):
        assert model.model_json_schema()["properties"][fld]["pattern"] == NAME_PATTERN


# -------------------------------------------------------------------------- 3. SystemExit in submissions
@pytest.mark.parametrize("where", ["import", "build"])
@pytest.mark.parametrize("code", [0, 1, "bye"])
def test_system_exit_in_the_entry_point_is_a_one_line_error(sub, where, code):
    model = sub / "model.py"
    src = model.read_text()
    if where == "import":
        src += f"\nraise SystemExit({code!r})\n"
    else:
        head = "def build(**config) -> TinyModel:"
        src = src.replace(head, f"{head}\n    raise SystemExit({code!r})")
    model.write_text(src)
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "sys.exit" in lines[0], r.output


def test_system_exit_stops_validate_evaluate_and_submit_with_exit_2(sub, tmp_path):
    _declare(sub, DSPRITES)
    model = sub / "model.py"
    model.write_text(model.read_text().replace("def build(**config) -> TinyModel:",
                                               "def build(**config) -> TinyModel:\n    raise SystemExit(0)"))
    commands = [
        ["validate", str(sub), "--trust-code"],
        ["evaluate", "--dataset", DSPRITES, "--submission", str(sub), "--trust-code", "--out", str(tmp_path / "o")],
        ["submit", str(sub), "--trust-code", "--store", str(tmp_path / "store")],
    ]
    for args in commands:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "called sys.exit(0)" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists() and not list((tmp_path / "store").rglob("*.json"))


def test_system_exit_inside_encode_is_a_submission_error(sub):
    model = sub / "model.py"
    patch = "\ndef _exit(self, x):\n    raise SystemExit(3)\n\n\nTinyModel.encode = _exit\n"
    model.write_text(model.read_text() + patch)
    from msd_bench.harness.loader import load_submission

    m = load_submission(sub, trust_code=True)
    with pytest.raises(SubmissionError, match=r"encode called sys.exit\(3\)"):
        m.encode(torch.zeros(1, *TOY))


# ------------------------------------------------------------------------------ 4. no rich markup
def test_error_messages_keep_square_brackets(sub):
    edit(sub, lambda d: d.update(name="Bad Name!"))
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2
    assert "String should match pattern '^[a-z0-9][a-z0-9._+-]{0,63}$'" in r.output  # the classes survive
    edit(sub, lambda d: d.update(name="[bold]x[/bold]"))
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert "'[bold]x[/bold]'" in r.output  # any [word] survives


def test_print_error_is_plain_text(capsys):
    from msd_bench._cli_utils import print_error

    print_error("pattern [a-z0-9] and [red]not red[/] and [/]")
    assert "pattern [a-z0-9] and [red]not red[/] and [/]" in capsys.readouterr().err


# ------------------------------------------------------------------------------ 5. strict manifests
def _good(**entry) -> dict:
    ds = {"static_dim": 8, "dynamic_dim": 4, "encoder": "e.onnx", "decoder": "d.onnx", **entry}
    return {"name": "m", "version": "1", "authors": ["a"], "license": "MIT", "format": "onnx",
            "interface_version": 1, "datasets": {"sprites": ds}}


@pytest.mark.parametrize("entry,needle", [
    ({"static_dim": True}, "datasets.sprites.static_dim: got True, expected an integer"),
    ({"dynamic_dim": False}, "datasets.sprites.dynamic_dim: got False"),
    ({"static_dim": 8.0}, "datasets.sprites.static_dim"),
    ({"static_dim": "8"}, "datasets.sprites.static_dim"),
    ({"input_shape": [4, 3, True, 16]}, "input_shape"),
])
def test_static_dim_true_is_refused(entry, needle):
    with pytest.raises(ManifestError) as info:
        parse_manifest(_good(**entry))
    assert needle in str(info.value)


def test_interface_version_true_is_refused():
    with pytest.raises(ManifestError, match="interface_version"):
        parse_manifest({**_good(), "interface_version": True})


@pytest.mark.parametrize("text,needle", [
    ("name: a\nname: b\n", "duplicate key 'name'"),
    ("name: m\ndatasets:\n  sprites:\n    static_dim: 8\n    static_dim: 9\n", "duplicate key 'static_dim'"),
])
def test_duplicate_yaml_keys_are_refused(tmp_path, text, needle):
    (tmp_path / "submission.yaml").write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    msg = str(info.value)
    assert needle in msg and "line " in msg and "\n" not in msg


def test_manifest_symlink_out_of_the_folder_is_refused(sub, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    (sub / "submission.yaml").rename(outside)
    os.symlink(outside, sub / "submission.yaml")
    with pytest.raises(ManifestError, match="outside the submission folder"):
        load_manifest(sub)
    r = runner.invoke(app, ["validate", str(sub), "--trust-code"])
    assert r.exit_code == 2 and "outside the submission folder" in r.output
    # a link that stays inside the folder is fine
    (sub / "submission.yaml").unlink()
    outside.rename(sub / "real.yaml")
    os.symlink("real.yaml", sub / "submission.yaml")
    assert load_manifest(sub).name == "example-torch"


# --------------------------------------------------------------------------------- 5. --seed, --limit
@pytest.mark.parametrize("command", ["evaluate", "submit"])
def test_seed_minus_one_is_refused_at_the_option(sub, command):
    args = (["evaluate", "--submission", str(sub)] if command == "evaluate" else ["submit", str(sub)])
    r = runner.invoke(app, [*args, "--seed", "-1"])
    assert r.exit_code == 2
    assert "Invalid value for '--seed'" in r.output and "greater than or equal to 0" in r.output


def test_seed_minus_one_is_refused_by_the_python_api(sub):
    with pytest.raises(MsdBenchError, match="--seed must be an integer >= 0, got -1"):
        evaluate(sub, DSPRITES, seed=-1)


class _Model:
    """A tiny interface-conforming Python model for 3x16x16 videos (mean colour / per-frame mean)."""

    name, version = "Tiny Python Model", "0.1 beta"
    static_dim, dynamic_dim = 3, 1

    def encode(self, x):
        from msd_bench.harness import Latents

        return Latents(x.mean(dim=(1, 3, 4)), x.mean(dim=(2, 3, 4))[..., None])

    def decode(self, z):
        b, t = z.dynamic.shape[:2]
        return z.static[:, None, :, None, None].expand(b, t, 3, 16, 16).clamp(0, 1).contiguous()


@pytest.fixture()
def synthetic(monkeypatch, tmp_path):
    ds = SyntheticDataset(n=40, frames=4, image_size=16, seed=3)
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets_mod, "get_spec", lambda name: SimpleNamespace(name=name, factors=ds.factors,
                                                                               shape=ds.shape))
    monkeypatch.setattr(datasets_mod, "open_dataset", lambda name, size="full": ds)
    monkeypatch.setattr(judges_mod, "load_judge", lambda name, **kw: RandomJudge(ds.factors))
    return ds


def test_limit_above_the_split_is_clamped_and_recorded(synthetic, tmp_path):
    n_test = len(synthetic.indices("test"))
    assert n_test == 6
    res = evaluate(_Model(), "synthetic", limit=1000, metrics=["reconstruction"], device="cpu", out=tmp_path / "o",
                   pictures=False)
    assert res.dataset.n == n_test and res.settings.limit == n_test
    stored = json.loads((tmp_path / "o" / "result.json").read_text())
    assert stored["settings"]["limit"] == n_test and stored["dataset"]["n"] == n_test
    # a Python model's name and version are turned into valid names (they become folder names)
    assert (res.submission.name, res.submission.version) == ("tiny-python-model", "0.1-beta")
    small = evaluate(_Model(), "synthetic", limit=4, metrics=["reconstruction"], device="cpu", pictures=False)
    assert small.dataset.n == 4 and small.settings.limit == 4


def test_non_finite_metric_value_becomes_an_error_score():
    from msd_bench.metrics.base import MetricValue

    sc = _score(MetricValue(float("nan"), None, None, 10, "1", True, name="m"))
    assert sc.status == "error" and sc.value is None and "non-finite" in sc.reason
    sc = _score(MetricValue(0.5, 0.4, math.inf, 10, "1", True, name="m"))
    assert sc.status == "error" and "ci_high=inf" in sc.reason


# ------------------------------------------------------------------------------ 5. no empty --out
def test_early_error_leaves_no_empty_out_folder(synthetic, sub, tmp_path):
    out = tmp_path / "results" / "deep" / "out"
    with pytest.raises(SubmissionError, match="trust-code"):  # fails while loading, after --out is probed
        evaluate(_declare(sub, "synthetic"), "synthetic", out=out, device="cpu")
    assert not (tmp_path / "results").exists()
    # a folder that existed before is kept
    out.mkdir(parents=True)
    with pytest.raises(SubmissionError):
        evaluate(sub, "synthetic", out=out, device="cpu")
    assert out.is_dir()


def test_evaluate_cli_early_error_leaves_no_out_folder(sub, tmp_path):
    _declare(sub, DSPRITES)
    out = tmp_path / "o" / "p"
    r = runner.invoke(app, ["evaluate", "--dataset", DSPRITES, "--submission", str(sub), "--out", str(out)])
    assert r.exit_code == 2 and "--trust-code" in r.output
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------- 5. bench verdict
def test_bench_with_an_invalid_verdict_exits_2(sub, tmp_path):
    out = tmp_path / "bench.json"
    r = runner.invoke(app, ["bench", str(sub), "--trust-code", "--device", "cpu", "--queries", "8",
                            "--warmup", "0", "--batch-size", "2", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "INVALID" in r.output and "error: bench verdict INVALID: p90 needs >= 64 queries, got 8" in r.output
    report = json.loads(out.read_text())  # the report is still written
    assert report["verdict"] == "INVALID" and report["latency"]["p50_ms"] > 0
