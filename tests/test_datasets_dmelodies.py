"""dmelodies: the melody rule re-derived independently, rhythm masks, pitch by FFT, determinism, factors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from msd_bench.datasets import get_spec, open_dataset, open_h5, prepare
from msd_bench.datasets.generators import dmelodies

# The issue's rule, written out again here (not imported from the generator).
MAJOR = [0, 2, 4, 5, 7, 9, 11, 12, 14]
MINOR = [0, 2, 3, 5, 7, 8, 11, 12, 14]
BLUES = [0, 2, 3, 5, 6, 9, 10, 12, 14]


def expected_melody(tonic: int, scale: str, rhythm: int, arp1: str, arp2: str) -> list[int | None]:
    table = {"major": MAJOR, "minor": MINOR, "blues": BLUES}[scale]
    c1, c2 = [0, 2, 4], [3, 5, 7]
    if arp1 == "down":
        c1 = c1[::-1]
    if arp2 == "down":
        c2 = c2[::-1]
    notes = iter([60 + tonic + table[d] for d in c1 + c2])
    onsets = list(itertools.combinations(range(8), 6))[rhythm]
    return [next(notes) if s in onsets else None for s in range(8)]


def fft_midi(frame: np.ndarray, sr: int = 16000) -> float:
    """MIDI number of the strongest spectral peak of a frame (zero-padded FFT, Hann window)."""
    x = frame.astype(np.float64) * np.hanning(frame.size)
    spec = np.abs(np.fft.rfft(x, n=8 * frame.size))
    k = int(np.argmax(spec))
    hz = k * sr / (8 * frame.size)
    return 69 + 12 * np.log2(hz / 440.0)


def test_spec_and_factor_counts():
    spec = get_spec("dmelodies")
    assert spec.modality == "audio" and spec.shape == (12, 4000) and spec.feature_shape == (4000,)
    assert spec.sample_rate == 16000
    assert [(f.name, f.type, f.n_classes, f.ignore) for f in spec.factors] == [
        ("instrument", "static", 4, False), ("tonic", "static", 12, False), ("octave", "static", 1, True),
        ("scale", "static", 3, False), ("rhythm", "dynamic", 28, False), ("arp_chord1", "dynamic", 2, False),
        ("arp_chord2", "dynamic", 2, False)]
    assert spec.factor("instrument").value_names == ["violin", "trumpet", "saxophone", "flute"]
    assert spec.factor("tonic").value_names == ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert spec.factor("scale").value_names == ["major", "minor", "blues"]
    assert spec.factor("rhythm").value_names[0] == "0-1-2-3-4-5"
    assert spec.factor("rhythm").value_names[27] == "2-3-4-5-6-7"
    assert spec.sizes["full"] == 4 * 12 * 3 * 28 * 2 * 2 == 16128
    lab = dmelodies.all_labels()
    assert lab.shape == (16128, 7) and np.unique(lab, axis=0).shape[0] == 16128


def test_melody_rule_matches_the_issue_on_every_combination():
    lab = dmelodies.all_labels()
    mel = dmelodies.melodies(lab)
    names = {f: get_spec("dmelodies").factor(f).value_names for f in ("scale", "arp_chord1", "arp_chord2")}
    for row, m in zip(lab[::7], mel[::7], strict=True):
        want = expected_melody(int(row[1]), names["scale"][row[3]], int(row[4]), names["arp_chord1"][row[5]],
                               names["arp_chord2"][row[6]])
        assert [None if v < 0 else int(v) for v in m] == want


def test_waveforms_pitch_rests_and_silence(cache):
    ds = open_dataset("dmelodies", size="small", progress=False)
    assert ds.modality == "audio" and ds.sample_rate == 16000 and ds.shape == (12, 4000)
    rng = np.random.default_rng(5)
    rows = np.sort(rng.choice(ds.n, size=40, replace=False))
    data, lab = ds.read(rows)
    assert data.dtype == np.int16
    names = {f.name: f.value_names for f in ds.factors}
    for x, row in zip(data, lab, strict=True):
        want = expected_melody(int(row[1]), names["scale"][row[3]], int(row[4]), names["arp_chord1"][row[5]],
                               names["arp_chord2"][row[6]])
        assert not x[8:].any()  # the 1 s of padding is exact silence
        for slot, midi in enumerate(want):
            if midi is None:
                assert not x[slot].any(), (row, slot)  # a rest is exactly zero
            else:
                assert np.abs(x[slot]).max() > 8000
                # the strongest partial is the fundamental for violin, saxophone and flute; trumpet's is
                # the 3rd harmonic (+19.02 semitones)
                offset = 12 * np.log2(3) if names["instrument"][row[0]] == "trumpet" else 0.0
                assert abs(fft_midi(x[slot]) - offset - midi) < 0.3, (row, slot, midi)
        assert x[:, -1].tolist() == [0] * 12 and x[:, 0].tolist() == [0] * 12  # notes start/end at zero


def test_same_note_same_frame_and_instruments_differ():
    table = dmelodies.note_table()
    lab = dmelodies.all_labels()[[0, 1, 5000]]
    out = dmelodies.render_rows(lab)
    mel = dmelodies.melodies(lab)
    for x, m, inst in zip(out, mel, lab[:, 0], strict=True):
        for s in range(8):
            if m[s] >= 0:
                np.testing.assert_array_equal(x[s], table[inst, m[s] - 60])
    # the four instruments' spectra at one pitch are far apart (normalised magnitude spectra)
    spec = np.abs(np.fft.rfft(table[:, 9].astype(np.float64), axis=-1))
    spec /= np.linalg.norm(spec, axis=-1, keepdims=True)
    sim = spec @ spec.T
    assert (sim[~np.eye(4, dtype=bool)] < 0.9).all(), sim


def test_two_builds_bit_identical(cache):
    a = prepare("dmelodies", "small", progress=False, path=cache / "a.h5")
    b = prepare("dmelodies", "small", progress=False, path=cache / "b.h5")
    da, db = open_h5(a), open_h5(b)
    assert da.compute_content_hash() == db.compute_content_hash() == get_spec("dmelodies").content_hashes["small"]
    np.testing.assert_array_equal(da.read(np.arange(da.n))[0], db.read(np.arange(db.n))[0])


def test_small_is_a_subset_of_full_with_the_same_splits():
    full = dmelodies.plan("full", 0)
    small = dmelodies.plan("small", 0)
    assert small.n == 480
    key = {tuple(r): i for i, r in enumerate(full.labels.tolist())}
    for s in ("train", "val", "test"):
        rows = [key[tuple(r)] for r in small.labels[small.splits[s]].tolist()]
        assert np.isin(rows, full.splits[s]).all()
        for j, n in enumerate(dmelodies.N_CLASSES):
            assert set(small.labels[small.splits[s], j].tolist()) == set(range(n))
    np.testing.assert_array_equal(small.render(0, 4), dmelodies.render_rows(small.labels[:4]))
    sizes = [full.splits[s].size for s in ("train", "val", "test")]
    assert sum(sizes) == 16128 and abs(sizes[0] / 16128 - 0.70) < 0.01


@pytest.mark.slow
def test_full_prepare_matches_registry(cache):
    ds = open_dataset("dmelodies", size="full", progress=False)
    assert ds.n == 16128 and ds.compute_content_hash() == get_spec("dmelodies").content_hashes["full"]
