"""Manifest parsing, its one-line errors and the checked-in JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import ManifestError
from msd_bench.harness.manifest import (
    ManifestProblems,
    load_manifest,
    manifest_problems,
    manifest_schema_text,
    parse_manifest,
)

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def good(**overrides) -> dict:
    data = {
        "name": "my-model",
        "version": "1.0.0",
        "authors": ["A. Author"],
        "license": "MIT",
        "format": "onnx",
        "interface_version": 1,
        "datasets": {"sprites": {"static_dim": 8, "dynamic_dim": 4, "encoder": "e.onnx", "decoder": "d.onnx"}},
    }
    data.update(overrides)
    return data


def write(folder: Path, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    (folder / "submission.yaml").write_text(text)
    return folder


def test_good_manifest_round_trips(tmp_path):
    m = load_manifest(write(tmp_path / "s", good()))
    assert m.name == "my-model" and m.format == "onnx"
    assert m.datasets["sprites"].static_dim == 8
    assert m.datasets["sprites"].artefacts() == {"encoder": "e.onnx", "decoder": "d.onnx"}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (good(format="tensorflow"), "format: got 'tensorflow', expected 'onnx' or 'torch'"),
        (good(colour="red"), "unknown field 'colour'"),
        (good(interface_version=3), "interface_version: got 3, expected 1 or 2"),
        (good(interface_version=2), "modality is required for interface_version 2"),
        ({k: v for k, v in good().items() if k != "license"}, "required field 'license' is missing"),
        (good(name="Bad Name!"), "name"),
        (good(datasets={"sprites": {"static_dim": 8, "dynamic_dim": 4, "encoder": "e.onnx"}}), "decoder is required"),
        (good(datasets={"s": {"static_dim": 0, "dynamic_dim": 4, "encoder": "e", "decoder": "d"}}), "static_dim"),
        (
            good(format="torch", datasets={"s": {"static_dim": 2, "dynamic_dim": 2, "weights": "m.pth",
                                                 "entry_point": "model:build"}}),
            "pickle checkpoint",
        ),
        (
            good(format="torch", datasets={"s": {"static_dim": 2, "dynamic_dim": 2, "weights": "m.safetensors",
                                                 "entry_point": "not an entry"}}),
            "module:function",
        ),
        ([1, 2, 3], "expected a mapping"),
    ],
)
def test_bad_manifest_one_line_error(data, needle):
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="submission.yaml is missing"):
        load_manifest(tmp_path / "empty")


def test_yaml_syntax_error_names_the_line(tmp_path):
    folder = write(tmp_path / "s", "name: x\nversion: 1\nauthors: [a, b\nlicense: MIT\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(folder)
    assert "YAML syntax error" in str(info.value) and "line " in str(info.value)


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "submission.yaml is missing"),
        (lambda p: write(p, "a: [1\n"), "YAML syntax error"),
        (lambda p: write(p, good(extra_field=1)), "unknown field 'extra_field'"),
        (lambda p: write(p, good(format="jax")), "expected 'onnx' or 'torch'"),
    ],
)
def test_validate_cli_manifest_errors_exit_2(tmp_path, setup, needle):
    path = tmp_path / "sub"
    setup(path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_checked_in_schema_is_current():
    checked_in = (REPO / "docs" / "submission.schema.json").read_text()
    assert checked_in == manifest_schema_text(), "stale schema: run `msd-bench schema`"
    result = runner.invoke(app, ["schema", "--check", "--out-dir", str(REPO / "docs")])
    assert result.exit_code == 0, result.output


def test_schema_check_detects_stale_file(tmp_path):
    (tmp_path / "submission.schema.json").write_text("{}\n")
    result = runner.invoke(app, ["schema", "--check", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2 and "stale JSON Schema" in result.output
    assert runner.invoke(app, ["schema", "--out-dir", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "submission.schema.json").read_text() == manifest_schema_text()


# ----------------------------------------------------------------- every problem at once, with hints
def _problems(data) -> list[str]:
    with pytest.raises(ManifestProblems) as info:
        parse_manifest(data)
    assert isinstance(info.value, ManifestError) and info.value.exit_code == 2
    assert all("\n" not in p for p in info.value.problems)
    return info.value.problems


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        (good(version=0.1), ["version: got the number 0.1", 'quote it: version: "0.1"']),
        (good(version=1), ["version: got the number 1", 'quote it: version: "1"']),
        (good(name=True), ["name: got True", "boolean"]),
        (good(name="My Model"), ["name: got 'My Model'", "upper-case letters and spaces", "try 'my-model'"]),
        (good(name="MyModel"), ["upper-case letters", "try 'mymodel'"]),
        (good(licence="MIT"), ["unknown field 'licence'", "did you mean 'license'?"]),
        (good(format="pytorch"), ["format: got 'pytorch'", "did you mean 'torch'?"]),
        (good(format="ONNX"), ["format: got 'ONNX'", "did you mean 'onnx'?"]),
        (good(interface_version="1"), ["interface_version: got the string '1'", "interface_version: 1"]),
        (good(authors="Ada Lovelace"), ["authors: got the single string", "authors: [Ada Lovelace]"]),
        (good(static_dim=8), ["unknown field 'static_dim'", "belongs under datasets.<dataset>"]),
        (good(sprites={}), ["unknown field 'sprites'", "dataset entries go under datasets:"]),
        (
            good(datasets={"Sprites": {"static_dim": 8, "dynamic_dim": 4, "encoder": "e", "decoder": "d"}}),
            ["key 'Sprites' of datasets", "the built-in dataset is 'sprites'"],
        ),
        (
            good(datasets={"sprites": {"static_dims": 8, "dynamic_dim": 4, "encoder": "e", "decoder": "d"}}),
            ["unknown field 'datasets.sprites.static_dims'", "did you mean 'static_dim'?",
             "required field 'datasets.sprites.static_dim' is missing"],
        ),
        (
            good(datasets={"sprites": {"static_dim": "8", "dynamic_dim": 4.0, "encoder": "e", "decoder": "d"}}),
            ["got the string '8'", "static_dim: 8", "got 4.0", "dynamic_dim: 4 without a decimal point"],
        ),
        (
            good(format="torch", datasets={"s": {"static_dim": 2, "dynamic_dim": 2, "weights": "m.safetensors",
                                                 "entry_point": "model.py"}}),
            ["entry_point must look like 'module:function'", "model:build"],
        ),
        (
            good(datasets={"s": {"static_dim": 2, "dynamic_dim": 2, "encoder": "e", "decoder": "d",
                                 "weights": "w.safetensors"}}),
            ["datasets.s.weights is only allowed for format torch (this manifest says format: onnx)"],
        ),
        ({k: v for k, v in good().items() if k != "version"}, ['required field \'version\' is missing',
                                                               'version: "1.0.0"']),
    ],
)
def test_each_common_slip_gets_its_hint(data, needles):
    text = "\n".join(_problems(data))
    for needle in needles:
        assert needle in text, (needle, text)


def test_every_problem_is_reported_at_once():
    data = good(name="My Model", version=0.1, licence="MIT", format="pytorch")
    del data["license"]
    problems = _problems(data)
    assert len(problems) == 5, problems
    for needle in ("name:", "version:", "'licence'", "'license' is missing", "format:"):
        assert sum(needle in p for p in problems) == 1, (needle, problems)
    # the format-dependent rules run too when field errors stop pydantic's model validator
    data = good(version=0.1, datasets={"sprites": {"static_dim": 8, "dynamic_dim": 4, "encoder": "e"}})
    text = "\n".join(_problems(data))
    assert "version: got the number 0.1" in text and "datasets.sprites.decoder is required for format onnx" in text


def test_one_problem_is_one_line_several_are_one_line_each():
    one = str(pytest.raises(ManifestError, parse_manifest, good(version=0.1)).value)
    assert "\n" not in one and one.startswith("submission.yaml: version:")
    many = str(pytest.raises(ManifestError, parse_manifest, good(version=0.1, name="X Y")).value)
    lines = many.splitlines()
    assert lines[0] == "submission.yaml: 2 problems:" and len(lines) == 3
    assert lines[1].startswith("  name:") and lines[2].startswith("  version:")


def test_validate_cli_prints_every_problem_and_exits_2(tmp_path):
    folder = write(tmp_path / "s", "name: My Model\nversion: 0.1\nauthors: [a]\nlicence: MIT\nformat: onnx\n"
                   "interface_version: 1\ndatasets:\n  sprites: {static_dim: 8, dynamic_dim: 4, encoder: e.onnx}\n")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    out = result.output
    assert "5 problems:" in out, out
    for needle in ("try 'my-model'", 'version: "0.1"', "did you mean 'license'?", "license' is missing",
                   "decoder is required for format onnx"):
        assert needle in out, (needle, out)
    assert "Traceback" not in out


def test_valid_manifest_has_no_problems():
    assert manifest_problems(good()) == []
    assert parse_manifest(good()).name == "my-model"
