"""Manifest parsing, its one-line errors and the checked-in JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import ManifestError
from msd_bench.harness.manifest import load_manifest, manifest_schema_text, parse_manifest

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
