"""load_judge (hash / revision refusal, backends, ceiling), the card and the `judges` CLI, on a judge
trained on the synthetic dataset (labels known by construction)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

import msd_bench.datasets as datasets_mod
import msd_bench.judges.judge as judge_mod
from msd_bench import PROTOCOL
from msd_bench.cli import app
from msd_bench.errors import DeviceError, JudgeError
from msd_bench.judges import JudgeCard, list_judges, load_judge, read_card
from msd_bench.judges.recipe import recipe_for, train_judge
from msd_bench.testing import SyntheticDataset

NAME = "synthetic"
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A judge trained once on the synthetic dataset: (root, dataset)."""
    ds = SyntheticDataset(n=300, seed=1, name=NAME)
    root = tmp_path_factory.mktemp("judges")
    small = SyntheticDataset(n=60, seed=2, name=NAME, size="small")
    hashes = {"full": ds.content_hash, "small": small.content_hash}
    train_judge(ds, hashes, root / NAME, recipe_for(NAME, epochs=5, batch_size=16), extra_test=[small],
                progress=False)
    return root, ds, small


@pytest.fixture
def env(trained, tmp_path, monkeypatch):
    """A private copy of the trained judge and a registry that knows the synthetic dataset."""
    src, ds, small = trained
    root = tmp_path / "judges"
    shutil.copytree(src, root)
    spec = SimpleNamespace(name=NAME, version=ds.version, factors=ds.factors,
                           content_hashes={"full": ds.content_hash, "small": small.content_hash})
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(judge_mod, "_get_spec", lambda name: spec if name == NAME else _unknown(name))
    monkeypatch.setattr(datasets_mod, "get_spec", lambda name: spec if name == NAME else _unknown(name),
                        raising=False)
    monkeypatch.setattr(datasets_mod, "open_dataset", lambda name, size="full", **kw: small if size == "small"
                        else ds, raising=False)
    monkeypatch.setattr(datasets_mod, "list_datasets", lambda: [NAME], raising=False)
    return SimpleNamespace(root=root, ds=ds, small=small, spec=spec, dir=root / NAME)


def _unknown(name):
    from msd_bench.errors import DatasetError

    raise DatasetError(f"unknown dataset '{name}'; known: {NAME}")


def _files(d):
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------------------------------ loading
def test_both_backends_agree_and_match_the_card(env):
    x, y = next(env.ds.batches("test", batch_size=1000))
    oj = load_judge(NAME, backend="onnx", root=env.root)
    tj = load_judge(NAME, backend="torch", root=env.root)
    assert oj.providers == ["CPUExecutionProvider"] and tj.providers == []
    assert [f.name for f in oj.factors] == ["color", "motion"]
    a, b = oj(x), tj(x)
    assert set(a.sequence) == {"color", "motion"} and set(a.frame) == {"color"}
    assert a.sequence["color"].shape == (len(x), 3) and a.frame["color"].shape == (len(x), 4, 3)
    for k in a.sequence:
        assert (a.sequence[k] - b.sequence[k]).abs().max() <= 1e-4
    assert (a.frame["color"] - b.frame["color"]).abs().max() <= 1e-4
    # recomputed accuracy equals the card's (same data, same weights)
    acc = (a.sequence["color"].argmax(-1) == y[:, 0]).float().mean().item()
    assert acc == pytest.approx(oj.card.test.factors["color"].sequence, abs=1e-6)
    assert oj.ceiling() == {
        "color": {"sequence": oj.card.test.factors["color"].sequence, "frame": oj.card.test.factors["color"].frame},
        "motion": {"sequence": oj.card.test.factors["motion"].sequence, "frame": None},
    }
    # chunked calls give the same logits as one call
    oj._chunk = 7
    c = oj(x)
    assert torch.allclose(c.sequence["motion"], a.sequence["motion"], atol=1e-5)
    assert oj.predict(x).frame["color"].shape == (len(x), 4)


def test_list_judges_and_identity(env):
    assert list_judges(env.root) == [NAME]
    assert list_judges(env.root / "nowhere") == []
    j = load_judge(NAME, root=env.root)
    from msd_bench._io import sha256_file

    assert j.sha256 == sha256_file(env.dir / "card.json")


