"""msd_bench.Evaluator: inputs kept open across calls, scores exactly those of a cold evaluate.

Real data (sprites, small size) and the real frozen sprites judge; the model is the untrained example
network (its scores mean nothing; what is tested is that both paths give the same numbers).
"""

from __future__ import annotations

import doctest
import json

import pytest
import torch
from typer.testing import CliRunner

import msd_bench
import msd_bench.evaluator as evaluator_mod
from msd_bench.cli import app
from msd_bench.errors import MetricError, MsdBenchError, SubmissionError
from msd_bench.evaluator import PRESETS, Evaluator
from msd_bench.harness.example_model import TinyModel
from msd_bench.harness.examples import build_example
from msd_bench.harness.suite import GROUPS
from msd_bench.testing import require_judge

LIMIT = 40
#: the quick groups plus one that fits on the train split (exercises the kept float train videos)
GROUPS_TESTED = [*PRESETS["quick"]["metrics"], "representation"]


@pytest.fixture(autouse=True, scope="module")
def _judge(one_thread):
    require_judge("sprites")


def _scores(result) -> dict:
    return {k: v.model_dump() for k, v in result.scores.items()}


def _model(seed: int = 0) -> TinyModel:
    torch.manual_seed(seed)
    return TinyModel(frames=8, channels=3, height=64, width=64)


def _train_step(model: torch.nn.Module) -> None:
    """One optimiser step on random data, so that the second evaluation sees a different model."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.rand(4, 8, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    s, d = model.encode(x)
    loss = ((model.decode_parts(s, d) - x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.fixture(scope="module")
def ev():
    with Evaluator("sprites", size="small", limit=LIMIT, metrics=GROUPS_TESTED, device="cpu") as e:
        yield e


def test_scores_equal_a_cold_evaluate_across_calls_in_training(ev):
    model = _model()
    model.train()
    for step in range(2):
        warm = ev(model)
        assert model.training, "training mode must be restored"
        cold = msd_bench.evaluate(model, "sprites", pictures=False, **ev.evaluate_kwargs())
        assert warm.status == cold.status == "complete", (warm.errors, cold.errors)
        assert sorted(warm.groups) == sorted(GROUPS_TESTED)
        assert _scores(warm) == _scores(cold)  # exactly equal, every field of every score
        assert warm.submission.submission_hash == cold.submission.submission_hash
        if step == 0:
            first = _scores(warm)
            _train_step(model)
    assert _scores(warm) != first  # the second call scored the changed model, not a cached one


def test_kept_inputs_are_not_read_again(ev, monkeypatch):
    model = _model(3)
    ev(model)  # whatever this call needs is now kept
    reads: list[int] = []
    real = type(ev._session.ds).read

    def counting(self, idx):
        reads.append(len(idx))
        return real(self, idx)

    monkeypatch.setattr(type(ev._session.ds), "read", counting)
    ev(model)
    assert reads == []  # nothing is read or converted again (not even the two sequences of the shape check)
    assert {k.split(":")[0] for k in ev._session.inputs} >= {"float", "labels", "subset"}
    assert all(v.dtype == torch.float32 and v.device.type == "cpu"
               for k, v in ev._session.inputs.items() if k.startswith("float:"))


def test_mode_flags_and_grads_restored(ev):
    model = _model(1)
    model.train()
    model.enc_static.eval()  # a submodule the user froze on purpose keeps its own flag
    ev(model)
    assert model.training and model.enc_dynamic.training and not model.enc_static.training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    model.eval()
    ev(model)
    assert not model.training


def test_cli_evaluate_gives_the_same_scores(ev, tmp_path):
    sub = build_example(tmp_path / "torch-sub", "torch", dataset="sprites")
    warm = ev(sub, trust_code=True)
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["evaluate", "--submission", str(sub), "--trust-code", "--out", str(out),
                                   "--no-pictures", *ev.cli_args()])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "result.json").read_text())
    assert saved["scores"] == json.loads(warm.model_dump_json())["scores"]


def test_presets():
    assert set(PRESETS) == {"quick", "full"}
    assert PRESETS["full"] == {"metrics": "all", "limit": None}
    quick = PRESETS["quick"]
    assert quick["limit"] == 128 and set(quick["metrics"]) <= set(GROUPS)
    e = Evaluator("sprites", size="small", device="cpu")  # quick by default
    assert e.metrics == quick["metrics"] and e.limit == 128
    f = Evaluator("sprites", size="small", device="cpu", preset="full", metrics="mig,mse", limit=64)
    assert f.metrics == ["representation", "reconstruction"] and f.limit == 64  # explicit values win
    assert Evaluator("sprites", size="small", device="cpu", preset="full").metrics == list(GROUPS)
    assert "preset='full'" in repr(f)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"preset": "fast"}, MsdBenchError, "unknown preset 'fast'; expected one of: quick, full"),
        ({"metrics": "msee"}, MetricError, "did you mean mse"),
        ({"limit": 1}, MsdBenchError, "--limit must be >= 2"),
        ({"seed": -1}, MsdBenchError, "--seed must be an integer >= 0"),
        ({"dataset": "nope"}, MsdBenchError, "nope"),
    ],
)
def test_bad_settings_one_line(kwargs, error, needle):
    kwargs = {"dataset": "sprites", "size": "small", "device": "cpu", **kwargs}
    with pytest.raises(error, match=needle) as info:
        Evaluator(**kwargs)
    assert "\n" not in str(info.value)


def test_model_on_another_device_and_closed_evaluator(tmp_path):
    e = Evaluator("sprites", size="small", limit=8, metrics="reconstruction", device="cpu")
    with torch.device("meta"):
        meta = TinyModel(frames=8, channels=3, height=64, width=64)
    with pytest.raises(SubmissionError, match="parameters are on meta but the evaluation's dataset and judge are on"):
        e(meta, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing half-written
    e.close()
    with pytest.raises(MsdBenchError, match="Evaluator is closed"):
        e(_model())


def test_docstring_examples_run():
    """The examples in ``msd_bench``'s and ``msd_bench.evaluator``'s docstrings run and hold."""
    for mod in (msd_bench, evaluator_mod):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.attempted >= 3 and res.failed == 0, mod.__name__
