"""The evaluation runner: a full run on real data, determinism, resuming, failing groups, bad input.

The judge here is a fixed random linear read-out (no trained judge needed): these tests check the
runner's mechanics, not the scores' meaning (that is tested with the real judges and an oracle model).
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import msd_bench.judges as judges_mod
from msd_bench.cli import app
from msd_bench.errors import DatasetError, DeviceError, MetricError, MsdBenchError, SubmissionError
from msd_bench.harness import suite
from msd_bench.harness.examples import build_example
from msd_bench.harness.runner import RESULT_FILE, evaluate
from msd_bench.testing import RandomJudge

runner = CliRunner()
LIMIT = 40
FAST = ["reconstruction", "static_dynamic_swap", "generation", "exploration", "multi_factor", "msd", "cdsvae",
        "representation"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MSD_BENCH_CACHE", str(root / "cache"))
        mp.setattr(judges_mod, "load_judge", lambda name, backend="onnx", device="cpu", **kw: RandomJudge(
            __import__("msd_bench.datasets", fromlist=["get_spec"]).get_spec(name).factors))
        sub = build_example(root / "onnx", "onnx", dataset="sprites")
        yield root, sub


def run(sub, out=None, **kw):
    kw.setdefault("metrics", FAST)
    return evaluate(sub, "sprites", size="small", limit=LIMIT, batch_size=16, device="cpu", out=out, **kw)


def test_full_run_writes_a_complete_result(env):
    root, sub = env
    out = root / "out"
    result = run(sub, out=out)
    assert result.status == "complete", result.errors
    assert result.dataset.n == LIMIT and result.dataset.size == "small"
    for name in ("mse", "psnr", "ssim", "static_dynamic_swap.static_accuracy", "multi_swap.cell_error", "mig",
                 "generation.sample_static.accuracy", "exploration.test_accuracy.mean", "dci.disentanglement"):
        assert name in result.scores, name
        assert result.scores[name].n, name
    assert result.scores["mse"].ci_low <= result.scores["mse"].value <= result.scores["mse"].ci_high
    saved = json.loads((out / RESULT_FILE).read_text())
    assert saved["status"] == "complete" and saved["submission"]["name"] == "example-onnx"
    assert saved["groups"].keys() == set(FAST)
    for group in FAST:  # the static table behind `--metrics NAME` and `metrics list --groups` is what runs
        assert saved["groups"][group] == list(suite.GROUP_METRICS[group]), group
    for pic in ("reconstruction.png", "reconstruction.gif", "swap.png", "samples.png", "factor_swap.png"):
        assert (out / pic).is_file(), pic
    assert result.timing.model_s > 0 and result.timing.judge_s > 0 and result.timing.overhead >= 1.0
    assert result.environment["fingerprint"] and result.environment["packages"]["torch"]


def test_same_seed_same_scores(env):
    _, sub = env
    a = run(sub, metrics=["two_factor_swap", "multi_factor"], pictures=False)
    b = run(sub, metrics=["two_factor_swap", "multi_factor"], pictures=False)
    assert {k: v.model_dump() for k, v in a.scores.items()} == {k: v.model_dump() for k, v in b.scores.items()}
    c = run(sub, metrics=["two_factor_swap"], seed=1, pictures=False)
    assert c.scores["static_dynamic_swap.static_accuracy"] != a.scores["static_dynamic_swap.static_accuracy"]


def test_failing_group_is_an_error_entry_and_resume_computes_only_what_is_missing(env, monkeypatch):
    root, sub = env
    out = root / "resume"
    calls = []
    real = dict(suite.GROUPS)

    def boom(ctx):
        raise RuntimeError("metric exploded")

    def counted(name):
        def fn(ctx):
            calls.append(name)
            return real[name](ctx)
        return fn

    monkeypatch.setitem(suite.GROUPS, "reconstruction", counted("reconstruction"))
    monkeypatch.setitem(suite.GROUPS, "static_dynamic_swap", boom)
    first = run(sub, out=out, metrics=["reconstruction", "static_dynamic_swap"], pictures=False)
    assert first.status == "partial"
    assert first.errors == {"static_dynamic_swap": "RuntimeError: metric exploded"}
    assert "mse" in first.scores and calls == ["reconstruction"]
    monkeypatch.setitem(suite.GROUPS, "static_dynamic_swap", counted("static_dynamic_swap"))
    second = run(sub, out=out, metrics=["reconstruction", "static_dynamic_swap"], pictures=False)
    assert second.status == "complete" and not second.errors
    assert calls == ["reconstruction", "static_dynamic_swap"]  # reconstruction was resumed, not recomputed
    assert second.scores["mse"] == first.scores["mse"]


def test_interrupt_keeps_finished_groups(env, monkeypatch):
    root, sub = env
    out = root / "interrupt"

    def interrupt(ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(suite.GROUPS, "static_dynamic_swap", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(sub, out=out, metrics=["reconstruction", "static_dynamic_swap"], pictures=False)
    saved = json.loads((out / RESULT_FILE).read_text())
    assert saved["status"] == "partial" and "reconstruction" in saved["groups"]
    assert saved["missing"] == ["static_dynamic_swap"]


def test_python_model_mid_training(env):
    """Any object with the interface can be scored, e.g. an nn.Module being trained."""
    from msd_bench.harness.example_model import TinyModel

    model = TinyModel(frames=8, channels=3, height=64, width=64)
    result = evaluate(model, "sprites", size="small", limit=LIMIT, metrics=["reconstruction"], device="cpu",
                      pictures=False)
    assert result.submission.format == "python" and result.submission.parameters == sum(
        p.numel() for p in model.parameters())
    assert result.status == "complete"


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"dataset": "nope"}, DatasetError, "nope"),
        ({"metrics": ["nonsense"]}, MetricError, "unknown metric or group 'nonsense'"),
        ({"device": "cuda"}, DeviceError, "cuda"),
        ({"dataset": "moving-digits"}, SubmissionError, "does not declare dataset 'moving-digits'"),
    ],
)
def test_bad_input(env, kwargs, error, needle):
    _, sub = env
    if kwargs.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    dataset = kwargs.pop("dataset", "sprites")
    with pytest.raises(error, match=needle):
        evaluate(sub, dataset, size="small", limit=LIMIT, **kwargs)


def test_latent_dims_must_match_manifest(env, tmp_path):
    _, sub = env
    import shutil

    import yaml

    bad = tmp_path / "bad"
    shutil.copytree(sub, bad)
    data = yaml.safe_load((bad / "submission.yaml").read_text())
    data["datasets"]["sprites"]["dynamic_dim"] = 5
    (bad / "submission.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SubmissionError, match="do not match the declared"):
        evaluate(bad, "sprites", size="small", limit=LIMIT)


def test_unwritable_out(env, tmp_path):
    _, sub = env
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MsdBenchError, match="not writable"):
        evaluate(sub, "sprites", size="small", limit=LIMIT, out=blocker / "sub")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dataset", "nope"], "unknown dataset"),
        (["--metrics", "bogus"], "unknown metric or group 'bogus'"),
        (["--dataset", "dsprites-static"], "does not declare dataset"),
    ],
)
def test_evaluate_cli_bad_input_exit_2(env, args, needle, tmp_path):
    _, sub = env
    result = runner.invoke(app, ["evaluate", "--submission", str(sub), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output.lower()
    assert not (tmp_path / "o" / RESULT_FILE).exists()


def test_evaluate_cli_prints_table(env, tmp_path):
    _, sub = env
    out = tmp_path / "cli"
    result = runner.invoke(app, ["evaluate", "--submission", str(sub), "--size", "small", "--limit", str(LIMIT),
                                 "--metrics", "reconstruction", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "psnr" in result.output and "judge ceiling" in result.output
    assert json.loads((out / RESULT_FILE).read_text())["scores"]["psnr"]["value"] > 0


def test_repeats_give_mean_and_std_over_seeds(env):
    _, sub = env
    # the whole (small) test split, so that the evaluated set does not depend on the seed
    def whole(**kw):
        return evaluate(sub, "sprites", size="small", batch_size=64, device="cpu", pictures=False, **kw).scores

    single = [whole(metrics=["static_dynamic_swap"], seed=s) for s in (0, 1)]
    both = whole(metrics=["static_dynamic_swap", "reconstruction"], repeats=2)
    name = "static_dynamic_swap.static_accuracy"
    mean = (single[0][name].value + single[1][name].value) / 2
    assert both[name].value == pytest.approx(mean)
    assert both[name].n == 2 and both[name].std is not None
    assert both[name].details["repeats"] == [single[0][name].value, single[1][name].value]
    assert both["mse"].n > 2 and both["mse"].std is None  # deterministic groups are not repeated


def test_evaluate_cli_without_a_terminal_prints_plain_progress_lines(env, tmp_path):
    _, sub = env
    res = runner.invoke(app, ["evaluate", "--submission", str(sub), "--size", "small", "--limit", str(LIMIT),
                              "--batch-size", "16", "--device", "cpu", "--no-pictures", "--out", str(tmp_path / "o"),
                              "--metrics", "reconstruction,static_dynamic_swap"])
    assert res.exit_code == 0, res.output
    lines = [ln.split("] ", 1)[1] for ln in res.output.splitlines() if "] example-onnx on sprites: " in ln]
    # the periodic lines depend on the machine's speed; the others come in a fixed order
    events = [ln.removeprefix("example-onnx on sprites: ").split(" (")[0] for ln in lines if " ago, " not in ln]
    assert events == ["reconstruction", "reconstruction done", "static_dynamic_swap", "static_dynamic_swap done"]
    assert lines[0] == "example-onnx on sprites: reconstruction (1/2) started"


def test_progress_reporter_periodic_lines_and_bars():
    import io
    import time

    from rich.console import Console

    from msd_bench._cli_utils import EvalProgress

    buf = io.StringIO()
    with EvalProgress("m on d", console=Console(file=buf, width=200), interval_s=0.01) as p:
        p.group("reconstruction", 0, 2)
        p.batch("reconstruction", 3, None)
        deadline = time.monotonic() + 10
        while " ago, " not in buf.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)  # the timer thread prints while a group runs, forward passes or not
        p.group("msd", 1, 2)
        p.batch("msd", 4, 9)
    text = buf.getvalue()
    assert "m on d: reconstruction (1/2) started " in text and " s ago, 3 forward passes since" in text
    assert "m on d: reconstruction done (" in text and "m on d: msd (2/2) started" in text
    assert text.rstrip().splitlines()[-1].split("] ", 1)[1].startswith("m on d: msd done (")
    tty = EvalProgress("m on d", console=Console(file=io.StringIO(), force_terminal=True, width=120))
    with tty as p:  # on a terminal: a bar over the groups and one over the group's forward passes
        p.group("msd", 1, 2)
        p.batch("msd", 4, 9)
        groups, passes = p._bar.tasks
        assert (groups.completed, groups.total, groups.description) == (1, 2, "m on d: msd")
        assert (passes.completed, passes.total) == (4, 9)