def test_missing_judge_names_the_build_command(env):
    with pytest.raises(JudgeError, match="build it with `msd-bench judges train other`"):
        load_judge("other", root=env.root)


def test_tampered_artefact_is_refused(env):
    p = env.dir / "judge.onnx"
    data = bytearray(p.read_bytes())
    data[-1] ^= 1
    p.write_bytes(bytes(data))
    card = read_card(NAME, env.root)
    with pytest.raises(JudgeError) as ei:
        load_judge(NAME, root=env.root)
    msg = str(ei.value)
    assert "\n" not in msg and "judge.onnx" in msg
    assert f"expected {card.artefacts['judge.onnx'].sha256}" in msg
    data[-1] ^= 1
    p.write_bytes(bytes(data))  # the ONNX file is restored ...
    load_judge(NAME, root=env.root)
    (env.dir / "judge.safetensors").unlink()  # ... but the weights are gone
    with pytest.raises(JudgeError, match="judge.safetensors is missing"):
        load_judge(NAME, root=env.root, backend="torch")


def test_other_dataset_revision_is_refused(env):
    env.spec.version = "2"
    with pytest.raises(JudgeError, match="trained on dataset version 1, registry has 2"):
        load_judge(NAME, root=env.root)
    env.spec.version = env.ds.version
    env.spec.content_hashes = {"full": "f00d", "small": env.small.content_hash}
    with pytest.raises(JudgeError) as ei:
        load_judge(NAME, root=env.root)
    assert "f00d" in str(ei.value) and env.ds.content_hash in str(ei.value)
    env.spec.content_hashes = {"full": env.ds.content_hash, "small": env.small.content_hash}
    env.spec.factors = env.ds.factors[:1]
    with pytest.raises(JudgeError, match="registry declares"):
        load_judge(NAME, root=env.root)


def test_other_protocol_and_bad_card_are_refused(env):
    p = env.dir / "card.json"
    raw = json.loads(p.read_text())
    raw["protocol"] = "msd-bench-0"
    p.write_text(json.dumps(raw))
    with pytest.raises(JudgeError, match=f"protocol msd-bench-0, expected {PROTOCOL}"):
        load_judge(NAME, root=env.root)
    del raw["artefacts"]
    p.write_text(json.dumps(raw))
    with pytest.raises(JudgeError, match="field 'artefacts'"):
        load_judge(NAME, root=env.root)
    p.write_text("{not json")
    with pytest.raises(JudgeError, match="not valid JSON"):
        load_judge(NAME, root=env.root)


def test_bad_inputs(env):
    j = load_judge(NAME, root=env.root)
    with pytest.raises(JudgeError, match=r"expected \[B, T, 3, 32, 32\]"):
        j(torch.zeros(2, 4, 1, 32, 32))
    with pytest.raises(JudgeError, match="expected torch.float32"):
        j(torch.zeros(2, 4, 3, 32, 32, dtype=torch.float64))
    with pytest.raises(JudgeError, match="unknown judge backend 'jax'"):
        load_judge(NAME, root=env.root, backend="jax")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            load_judge(NAME, root=env.root, device="cuda")


def test_card_round_trip(env):
    p = env.dir / "card.json"
    card = JudgeCard.read(p)
    assert card.to_json() == p.read_text()
    assert JudgeCard.model_validate_json(card.to_json()) == card
    assert card.protocol == PROTOCOL and card.dataset.name == NAME and card.dataset.size == "full"
    assert card.dataset.content_hashes == env.spec.content_hashes
    assert card.score_for("small").n == len(env.small.indices("test"))
    assert card.score_for("medium") is None
    assert set(card.versions) >= {"torch", "onnx", "onnxruntime"}
    assert card.parameters > 0 and card.training_seconds > 0 and 1 <= card.best_epoch <= 5
    assert card.recipe["epochs"] == 5 and card.recipe["batch_size"] == 16


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_list(env):
    r = runner.invoke(app, ["judges", "list", "--root", str(env.root)])
    assert r.exit_code == 0, r.output
    assert NAME in r.stdout and "ok" in r.stdout and "color" in r.stdout
    (env.dir / "judge.safetensors").write_bytes(b"x")
    r = runner.invoke(app, ["judges", "list", "--root", str(env.root)])
    assert r.exit_code == 0 and "no" in r.stdout


