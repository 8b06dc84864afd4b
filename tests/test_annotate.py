"""msd-bench annotate against a real HTTP server on 127.0.0.1 whose answers come from true labels.

The server (``msd_bench.annotate.testing.FakeVLMServer``) recognises each sequence from the images
it receives and answers with the dataset's true factors and labels, with configurable noise and
malformed output; these tests measure the pipeline's label accuracy against the truth, its recovery
from bad answers and transport failures, the cache (a rerun sends nothing, gives the same file) and
resuming.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from typer.testing import CliRunner

from msd_bench._io import sha256_file
from msd_bench.annotate import AnnotateError, BackendError, ImageConfig, Schema, annotate, frame_indices, merge
from msd_bench.annotate.errors import InvalidAnswer
from msd_bench.annotate.images import GAP_VALUE, layout_frames, split_frames
from msd_bench.annotate.schema import extract_json, parse_exploration, parse_labels
from msd_bench.annotate.testing import CONTENT_FAULTS, FakeVLMServer
from msd_bench.cli import app
from msd_bench.datasets import open_dataset, open_h5, write_h5
from msd_bench.testing import tiny_dataset

runner = CliRunner()
FAST = {"backoff": 0.0, "timeout": 5.0, "progress_bar": False}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny dataset (48 sequences, 4 frames of 3x16x16) as an msd-bench file."""
    root = tmp_path_factory.mktemp("tiny")
    ds = tiny_dataset()
    x, y = ds.read(np.arange(len(ds)))
    path = root / "tiny.h5"
    write_h5(path, x, y, {s: ds.indices(s) for s in ("train", "val", "test")}, ds.factors, {"name": "tiny"})
    return ds, path


def accuracy(out_path, src_path) -> dict[str, float]:
    """Per-factor accuracy of an annotated file against the source file's labels, by value name."""
    got, src = open_h5(out_path), open_h5(src_path)
    with open(out_path.parent / "report.json") as f:
        items = [int(i) for i in json.load(f)["annotation"]["items"]]
    truth = src.labels(None)[items]
    acc = {}
    for f in got.factors:
        tf = next(t for t in src.factors if t.name.lower() == f.name.lower())
        pred = [f.value_names[v].lower() for v in got.labels(None)[:, f.index]]
        true = [tf.value_names[v].lower() for v in truth[:, tf.index]]
        acc[f.name] = float(np.mean([a == b for a, b in zip(pred, true, strict=True)]))
    return acc


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------------------------------ units
def test_frame_selection_and_layouts_round_trip():
    assert frame_indices(8, 4) == [0, 2, 5, 7] and frame_indices(3, 5) == [0, 1, 2] and frame_indices(9, 1) == [0]
    rng = np.random.default_rng(0)
    for c in (1, 3):
        seq = rng.integers(0, 256, (8, c, 16, 12), dtype=np.uint8)
        for cfg in (ImageConfig(frames=4, layout="grid", min_side=32), ImageConfig(frames=3, layout="frames")):
            images = layout_frames(seq, cfg)
            back = split_frames(images, cfg, 8, (16, 12))
            want = seq[frame_indices(8, cfg.frames)].transpose(0, 2, 3, 1)
            assert np.array_equal(back, np.repeat(want, 3, axis=3) if c == 1 else want)
    grid = layout_frames(seq, ImageConfig(frames=4, layout="grid", min_side=32, gap=4))[0]
    s = 3  # ceil(32 / 12)
    assert grid.shape == (2 * 16 * s + 4, 2 * 12 * s + 4, 3)
    assert np.array_equal(grid[: 16 * s : s, : 12 * s : s], seq[0].transpose(1, 2, 0))   # frame 0 top left
    assert np.array_equal(grid[16 * s + 4 :: s, 12 * s + 4 :: s], seq[7].transpose(1, 2, 0))  # last bottom right
    assert (grid[16 * s : 16 * s + 4] == GAP_VALUE).all()


