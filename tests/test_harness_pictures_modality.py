"""Pictures per modality: spectrogram grids and WAV files for audio, line plots for time series."""

from __future__ import annotations

import math
import wave
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from msd_bench.errors import MetricError
from msd_bench.harness import pictures

RATE = 16000


def _tone(hz: float, n: int, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * math.pi * hz * np.arange(n) / RATE)


def test_spectrogram_peaks_at_the_tone_and_full_scale_is_0_db():
    db = pictures.spectrogram_db(_tone(1000.0, 8000))
    assert db.shape[0] == pictures.N_FFT // 2 + 1
    peak = int(db[:, 5:-5].mean(axis=1).argmax())
    assert abs(peak - 1000.0 / (RATE / pictures.N_FFT)) <= 1
    assert -1.5 < float(db[peak, 5:-5].mean()) <= 0.5  # a full-scale sine reads ~0 dB
    assert float(pictures.spectrogram_db(np.zeros(4000)).max()) == -pictures.DB_RANGE  # silence: the floor


def test_spectrogram_grid_size():
    audio = torch.from_numpy(np.stack([_tone(440.0 * (i + 1), 3 * 4000, 0.5).reshape(3, 4000)
                                       for i in range(4)])).float()
    img = pictures.spectrogram_grid(audio, [f"row {i}" for i in range(4)], RATE)
    bins = int(round(pictures.MAX_HZ / (RATE / pictures.N_FFT))) + 1
    cols = pictures.spectrogram_db(audio[0].reshape(-1).numpy()).shape[1]
    assert img.size == (pictures.LABEL_W + cols + 2 * pictures.PAD, 4 * (bins + 3 + pictures.PAD) + pictures.PAD)


def test_wav_reads_back_with_rate_and_length(tmp_path):
    audio = torch.from_numpy(np.stack([_tone(440.0, 2 * 4000, 0.5).reshape(2, 4000)] * 3)).float()
    path = pictures.save_wav(audio, tmp_path / "x.wav", RATE)
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        gap = int(round(pictures.WAV_GAP_S * RATE))
        assert w.getnframes() == 3 * 8000 + 2 * gap
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.abs(pcm[:8000] / 32767.0 - audio[0].reshape(-1).numpy()).max() < 1e-4
    assert not pcm[8000 : 8000 + gap].any()  # the silence between rows
    assert not list(tmp_path.glob(".x.wav*"))  # no temporary file left


def test_line_grid_size_and_scale():
    series = torch.randn(5, 24, 13)
    img = pictures.line_grid(series, [f"r{i}" for i in range(5)])
    assert img.size == (pictures.LABEL_W + 24 * pictures.STEP_W + 2 * pictures.PAD,
                        5 * (pictures.PANEL_H + pictures.PAD) + pictures.PAD)
    arr = np.asarray(img)
    assert (arr != 255).any(axis=2).sum() > 500  # lines were drawn


def _ctx(tmp_path, modality, **extra):
    ds = SimpleNamespace(modality=modality, name=f"toy-{modality}", **extra)
    return SimpleNamespace(dataset=ds, pictures_dir=tmp_path)


@pytest.mark.parametrize(
    ("modality", "shape", "files"),
    [
        ("audio", (2, 800), {"recon.png", "recon.wav"}),
        ("timeseries", (24, 13), {"recon.png"}),
        ("video", (3, 3, 16, 16), {"recon.png", "recon.gif"}),
    ],
)
def test_save_rows_writes_the_modality_files(tmp_path, modality, shape, files):
    rows = torch.rand(4, *shape) * (2 if modality == "audio" else 1) - (1 if modality == "audio" else 0)
    ctx = _ctx(tmp_path, modality, sample_rate=RATE if modality == "audio" else None)
    paths = pictures.save_rows(ctx, rows, [f"row {i}" for i in range(4)], "recon")
    assert {p.name for p in paths} == files == {p.name for p in tmp_path.iterdir()}
    with Image.open(tmp_path / "recon.png") as img:
        assert img.format == "PNG" and img.size[1] > 4 * 10
    if modality == "audio":
        with wave.open(str(tmp_path / "recon.wav"), "rb") as w:
            assert w.getframerate() == RATE
            assert w.getnframes() == 4 * shape[0] * shape[1] + 3 * int(round(pictures.WAV_GAP_S * RATE))


def test_audio_without_sample_rate_is_a_one_line_error(tmp_path):
    ctx = _ctx(tmp_path, "audio", sample_rate=None)
    with pytest.raises(MetricError, match="declares no sample_rate"):
        pictures.save_rows(ctx, torch.zeros(2, 2, 100), ["a", "b"], "recon")
    assert not list(tmp_path.iterdir())
