"""The board fanned out (issue 16): Ray and submitit executors against the sequential in-process run.

Everything runs for real: a local 2-CPU Ray cluster (started once for the module), Ray workers that
are SIGKILLed by the test-only fault hook (``MSD_BENCH_FAULT_KILL``) and retried, submitit's local
executor, the built-in ``--size small`` datasets with their committed judges. The submissions are the
tiny untrained examples of :mod:`msd_bench.harness.examples`, scored on 16 sequences with two cheap
metric groups, so each task takes a few seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from msd_bench import PROTOCOL
from msd_bench.harness.examples import build_example
from msd_bench.harness.executors import FAULT_DIR_ENV, FAULT_KILL_ENV, is_done, plan_tasks, run_board

pytestmark = pytest.mark.usefixtures("one_thread")  # the in-process reference runs on 1 thread, like each task
ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]
SHAPES = {"sprites": (8, 3, 64, 64), "dsprites-dynamic": (12, 3, 64, 64)}
FAST = dict(size="small", limit=16, metrics="reconstruction,static_dynamic_swap", bench_queries=20,
            device="cpu", trust_code=True, seed=3)
#: What differs between two runs of the same unit by construction: dates, timings, the host, and the
#: checkout's HEAD at run time (`git_sha`: another commit may land between two runs of a shared checkout).
VOLATILE = ("started_at", "finished_at", "timing", "benchmark", "environment", "git_sha")


def _torch_two_datasets(folder: Path, bad_second: bool = False) -> Path:
    """A torch example declaring sprites and dsprites-dynamic (``bad_second``: wrong static_dim there)."""
    build_example(folder, "torch", dataset="sprites", shape=SHAPES["sprites"], seed=1)
    other = build_example(folder.parent / f"{folder.name}-tmp", "torch", dataset="dsprites-dynamic",
                          shape=SHAPES["dsprites-dynamic"], seed=2)
    (other / "model.safetensors").rename(folder / "model-dsprites.safetensors")
    manifest = yaml.safe_load((folder / "submission.yaml").read_text())
    entry = yaml.safe_load((other / "submission.yaml").read_text())["datasets"]["dsprites-dynamic"]
    entry["weights"] = "model-dsprites.safetensors"
    if bad_second:
        entry["static_dim"] += 1  # the model encodes 4 static dims; validation catches the mismatch
        manifest["name"] = "example-torch-broken"
    manifest["datasets"]["dsprites-dynamic"] = entry
    (folder / "submission.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def subs(tmp_path_factory):
    from msd_bench.datasets import open_dataset

    for name in SHAPES:  # prepared once here, not by two workers at the same time on a fresh cache
        open_dataset(name, size="small", progress=False)
    root = tmp_path_factory.mktemp("subs")
    a = build_example(root / "onnx", "onnx", dataset="sprites", shape=SHAPES["sprites"], seed=0)
    b = _torch_two_datasets(root / "torch")
    return [str(a), str(b)]


@pytest.fixture(scope="module")
def local_ray():
    """A local 2-CPU Ray for the module; the executor joins it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _store_view(store: Path) -> dict[str, dict]:
    """Every stored result JSON, keyed by its path in the store, without the volatile fields."""
    out = {}
    for p in sorted((store / "results").rglob("*.json")):
        if p.name == "result.json":
            continue
        d = json.loads(p.read_text())
        out[str(p.relative_to(store))] = {k: v for k, v in d.items() if k not in VOLATILE}
    return out


@pytest.fixture(scope="module")
def sequential(subs, tmp_path_factory):
    """The reference: the in-process executor (today's sequential `submit`), one store."""
    store = tmp_path_factory.mktemp("seq")
    run = run_board(subs, store, executor="inprocess", **FAST)
    assert not run.failures and len(run.outcomes) == 3
    return _store_view(store)


