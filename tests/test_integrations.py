"""msd_bench.integrations against the real libraries: files written, then read back with each library.

Every test skips cleanly when its library is absent (``pytest.importorskip``); the extras are
``msd-bench[lightning]``, ``[tensorboard]``, ``[wandb]``, ``[mlflow]``. The scores come from a real
:class:`msd_bench.Evaluator` (small sprites, the frozen judge) on the untrained example model.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import pytest
import torch

from msd_bench.evaluator import Evaluator
from msd_bench.harness.example_model import TinyModel
from msd_bench.integrations import MissingExtraError, scores_to_metrics
from msd_bench.testing import require_judge


@pytest.fixture(scope="module")
def ev(one_thread):
    require_judge("sprites")
    with Evaluator("sprites", size="small", limit=16, metrics="reconstruction", device="cpu") as e:
        yield e


@pytest.fixture(scope="module")
def results(ev):
    """Two results of two different models (steps 0 and 1)."""
    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        out.append(ev(TinyModel(frames=8, channels=3, height=64, width=64)))
    return out


def test_scores_to_metrics_keeps_scored_values_only(results):
    r = results[0]
    m = scores_to_metrics(r)
    assert m["msd/mse"] == r.scores["mse"].value and set(m) == {f"msd/{k}" for k in r.scores}
    assert scores_to_metrics(r, prefix="eval.")["eval.psnr"] == r.scores["psnr"].value
    r2 = r.model_copy(deep=True)
    r2.scores["ssim"].status, r2.scores["ssim"].value = "not_applicable", None
    assert "msd/ssim" not in scores_to_metrics(r2)


def test_missing_extra_is_one_line_naming_the_extra():
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "try:\n    import msd_bench.integrations.tensorboard\n"
            "except ImportError as e:\n    print(type(e).__name__, '|', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ("MissingExtraError | msd_bench.integrations.tensorboard needs the 'tensorboard' package, which "
                   "is not installed: pip install 'msd-bench[tensorboard]'")
    assert issubclass(MissingExtraError, ImportError)


def test_tensorboard_event_file_reads_back(results, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from msd_bench.integrations.tensorboard import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path / "tb")
    for step, r in enumerate(results):
        logger(r, step)
    logger.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == set(scores_to_metrics(results[0]))
    events = acc.Scalars("msd/mse")
    assert [e.step for e in events] == [0, 1]
    for e, r in zip(events, results, strict=True):
        assert e.value == pytest.approx(r.scores["mse"].value, rel=1e-6)  # stored as float32


def test_wandb_offline_run_files_read_back(results, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from msd_bench.integrations.wandb import WandbLogger

    for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="msd-bench-test", dir=str(tmp_path), mode="offline")
    run_dir = logger.run.dir
    for step, r in enumerate(results):
        logger(r, step)
    logger.close()
    assert wandb.run is None
    assert run_dir.startswith(str(tmp_path))
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")  # the run as `wandb sync` uploads it
    from wandb.proto import wandb_internal_pb2

    def records() -> list:
        out = []
        for data in _wandb_log_records(log.read_bytes()):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(data)
            out.append(rec)
        return out

    deadline = time.monotonic() + 60  # wandb's service process may still be writing the log after finish()
    while not any(r.WhichOneof("record_type") == "exit" for r in records()) and time.monotonic() < deadline:
        time.sleep(0.2)
    history, summary = [], {}
    for rec in records():
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            summary.update({u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in rec.summary.update})
    assert [h["_step"] for h in history] == [0, 1]
    assert [h["msd/mse"] for h in history] == [r.scores["mse"].value for r in results]
    assert summary["msd/protocol"] == results[-1].protocol and summary["msd/dataset"] == "sprites"


def _wandb_log_records(raw: bytes) -> list[bytes]:
    """The records of a ``.wandb`` transaction log: a 7-byte header (``:W&B``, magic 0xBEE1, version),
    then LevelDB-log framing in 32 KiB blocks — per chunk a CRC (4 bytes), length (2, little endian)
    and type (1: full, 2: first, 3: middle, 4: last)."""
    assert raw[:4] == b":W&B" and int.from_bytes(raw[4:6], "little") == 0xBEE1, "not a W&B transaction log"
    block, pos, out, parts = 32768, 7, [], b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4:pos + 6], "little"), raw[pos + 6]
        if length == 0 and kind == 0:
            break
        chunk = raw[pos + 7:pos + 7 + length]
        pos += 7 + length
        parts = chunk if kind in (1, 2) else parts + chunk
        if kind in (1, 4):
            out.append(parts)
    return out


def test_mlflow_file_store_reads_back(results, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow >= 3.x keeps the file store behind this switch
    from mlflow.tracking import MlflowClient

    from msd_bench.integrations.mlflow import MlflowLogger

    uri = (tmp_path / "mlruns").as_uri()
    logger = MlflowLogger(tracking_uri=uri, experiment="msd-bench-test", run_name="tiny")
    for step, r in enumerate(results):
        logger(r, step)
    logger.close()
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    history = client.get_metric_history(logger.run_id, "msd/mse")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, results[0].scores["mse"].value), (1, results[1].scores["mse"].value)]
    assert set(run.data.metrics) == set(scores_to_metrics(results[0]))


def test_lightning_callback_scores_every_n_epochs_inside_trainer_fit(ev, tmp_path):
    lightning = pytest.importorskip("lightning")
    pytest.importorskip("tensorboard")  # the extra logger beside the Trainer's own
    from lightning.pytorch.loggers import CSVLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from msd_bench.integrations.lightning import MsdBenchCallback
    from msd_bench.integrations.tensorboard import TensorBoardLogger

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = TinyModel(frames=8, channels=3, height=64, width=64)

        def training_step(self, batch, _):
            (x,) = batch
            s, d = self.net.encode(x)
            return ((self.net.decode_parts(s, d) - x) ** 2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1.0)

    x = torch.rand(8, 8, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=4)
    extra = TensorBoardLogger(tmp_path / "tb")
    cb = MsdBenchCallback(ev, every_n_epochs=1, model=lambda m: m.net, loggers=[extra])
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=CSVLogger(tmp_path, name="csv"),
                                callbacks=[cb], enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, log_every_n_steps=1)
    module = Module()
    trainer.fit(module, data)
    extra.close()
    assert [epoch for epoch, _ in cb.results] == [1, 2]
    assert module.net.training  # the Evaluator gave the training flags back
    mse = [r.scores["mse"].value for _, r in cb.results]
    assert mse[0] != mse[1]  # scored the model as trained so far
    (metrics_file,) = (tmp_path / "csv").glob("version_*/metrics.csv")
    rows = [r for r in csv.DictReader(metrics_file.open()) if r.get("msd/mse")]
    assert [float(r["msd/mse"]) for r in rows] == pytest.approx(mse, rel=1e-6)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("msd/mse")] == [2, 4]  # the trainer's global step (2 batches per epoch)


def test_lightning_callback_rejects_bad_every_n_epochs(ev):
    pytest.importorskip("lightning")
    from msd_bench.errors import MsdBenchError
    from msd_bench.integrations.lightning import MsdBenchCallback

    with pytest.raises(MsdBenchError, match="every_n_epochs must be >= 1, got 0"):
        MsdBenchCallback(ev, every_n_epochs=0)