def test_merge_rule():
    def ans(*factors):
        return [{"name": n, "type": t, "values": list(v), "shown": [v[0]]} for n, t, v in factors]

    answers = [
        ans(("Colour", "static", "rgb"), ("motion", "dynamic", ["left", "right"]), ("light", "static", ["on", "off"])),
        ans(("colour", "static", "rgbx"), ("Motion", "static", ["left", "right"])),
        ans(("col-our", "dynamic", "rgb"), ("motion", "dynamic", ["left", "Right"])),
        ans(("colour", "static", "rg"), ("motion", "static", ["left", "right"]), ("size", "static", ["big"])),
    ]
    sch = merge(answers)  # support >= 2 of 4; values >= half of the factor's answers
    assert [f.name for f in sch.factors] == ["colour", "motion"]          # most frequent spelling, first seen order
    colour, motion = sch.factors
    assert colour.values == ["r", "g", "b"] and colour.support == 4        # "x" named once: dropped
    assert colour.type == "static" and colour.type_votes == {"static": 3, "dynamic": 1}
    assert motion.type == "dynamic" and motion.values == ["left", "right"]  # 2:2 tie -> dynamic; "Right" == "right"
    dropped = {(d["factor"], d.get("value")) for d in sch.dropped}
    assert {("light", None), ("size", None), ("colour", "x")} == dropped  # light, size: named by one answer
    assert sch.to_factors()[1].values == {"left": 0, "right": 1}
    assert [f.name for f in merge(answers, min_support=1.0).factors] == ["colour", "motion"]
    assert [f.name for f in merge(answers, max_factors=1).factors] == ["colour"]
    with pytest.raises(AnnotateError, match="no valid exploration answer"):
        merge([])


def test_answer_parsing():
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! {"a": {"b": 2}} hope it helps') == {"a": {"b": 2}}
    for bad in ("", "no json here", '{"a": '):
        with pytest.raises(InvalidAnswer):
            extract_json(bad)
    schema = [("color", "static", ["red", "green"]), ("motion", "dynamic", ["right", "down"])]
    assert parse_labels({"Color": "GREEN", "motion": "right"}, schema) == [1, 0]
    with pytest.raises(InvalidAnswer, match="expected one of red, green"):
        parse_labels({"color": "blue", "motion": "right"}, schema)
    with pytest.raises(InvalidAnswer, match="missing"):
        parse_labels({"color": "red"}, schema)
    with pytest.raises(InvalidAnswer, match="type"):
        parse_exploration({"factors": [{"name": "a", "type": "sometimes", "values": []}]})


# ------------------------------------------------------------------------------------- end to end
def test_exact_answers_give_the_true_labels_and_a_rerun_costs_nothing(tiny, tmp_path):
    ds, path = tiny
    cfg = ImageConfig()
    with FakeVLMServer.from_dataset(ds, cfg) as server:
        res = annotate(path, base_url=server.url, model="fake-vlm", out=tmp_path / "out", n_explore=8,
                       cache_dir=tmp_path / "cache", price_in=1.0, price_out=2.0, **FAST)
        sent = server.requests
        again = annotate(path, base_url=server.url, model="fake-vlm", out=tmp_path / "out", n_explore=8,
                         cache_dir=tmp_path / "cache", price_in=1.0, price_out=2.0, **FAST)
        assert server.requests == sent  # every answer came from the cache
    assert accuracy(res.dataset_path, path) == {"color": 1.0, "motion": 1.0}
    out = open_h5(res.dataset_path)  # a valid msd-bench dataset: classes, labels, splits
    assert [(f.name, f.type, f.n_classes) for f in out.factors] == [("color", "static", 3), ("motion", "dynamic", 2)]
    assert out.n == 48 and out.shape == (4, 3, 16, 16)
    assert sum(len(out.indices(s)) for s in ("train", "val", "test")) == 48
    prov = json.loads(out.attrs["annotation"])
    assert prov["model"] == "fake-vlm" and prov["base_url_host"].startswith("127.0.0.1:")
    rep = res.report
    assert rep["truth"]["mean_accuracy"] == 1.0 and rep["agreement"]["all_factors"] == 1.0
    assert rep["agreement"]["sequences"] == 16 and rep["annotation"]["queries"] == 48 + 16
    assert rep["requests"]["requests_sent"] + rep["requests"]["cache_hits"] == 8 // 2 + 64  # 2 sequences per query
    assert rep["requests"]["tokens"]["total"] > 0 and rep["cost_usd"]["total"] > 0
    assert again.report["requests"]["requests_sent"] == 0 and again.report["cost_usd"]["this_run"] == 0
    assert again.report["requests"]["tokens"] == rep["requests"]["tokens"]  # the cost of the whole annotation
    assert again.content_hash == res.content_hash and sha256_file(again.dataset_path) == sha256_file(res.dataset_path)
    # a given schema skips exploration
    sch = Schema.read(res.schema_path)
    third = annotate(path, base_url="http://127.0.0.1:9/v1", model="fake-vlm", out=tmp_path / "out3", n_explore=0,
                     schema=sch, cache_dir=tmp_path / "cache", **FAST)
    assert third.content_hash == res.content_hash and third.report["requests"]["requests_sent"] == 0