def test_ray_scores_byte_identical_to_inprocess(subs, sequential, local_ray, tmp_path):
    seen = []
    run = run_board(subs, tmp_path, executor="ray", cpus_per_task=1, **FAST,
                    on_done=lambda o, done, total: seen.append((done, total)))
    assert not run.failures, run.failure_lines()
    assert seen == [(1, 3), (2, 3), (3, 3)]  # progress over the tasks
    view = _store_view(tmp_path)
    assert set(view) == set(sequential) and len(view) == 3
    for key in view:  # scores, groups, settings, dataset / judge / submission records: the same bytes
        assert json.dumps(view[key], sort_keys=True) == json.dumps(sequential[key], sort_keys=True), key
    assert (tmp_path / PROTOCOL / "leaderboard.json").is_file()  # the board, built once at the end
    for o in run.outcomes:  # threads pinned to the task's CPU
        assert json.loads(o.result_json)["environment"]["torch_threads"] == 1


def test_killed_worker_is_retried_and_store_equals_sequential(subs, sequential, local_ray, tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv(FAULT_KILL_ENV, "example-torch/*")  # both units of the torch submission, first attempt
    monkeypatch.setenv(FAULT_DIR_ENV, str(marks))
    run = run_board(subs, tmp_path / "store", executor="ray", max_retries=2, **FAST)
    assert not run.failures, run.failure_lines()
    killed = sorted(p.name for p in marks.iterdir())
    assert killed == ["example-torch__dsprites-dynamic__3.killed", "example-torch__sprites__3.killed"]
    for o in run.outcomes:
        if o.task.name == "example-torch":  # the result came from another (retried) worker process
            assert str(o.pid) != (marks / f"example-torch__{o.task.dataset}__3.killed").read_text().split()[1]
    assert _store_view(tmp_path / "store") == sequential


def test_worker_killed_past_max_retries_is_reported_others_stored(subs, local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv(FAULT_KILL_ENV, "example-onnx/sprites/*")
    monkeypatch.setenv(FAULT_DIR_ENV, str(tmp_path / "marks"))
    run = run_board(subs, tmp_path / "store", executor="ray", max_retries=0, rebuild=False, datasets=["sprites"],
                    **FAST)
    assert [o.task.key for o in run.failures] == ["example-onnx@0.0.1/sprites/seed 3"]
    (line,) = run.failure_lines()
    assert line.startswith("failed: example-onnx@0.0.1/sprites/seed 3: Ray task failed:") and "\n" not in line
    assert [k.split("/", 2)[2] for k in _store_view(tmp_path / "store")] == ["example-torch/0.0.1/sprites.json"]


def test_interrupted_driver_then_rerun_computes_only_what_is_missing(subs, sequential, local_ray, tmp_path):
    store = tmp_path / "store"

    def interrupt(outcome, done, total):
        raise KeyboardInterrupt  # Ctrl-C in the driver right after the first unit is stored

    with pytest.raises(KeyboardInterrupt):
        run_board(subs, store, executor="ray", **FAST, on_done=interrupt)
    first = _store_view(store)
    assert 1 <= len(first) < 3
    run = run_board(subs, store, executor="ray", **FAST)
    assert len(run.skipped) == len(first)  # stored units are not recomputed ...
    assert len(run.outcomes) == 3 - len(first) and not run.failures  # ... only the missing ones
    assert _store_view(store) == sequential
    tasks = plan_tasks(subs, store, seed=FAST["seed"], **{k: v for k, v in FAST.items() if k != "seed"})
    assert all(is_done(t) for t in tasks)
    other = plan_tasks(subs, store, seed=4, **{k: v for k, v in FAST.items() if k != "seed"})
    assert not any(is_done(t) for t in other)  # another seed is another unit


def test_cli_reports_one_line_per_failure_and_stores_the_rest(subs, local_ray, tmp_path):
    from typer.testing import CliRunner

    from msd_bench.cli import app

    broken = _torch_two_datasets(tmp_path / "broken", bad_second=True)
    args = ["submit", subs[0], str(broken), "--executor", "ray", "--store", str(tmp_path / "store"),
            "--trust-code", "--size", "small", "--limit", "16", "--seed", "3", "--device", "cpu",
            "--metrics", "reconstruction"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "failed: example-torch-broken@0.0.1/dsprites-dynamic/seed 3: example-torch-broken fails validation" in out
    assert "error: 1 of 3 task(s) failed" in out
    assert "ray start-up:" in out and "[3/3]" in out  # progress lines without a terminal
    stored = _store_view(tmp_path / "store")
    assert sorted(k.split("/", 2)[2] for k in stored) == ["example-onnx/0.0.1/sprites.json",
                                                          "example-torch-broken/0.0.1/sprites.json"]
    assert (tmp_path / "store" / PROTOCOL / "leaderboard.json").is_file()


def test_slurm_through_submitit_local_executor_with_a_killed_job(subs, sequential, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv(FAULT_KILL_ENV, "example-onnx/*")
    monkeypatch.setenv(FAULT_DIR_ENV, str(tmp_path / "marks"))
    run = run_board(subs[:1], tmp_path / "store", executor="slurm", slurm_cluster="local", max_retries=1,
                    slurm_folder=tmp_path / "jobs", **FAST)
    assert not run.failures, run.failure_lines()
    assert [p.name for p in (tmp_path / "marks").iterdir()] == ["example-onnx__sprites__3.killed"]
    (key,) = _store_view(tmp_path / "store")  # the killed job was resubmitted; its scores are the sequential ones
    assert _store_view(tmp_path / "store")[key] == sequential[key]
    jobs = [p for p in (tmp_path / "jobs").iterdir() if p.name.isdigit()]
    assert len(jobs) == 2  # two submitit jobs: the killed one and its resubmission


def test_cli_executor_errors_are_one_line(subs, tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from msd_bench.cli import app

    res = CliRunner().invoke(app, ["submit", subs[0], "--executor", "dask", "--store", str(tmp_path)])
    assert res.exit_code == 2 and "error: unknown --executor 'dask'; expected one of: inprocess, ray, slurm" in \
        " ".join(res.output.split())
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    res = CliRunner().invoke(app, ["submit", subs[0], "--executor", "ray", "--store", str(tmp_path)])
    assert res.exit_code == 2 and 'pip install "msd-bench[ray]"' in res.output
    assert not (tmp_path / "results").exists()


def test_make_leaderboard_executor_ray_runs_one_fanned_out_submit():
    out = subprocess.run(["make", "-n", "leaderboard", "EXECUTOR=ray", "SUBMISSIONS=submissions/a submissions/b",
                          "STORE=/tmp/x"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "msd-bench submit submissions/a submissions/b --executor ray --store /tmp/x --no-build" in out
    assert "msd-bench leaderboard build --store /tmp/x --format all" in out
    default = subprocess.run(["make", "-n", "leaderboard", "SUBMISSIONS=submissions/a", "STORE=/tmp/x"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    assert "--executor" not in default  # the default stays today's in-process loop


@pytest.mark.slow
def test_sigint_to_a_cli_driver_then_rerun_computes_only_what_is_missing(subs, sequential, local_ray, tmp_path):
    """The real thing: Ctrl-C (SIGINT) to `msd-bench submit --executor ray` running its own Ray, then a rerun."""
    import os
    import signal
    import sys
    import time

    store = tmp_path / "store"
    cmd = [str(Path(sys.executable).with_name("msd-bench")), "submit", *subs, "--executor", "ray", "--num-cpus", "1",
           "--store", str(store), "--trust-code", "--size", "small", "--limit", "16", "--seed", "3", "--device", "cpu",
           "--metrics", FAST["metrics"]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.time() + 240
            while not ((store / "results").is_dir() and _store_view(store)) and time.time() < deadline:
                assert proc.poll() is None, (tmp_path / "log.txt").read_text()
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=120) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "interrupted: every finished unit is stored" in (tmp_path / "log.txt").read_text()
    first = _store_view(store)
    assert 1 <= len(first) < 3
    run = run_board(subs, store, executor="ray", **FAST)
    assert len(run.skipped) == len(first) and len(run.outcomes) == 3 - len(first) and not run.failures
    assert _store_view(store) == sequential
