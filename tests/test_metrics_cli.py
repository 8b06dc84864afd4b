"""`msd-bench metrics list` and `msd-bench metrics score-codes`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from msd_bench.cli import app
from msd_bench.errors import MetricError
from msd_bench.harness.suite import GROUP_METRICS, GROUPS, RANDOMISED, resolve_groups
from msd_bench.metrics import representation as R
from msd_bench.metrics.codes import score_codes, split_rows

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.integers(0, 3, (300, 2))
    c = np.concatenate([f + 0.2 * rng.normal(size=f.shape), rng.normal(size=(300, 2))], 1)
    np.save(tmp_path / "codes.npy", c)
    np.save(tmp_path / "factors.npy", f)
    return tmp_path, c, f


def test_list_shows_names_versions_directions():
    res = runner.invoke(app, ["metrics", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["mig"]["higher_is_better"] is True and rows["mig"]["version"] == "1"
    assert rows["gaussian_total_correlation"]["higher_is_better"] is False
    assert "prior" in rows["multi_sample.cell_error"]["needs"]
    res = runner.invoke(app, ["metrics", "list"])
    assert res.exit_code == 0 and "local_sample_consistency" in res.output


def test_score_codes_json_matches_library(arrays):
    tmp, c, f = arrays
    out = tmp / "out" / "scores.json"
    res = runner.invoke(app, ["metrics", "score-codes", str(tmp / "codes.npy"), str(tmp / "factors.npy"),
                              "--json", "--metrics", "mig,sap,dci", "--split-fraction", "0.25", "--seed", "3",
                              "--output", str(out)])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert json.loads(out.read_text()) == payload
    tr, te = split_rows(300, 0.25, 3)
    assert payload["n_train"] == 225 and payload["n_test"] == 75
    m = payload["metrics"]
    assert m["mig"]["value"] == pytest.approx(R.mig(c[tr], f[tr]), abs=1e-12)
    assert m["sap"]["value"] == pytest.approx(R.sap(c[tr], f[tr], c[te], f[te]), abs=1e-12)
    ref = R.dci(c[tr], f[tr], c[te], f[te])  # default estimator: disentanglement_lib's GBT definition
    for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"):
        assert m[f"dci.{key}"]["value"] == pytest.approx(ref[key], abs=1e-12)
        assert m[f"dci.{key}"]["version"] == "2" and m[f"dci.{key}"]["extra"]["estimator"] == "gbt"
    assert not any(k.startswith("dci_hist") for k in m)
    for k, v in m.items():
        assert v["n"] > 0
        if v["ci_low"] is not None:
            assert v["ci_low"] <= v["value"] <= v["ci_high"]
        if not k.startswith("dci"):
            assert v["version"] == "1"


def test_score_codes_hist_estimator_has_its_own_names(arrays):
    tmp, c, f = arrays
    res = runner.invoke(app, ["metrics", "score-codes", str(tmp / "codes.npy"), str(tmp / "factors.npy"),
                              "--json", "--metrics", "dci", "--estimator", "hist"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)["metrics"]
    assert set(m) == {"dci_hist.disentanglement", "dci_hist.completeness", "dci_hist.informativeness_train",
                      "dci_hist.informativeness_test"}
    assert all(v["extra"]["estimator"] == "hist" for v in m.values())


def test_score_codes_dci_bad_input_not_applicable_with_reason(arrays):
    _, c, f = arrays
    one_class = np.stack([f[:, 0], np.zeros(len(f), int)], 1)
    out = score_codes(c[:200], one_class[:200], c[200:], one_class[200:], metrics=("dci",))
    assert set(out) == {"dci.disentanglement", "dci.completeness", "dci.informativeness_train",
                        "dci.informativeness_test"}
    assert all(not v.applicable and "single class" in v.reason for v in out.values())
    const = np.zeros_like(c)
    out = score_codes(const[:200], f[:200], const[200:], f[200:], metrics=("dci",), estimator="hist")
    assert all(not v.applicable and "constant" in v.reason for v in out.values())
    one = score_codes(c[:200], f[:200, :1], c[200:], f[200:, :1], metrics=("dci",))
    assert not one["dci.disentanglement"].applicable and one["dci.completeness"].applicable


def test_score_codes_explicit_test_split_and_table(arrays):
    tmp, c, f = arrays
    np.save(tmp / "tc.npy", c[:100])
    np.save(tmp / "tf.npy", f[:100])
    res = runner.invoke(app, ["metrics", "score-codes", str(tmp / "codes.npy"), str(tmp / "factors.npy"),
                              "--test-codes", str(tmp / "tc.npy"), "--test-factors", str(tmp / "tf.npy"),
                              "--metrics", "mig,explicitness"])
    assert res.exit_code == 0, res.output
    assert "mig" in res.output and "explicitness.test" in res.output and "test 100 rows" in res.output


def test_score_codes_same_seed_same_numbers(arrays):
    _, c, f = arrays
    a = score_codes(c[:200], f[:200], c[200:], f[200:], metrics=("mig", "sap"), seed=1)
    b = score_codes(c[:200], f[:200], c[200:], f[200:], metrics=("mig", "sap"), seed=1)
    assert {k: v.to_dict() for k, v in a.items()} == {k: v.to_dict() for k, v in b.items()}


@pytest.mark.parametrize(
    "make, args, needle",
    [
        (None, ["missing.npy", "factors.npy"], "does not exist"),
        ("garbage", ["bad.npy", "factors.npy"], "not a readable .npy"),
        ("nan", ["nan.npy", "factors.npy"], "NaN/Inf"),
        ("short", ["codes.npy", "short.npy"], "has 10 rows but codes file"),
        ("3d", ["cube.npy", "factors.npy"], "expected a 2-D array"),
        (None, ["codes.npy", "factors.npy", "--test-codes", "codes.npy"], "give both --test-codes"),
        (None, ["codes.npy", "factors.npy", "--split-fraction", "1.5"], "--split-fraction must be in (0, 1)"),
        (None, ["codes.npy", "factors.npy", "--estimator", "xgb"], "unknown DCI estimator"),
        (None, ["codes.npy", "factors.npy", "--metrics", "mig,foo"], "unknown code metric"),
    ],
)
def test_score_codes_bad_inputs_exit_2(arrays, make, args, needle):
    tmp, c, f = arrays
    if make == "garbage":
        (tmp / "bad.npy").write_bytes(b"not numpy")
    elif make == "nan":
        bad = c.copy()
        bad[3, 1] = np.nan
        np.save(tmp / "nan.npy", bad)
    elif make == "short":
        np.save(tmp / "short.npy", f[:10])
    elif make == "3d":
        np.save(tmp / "cube.npy", np.zeros((300, 2, 2)))
    out = tmp / "o.json"
    res = runner.invoke(app, ["metrics", "score-codes", *[str(tmp / a) if a.endswith(".npy") else a for a in args],
                              "--output", str(out)])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not out.exists()
    assert not list(tmp.glob(".o.json*"))  # no half-written temp file


def test_degenerate_metric_is_not_applicable_not_a_crash(tmp_path):
    rng = np.random.default_rng(1)
    f = rng.integers(0, 3, (200, 1))  # one factor: modularity needs two
    c = np.concatenate([f + 0.1 * rng.normal(size=f.shape), rng.normal(size=(200, 1))], 1)
    out = score_codes(c[:150], f[:150], c[150:], f[150:], metrics=("mig", "modularity"))
    assert out["mig"].applicable and out["mig"].value > 0.5
    assert not out["modularity"].applicable and "at least 2" in out["modularity"].reason
    np.save(tmp_path / "c.npy", c)
    np.save(tmp_path / "f.npy", f)
    res = runner.invoke(app, ["metrics", "score-codes", str(tmp_path / "c.npy"), str(tmp_path / "f.npy"),
                              "--metrics", "mig,modularity"])
    assert res.exit_code == 0 and "n/a" in res.output


def test_list_groups_names_every_group_and_its_scores():
    res = runner.invoke(app, ["metrics", "list", "--groups", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["group"] for r in rows] == list(GROUPS)
    for r in rows:
        assert r["metrics"] == list(GROUP_METRICS[r["group"]]) and r["randomised"] == (r["group"] in RANDOMISED)
    assert next(r for r in rows if r["group"] == "static_dynamic_swap")["aliases"] == ["two_factor_swap"]
    res = runner.invoke(app, ["metrics", "list", "--groups"], terminal_width=200)
    assert res.exit_code == 0 and "representation" in res.output and "msd.dci.modularity" in res.output


@pytest.mark.parametrize(
    ("given", "groups"),
    [
        ("mse", ["reconstruction"]),
        ("mig, msd.dci.modularity", ["representation", "msd"]),
        ("dci", ["representation"]),  # a dotted prefix of one group's scores
        ("msd.dci", ["msd"]),
        ("psnr,reconstruction,ssim", ["reconstruction"]),
        ("two_factor_swap", ["static_dynamic_swap"]),
        (["cdsvae.h_y", "generation"], ["cdsvae", "generation"]),
    ],
)
def test_metric_names_resolve_to_their_group(given, groups):
    assert resolve_groups(given) == groups


def test_unknown_metric_name_lists_close_matches_exit_2(tmp_path):
    with pytest.raises(MetricError, match=r"unknown metric or group 'psrn'; did you mean psnr\?"):
        resolve_groups("psrn")
    with pytest.raises(MetricError, match="groups: reconstruction, static_dynamic_swap"):
        resolve_groups("zzz")
    res = runner.invoke(app, ["evaluate", "--submission", str(tmp_path / "none"), "--metrics", "mse,dci.disentangle"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "did you mean dci.disentanglement" in lines[0], res.output