@pytest.fixture(scope="module")
def dsprites():
    return open_dataset("dsprites-dynamic", size="small", progress=False)


@pytest.mark.parametrize("noise, repeats, floor", [(0.0, 1, 1.0), (0.2, 1, 0.72), (0.2, 3, 0.85)])
def test_label_accuracy_under_noise(dsprites, tmp_path, monkeypatch, noise, repeats, floor):
    monkeypatch.setenv("MSD_BENCH_CACHE", str(tmp_path))
    cfg = ImageConfig(frames=4, layout="grid", min_side=64)
    with FakeVLMServer.from_dataset(dsprites, cfg, noise=noise, seed=1) as server:
        res = annotate(dsprites.path, base_url=server.url, model="fake", out=tmp_path / "out", n_explore=24,
                       n_annotate=60, repeats=repeats, agreement_sample=12, min_side=64, concurrency=4, **FAST)
    truth = res.report["truth"]
    # exploration recovers the six factors (names, types, all values) even at 20 % noise
    assert truth["missing_factors"] == [] and truth["extra_factors"] == []
    assert all(v["type_matches"] and not v["values_missing"] for v in truth["per_factor"].values())
    acc = accuracy(res.dataset_path, dsprites.path)
    assert acc == pytest.approx({k: v["accuracy"] for k, v in truth["per_factor"].items()}, abs=1e-5)
    mean = float(np.mean(list(acc.values())))
    print(f"noise={noise} repeats={repeats}: mean accuracy {mean:.3f}, per factor {acc}, "
          f"agreement {res.report['agreement']['all_factors']}")
    assert mean >= floor
    if noise == 0:
        assert mean == 1.0 and res.report["agreement"]["all_factors"] == 1.0
    else:
        assert res.report["agreement"]["all_factors"] < 1.0


def test_malformed_answers_and_http_errors_are_retried_and_repaired(tiny, tmp_path):
    ds, path = tiny
    faults = (*CONTENT_FAULTS, "http_429", "http_500", "bad_body")
    with FakeVLMServer.from_dataset(ds, ImageConfig(), malformed=0.3, faults=faults, seed=3) as server:
        res = annotate(path, base_url=server.url, model="fake", out=tmp_path / "out", n_explore=8,
                       cache_dir=tmp_path / "cache", max_repairs=4, max_retries=6, **FAST)
        kinds = dict(server.kinds)
    assert accuracy(res.dataset_path, path) == {"color": 1.0, "motion": 1.0}
    rep = res.report
    assert rep["annotation"]["repaired"] > 0 and rep["annotation"]["failed"] == []
    assert set(rep["requests"]["retries"]) >= {"rate_limit", "http_500"}
    assert len({k for k in kinds if k != "ok"}) >= 6, kinds
    print(f"server faults {kinds}; repaired {rep['annotation']['repaired']}, retries {rep['requests']['retries']}")