def test_cli_card(env):
    r = runner.invoke(app, ["judges", "card", NAME, "--root", str(env.root), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == json.loads((env.dir / "card.json").read_text())
    r = runner.invoke(app, ["judges", "card", NAME, "--root", str(env.root)])
    assert r.exit_code == 0 and "judge.onnx: sha256" in r.stdout
    r = runner.invoke(app, ["judges", "card", "other", "--root", str(env.root)])
    assert r.exit_code == 2
    assert "msd-bench judges train other" in r.stderr and "Traceback" not in r.output


def test_confusion_lines_name_the_confused_classes(env):
    from msd_bench.judges.cli import confusion_lines

    card = read_card(NAME, env.root)
    conf = {"color": [[10, 3, 0], [0, 12, 0], [1, 0, 9]], "motion": [[5, 0], [0, 5]]}
    fconf = {"color": [[40, 0, 0], [0, 44, 4], [0, 0, 52]]}
    bad = card.model_copy(update={"below_target": ["color/sequence", "color/frame"], "confusion": conf,
                                  "frame_confusion": fconf})
    assert confusion_lines(bad) == [
        "color/sequence: most confused (true->predicted: count of 35) red->green: 3, blue->red: 1",
        "color/frame: most confused (true->predicted: count of 140) green->blue: 4",
    ]
    # the trained card's frame confusion matrices add up to every test frame
    assert sum(map(sum, card.frame_confusion["color"])) == card.test.n * 4
    assert confusion_lines(card.model_copy(update={"below_target": []})) == []


def test_cli_verify_pass_and_fail(env):
    r = runner.invoke(app, ["judges", "verify", NAME, "--root", str(env.root)])
    assert r.exit_code == 0, r.output
    assert "ok" in r.stdout
    r = runner.invoke(app, ["judges", "verify", "--size", "small", "--root", str(env.root), "--backend", "torch"])
    assert r.exit_code == 0, r.output
    # a card whose recorded accuracy is off by more than 0.5 points fails, naming the factor
    p = env.dir / "card.json"
    raw = json.loads(p.read_text())
    raw["test"]["factors"]["motion"]["sequence"] -= 0.02
    p.write_text(json.dumps(raw))
    r = runner.invoke(app, ["judges", "verify", NAME, "--root", str(env.root)])
    assert r.exit_code == 1
    assert "motion/sequence" in r.stderr and "failed verification" in r.stderr


def test_cli_verify_bad_input(env):
    r = runner.invoke(app, ["judges", "verify", NAME, "--size", "huge", "--root", str(env.root)])
    assert r.exit_code == 2 and "--size is 'huge'" in r.stderr
    r = runner.invoke(app, ["judges", "verify", "nope", "--root", str(env.root)])
    assert r.exit_code == 2 and "unknown dataset 'nope'" in r.stderr
    shutil.rmtree(env.dir)  # a registered dataset without a judge fails verification, naming the fix
    r = runner.invoke(app, ["judges", "verify", "--root", str(env.root)])
    assert r.exit_code == 1 and f"msd-bench judges train {NAME}" in r.stderr


def test_cli_train_writes_a_judge_and_refuses_bad_input(env, tmp_path):
    out = tmp_path / "new"
    r = runner.invoke(app, ["judges", "train", "nope", "--root", str(out)])
    assert r.exit_code == 2 and "unknown dataset 'nope'" in r.stderr
    r = runner.invoke(app, ["judges", "train", NAME, "--size", "tiny", "--root", str(out)])
    assert r.exit_code == 2 and "--size is 'tiny'" in r.stderr
    assert not out.exists()
    r = runner.invoke(app, ["judges", "train", NAME, "--epochs", "1", "--seed", "3", "--root", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert _files(out / NAME) == ["card.json", "judge.onnx", "judge.safetensors"]
    card = read_card(NAME, out)
    assert card.recipe["seed"] == 3 and card.recipe["epochs"] == 1 and len(card.history) == 1
    assert card.score_for("small") is not None


def test_train_refuses_stale_dataset_and_leaves_nothing(env, tmp_path):
    with pytest.raises(JudgeError, match="expected deadbeef from the registry"):
        train_judge(env.ds, {"full": "deadbeef"}, tmp_path / "x", recipe_for(NAME, epochs=1), progress=False)
    assert not (tmp_path / "x").exists()