def test_unreachable_endpoint_is_one_line_exit_2_and_writes_nothing(tiny, tmp_path):
    _, path = tiny
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match="cannot connect.*after 2 attempts.*rerun the same command") as e:
        annotate(path, base_url=url, model="m", out=tmp_path / "out", cache_dir=tmp_path / "c", max_retries=1, **FAST)
    assert "\n" not in str(e.value)
    r = runner.invoke(app, ["annotate", str(path), "--base-url", url, "--model", "m", "--out", str(tmp_path / "o2"),
                            "--max-retries", "0", "--cache-dir", str(tmp_path / "c")])
    lines = r.output.strip().splitlines()  # progress lines (no TTY), then the one-line error
    assert r.exit_code == 2 and lines[-1].startswith("error: ") and "rerun" in lines[-1]
    assert all(line.startswith("exploring factors: ") for line in lines[:-1])
    assert not list(tmp_path.glob("o*/*.h5"))
    r = runner.invoke(app, ["annotate", str(path), "--base-url", "ftp://x", "--model", "m", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "not an http(s) URL" in r.output
    r = runner.invoke(app, ["annotate", str(tmp_path / "nope.h5"), "--base-url", url, "--model", "m", "--out", "o"])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_rate_limit_outage_keeps_progress_and_a_rerun_resumes(tiny, tmp_path):
    ds, path = tiny
    kw = {"base_url": None, "model": "fake", "out": tmp_path / "out", "n_explore": 4, "cache_dir": tmp_path / "c",
          "max_retries": 2, "concurrency": 1, **FAST}
    with FakeVLMServer.from_dataset(ds, ImageConfig()) as server:
        kw["base_url"] = server.url
        server.outage_after = 30  # HTTP 429 for every request after the 30th
        with pytest.raises(BackendError, match=r"HTTP 429.*after 3 attempts during annotation; \d+ answers cached"):
            annotate(path, **kw)
        assert not (tmp_path / "out" / "tiny-vlm.h5").exists()
        server.outage_after = None
        before = server.requests
        res = annotate(path, **kw)
        req = res.report["requests"]
        assert server.requests - before == req["requests_sent"] and req["requests_sent"] + req["cache_hits"] == 2 + 64
        assert req["requests_sent"] <= 2 + 64 - 30  # the 30 answers before the outage were not asked again
    assert accuracy(res.dataset_path, path) == {"color": 1.0, "motion": 1.0}


def test_timeouts_are_retried_then_fail_in_one_line(tiny, tmp_path):
    ds, path = tiny
    with FakeVLMServer.from_dataset(ds, ImageConfig(), timeout_sleep=0.6) as server:
        server.fail_next(["timeout"])
        res = annotate(path, base_url=server.url, model="fake", out=tmp_path / "out", n_explore=2, n_annotate=4,
                       agreement_sample=0, cache_dir=tmp_path / "c", **{**FAST, "timeout": 0.3})
        assert res.report["requests"]["retries"] == {"timeout": 1}
        server.fail_next(["timeout"] * 3)
        with pytest.raises(BackendError, match=r"no answer within 0.3 s, after 2 attempts"):
            annotate(path, base_url=server.url, model="fake", out=tmp_path / "out2", n_explore=2, n_annotate=4,
                     cache_dir=tmp_path / "c2", max_retries=1, **{**FAST, "timeout": 0.3})


def test_refusals_fail_unless_skipped(tiny, tmp_path):
    ds, path = tiny
    schema = Schema.from_factors(ds.factors)
    kw = {"model": "fake", "n_explore": 0, "schema": schema, "cache_dir": tmp_path / "c", "max_repairs": 0, **FAST}
    with FakeVLMServer.from_dataset(ds, ImageConfig(), malformed=0.3, faults=("refusal",), seed=5) as server:
        with pytest.raises(AnnotateError, match=r"sequences got no valid label after 1 attempts each .*refused"):
            annotate(path, base_url=server.url, out=tmp_path / "a", agreement_sample=0, **kw)
        res = annotate(path, base_url=server.url, out=tmp_path / "b", agreement_sample=0, skip_failed=True, **kw)
    failed = res.report["annotation"]["failed"]
    assert 0 < len(failed) < 48 and open_h5(res.dataset_path).n == 48 - len(failed)
    assert accuracy(res.dataset_path, path) == {"color": 1.0, "motion": 1.0}
    with FakeVLMServer.from_dataset(ds, ImageConfig(), malformed=1.0, faults=("prose",)) as server:
        with pytest.raises(AnnotateError, match="no valid exploration answer"):
            annotate(path, base_url=server.url, model="fake", out=tmp_path / "c", n_explore=3,
                     cache_dir=tmp_path / "c3", **FAST)


def test_folder_of_frame_folders_and_gifs(tmp_path):
    from PIL import Image

    ds = tiny_dataset()
    x, y = ds.read(np.arange(12))
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(12):
        frames = [Image.fromarray(x[i, t].transpose(1, 2, 0)) for t in range(x.shape[1])]
        if i % 2:
            frames[0].save(folder / f"clip{i}.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
        else:
            (folder / f"clip{i}").mkdir()
            for t, f in enumerate(frames):
                f.save(folder / f"clip{i}" / f"{t}.png")
    (folder / "notes.txt").write_text("not a video")
    with FakeVLMServer.from_dataset(ds, ImageConfig()) as server:
        r = runner.invoke(app, ["annotate", str(folder), "--base-url", server.url, "--model", "fake", "--out",
                                str(tmp_path / "out"), "--n-explore", "6", "--cache-dir", str(tmp_path / "c"),
                                "--backoff", "0"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "videos-vlm.h5" in r.output
    out = open_h5(tmp_path / "out" / "videos-vlm.h5")
    assert out.n == 12 and out.shape == (4, 3, 16, 16)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    order = [int(name.removeprefix("clip").removesuffix(".gif")) for name in report["annotation"]["items"]]
    assert order == list(range(12))
    assert np.array_equal(out.read(np.arange(12))[0], x)
    names = {f.name: f for f in out.factors}
    for f in ds.factors:
        pred = [names[f.name].value_names[v] for v in out.labels(None)[:, names[f.name].index]]
        assert pred == [f.value_names[v] for v in y[:, f.index]]


def test_docs_show_the_current_prompts():
    from pathlib import Path

    from msd_bench.annotate import PROMPT_SHA256, prompts

    text = (Path(__file__).resolve().parents[1] / "docs" / "annotate.md").read_text(encoding="utf-8")
    assert PROMPT_SHA256 in text, "prompts changed: update docs/annotate.md (prompts and their sha256)"
    cfg = ImageConfig()
    schema = [("color", "static", ["red", "green", "blue"]), ("motion", "dynamic", ["right", "down"])]
    repair = prompts.repair_text("\"color\" is 'purple'; expected one of red, green, blue")
    order = cfg.order_text(4)
    for shown in (prompts.SYSTEM, prompts.explore_text(order, 4, 2), prompts.annotate_text(order, 4, schema), repair):
        assert shown.strip() in text


@pytest.mark.parametrize("fmt, layout", [("json_object", "frames"), ("none", "grid")])
def test_without_a_json_schema_and_with_one_image_per_frame(tiny, tmp_path, fmt, layout):
    ds, path = tiny
    cfg = ImageConfig(frames=3, layout=layout)
    with FakeVLMServer.from_dataset(ds, cfg, malformed=0.2, seed=7) as server:
        res = annotate(path, base_url=server.url, model="fake", out=tmp_path / "out", n_explore=6, n_annotate=16,
                       frames_per_query=3, layout=layout, response_format=fmt, cache_dir=tmp_path / "c", **FAST)
    assert res.report["truth"]["mean_accuracy"] == 1.0 and res.report["annotation"]["labelled"] == 16
