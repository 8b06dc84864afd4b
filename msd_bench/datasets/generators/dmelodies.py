"""``dmelodies``: MSD's dMelodies-WAV (after Pati, Gururani, Lerch, ISMIR 2020), synthesised offline.

The melody (exactly the rule of the MSD benchmark's dMelodies-WAV variant):

- one bar of eight eighth-note slots at 120 BPM (0.25 s = 4,000 samples at 16 kHz each; the bar lasts
  2 s), padded with silence to 3 s: ``data[n]`` is int16 ``[T=12, F=4000]``, one frame per slot, and
  ``data[n].reshape(-1)`` is the 48,000-sample waveform. Frames 8-11 are silence (exactly zero).
- rhythm ``r`` in 0..27 is the r-th 6-element combination of the slots {0..7} in lexicographic order
  (``itertools.combinations(range(8), 6)``): those six slots sound, the other two rest (exactly zero).
- the six notes, in slot order, are chord I (scale degrees 0, 2, 4; reversed when ``arp_chord1`` is
  ``down``) then chord IV (degrees 3, 5, 7; reversed when ``arp_chord2`` is ``down``); each lasts one
  eighth.
- MIDI pitch = 60 + tonic (C4 = 60 ... B4 = 71) + the scale's semitones at that degree
  (:data:`SCALES`); frequency = 440 * 2 ** ((midi - 69) / 12) (equal temperament, A4 = 440 Hz).

Factors (MSD's dMelodies-WAV table: instrument, tonic, octave and mode are *global*, rhythm and the two
arpeggiation directions *local*): static ``instrument`` (4), ``tonic`` (12), ``octave`` (one class, "4",
``ignore``), ``scale`` (3); dynamic ``rhythm`` (28), ``arp_chord1`` and ``arp_chord2`` (up, down).
4 x 12 x 3 x 28 x 2 x 2 = 16,128 sequences, rows in that C order (instrument slowest).

The synthesiser (our own; MSD rendered with a neural synthesiser). Every note is additive synthesis of
the harmonics ``k * f`` below :data:`MAX_PARTIAL_HZ`, with an instrument's harmonic amplitudes
(:data:`INSTRUMENTS`), an attack / decay / release envelope that ends at exactly zero on the frame's
last sample, and for violin and flute a vibrato. Each note starts at phase 0 at its slot's onset and
lasts exactly one frame, so one (instrument, MIDI pitch) always renders the same 4,000 samples: the
generator renders the 4 x 26 distinct notes once (:func:`note_table`) and lays them into the slots.
Determinism: the table is float64 arithmetic (``sin``, ``cos``, ``exp`` of float64 arguments) rounded
*once* to int16; a guard refuses any sample whose pre-rounding value lies within 1e-9 of a rounding
boundary (a last-bit difference between math libraries could flip it), and the registry's content hash
is checked on every build.

Splits: a seeded 70/15/15 permutation of the rows that holds every value of every factor in every split
(:func:`~msd_bench.datasets.generators._common.split_by_row`, seed = the spec's seed). Small: a seeded
subset of each full split (:data:`SMALL_PER_SPLIT`) that covers every value, same rows and waveforms.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from ._common import Plan, split_by_row, stratified_subset

SAMPLE_RATE = 16000
FRAME = 4000  # one eighth note at 120 BPM
T = 12  # 3 s
N_SLOTS = 8
TONICS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
OCTAVES = ("4",)
#: scale -> semitones above the tonic of degrees 0..8
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11, 12, 14),
    "minor": (0, 2, 3, 5, 7, 8, 11, 12, 14),
    "blues": (0, 2, 3, 5, 6, 9, 10, 12, 14),
}
CHORD1 = (0, 2, 4)  # chord I degrees
CHORD2 = (3, 5, 7)  # chord IV degrees
ARPS = ("up", "down")
RHYTHMS: tuple[tuple[int, ...], ...] = tuple(itertools.combinations(range(N_SLOTS), 6))
BASE_MIDI = 60
MIDI_RANGE = (BASE_MIDI, BASE_MIDI + 11 + 14)  # inclusive: C4 .. C#6
MAX_PARTIAL_HZ = 7000.0
PEAK = 0.5  # of full scale: the envelope peak of the loudest sum of partials

#: instrument -> harmonic amplitudes (k = 1, 2, ...), envelope (attack, decay-to level, release in s),
#: vibrato (rate Hz, depth as a fraction of f) and ``norm`` (a bound on the peak of the partials' sum, so
#: every instrument peaks near PEAK of full scale). The spectra differ in shape: violin a bright 1/k
#: sawtooth-like series, trumpet a brass spectrum peaking at the 3rd-4th partial, saxophone strong odd
#: partials with a nasal even-partial dip, flute nearly a sine with a weak octave.
INSTRUMENTS: dict[str, dict] = {
    "violin": {"partials": tuple(1.0 / k for k in range(1, 17)), "attack": 0.060, "sustain": 0.85,
               "release": 0.030, "vibrato": (5.5, 0.006), "norm": 1.8},
    "trumpet": {"partials": (0.45, 0.80, 1.00, 0.95, 0.80, 0.62, 0.46, 0.33, 0.22, 0.14, 0.09, 0.05),
                "attack": 0.015, "sustain": 0.70, "release": 0.020, "vibrato": (0.0, 0.0), "norm": 4.5},
    "saxophone": {"partials": (1.00, 0.25, 0.70, 0.12, 0.50, 0.10, 0.35, 0.08, 0.22, 0.05, 0.12),
                  "attack": 0.030, "sustain": 0.90, "release": 0.025, "vibrato": (0.0, 0.0), "norm": 2.2},
    "flute": {"partials": (1.00, 0.10, 0.03), "attack": 0.090, "sustain": 0.95, "release": 0.040,
              "vibrato": (4.8, 0.004), "norm": 1.0},
}
INSTRUMENT_NAMES = tuple(INSTRUMENTS)
#: label columns: (name, type, values)
FACTORS_SPEC: list[tuple[str, str, list[str]]] = [
    ("instrument", "static", list(INSTRUMENT_NAMES)),
    ("tonic", "static", list(TONICS)),
    ("octave", "static", list(OCTAVES)),
    ("scale", "static", list(SCALES)),
    ("rhythm", "dynamic", ["-".join(map(str, r)) for r in RHYTHMS]),  # the sounding slots, e.g. "0-1-2-3-4-5"
    ("arp_chord1", "dynamic", list(ARPS)),
    ("arp_chord2", "dynamic", list(ARPS)),
]
N_CLASSES = [len(v) for _, _, v in FACTORS_SPEC]
N_FULL = int(np.prod(N_CLASSES))
SMALL_PER_SPLIT = {"train": 336, "val": 72, "test": 72}
#: float64 error of a table sample is a few ulp of 32767 (~1e-11): 1e-9 leaves a wide margin
ROUNDING_GUARD = 1e-9


def factors_spec() -> list[tuple[str, str, list[str]]]:
    """``(name, type, value names)`` of every label column, in column order."""
    return [(n, t, list(v)) for n, t, v in FACTORS_SPEC]


def midi_to_hz(midi: int) -> float:
    """Equal-tempered frequency, A4 (MIDI 69) = 440 Hz."""
    return 440.0 * 2.0 ** ((int(midi) - 69) / 12.0)


def melody(tonic: int, scale: int, rhythm: int, arp1: int, arp2: int) -> np.ndarray:
    """MIDI pitch of each of the 8 slots (int64 ``[8]``; -1 = rest) of one melody.

    Parameters are class indices (see :data:`FACTORS_SPEC`).
    """
    semis = SCALES[list(SCALES)[scale]]
    c1 = CHORD1[::-1] if ARPS[arp1] == "down" else CHORD1
    c2 = CHORD2[::-1] if ARPS[arp2] == "down" else CHORD2
    notes = [BASE_MIDI + tonic + semis[d] for d in (*c1, *c2)]
    out = np.full(N_SLOTS, -1, dtype=np.int64)
    out[list(RHYTHMS[rhythm])] = notes
    return out


def melodies(labels: np.ndarray) -> np.ndarray:
    """:func:`melody` of every row of ``labels`` (int64 ``[N, 8]``), vectorised."""
    lab = np.asarray(labels, dtype=np.int64)
    semis = np.array(list(SCALES.values()), dtype=np.int64)  # [3, 9]
    deg = np.empty((lab.shape[0], 6), dtype=np.int64)
    deg[:, :3] = np.where(lab[:, 5:6] == 1, CHORD1[::-1], CHORD1)
    deg[:, 3:] = np.where(lab[:, 6:7] == 1, CHORD2[::-1], CHORD2)
    pitch = BASE_MIDI + lab[:, 1:2] + semis[lab[:, 3:4], deg]  # [N, 6]
    slots = np.array(RHYTHMS, dtype=np.int64)[lab[:, 4]]  # [N, 6]
    out = np.full((lab.shape[0], N_SLOTS), -1, dtype=np.int64)
    np.put_along_axis(out, slots, pitch, axis=1)
    return out


def envelope(inst: str) -> np.ndarray:
    """The amplitude envelope of one note (float64 ``[FRAME]``): raised-cosine attack to 1, exponential
    decay toward the sustain level, raised-cosine release that reaches exactly 0 on the last sample."""
    p = INSTRUMENTS[inst]
    n = np.arange(FRAME, dtype=np.float64)
    na, nr = int(round(p["attack"] * SAMPLE_RATE)), int(round(p["release"] * SAMPLE_RATE))
    env = p["sustain"] + (1.0 - p["sustain"]) * np.exp(-(n - na) / (0.08 * SAMPLE_RATE))
    env[:na] = 0.5 - 0.5 * np.cos(np.pi * n[:na] / na)
    rel = 0.5 + 0.5 * np.cos(np.pi * (np.arange(1, nr + 1, dtype=np.float64) / nr))  # ends at exactly 0
    env[FRAME - nr:] *= rel
    env[FRAME - 1] = 0.0
    env[0] = 0.0
    return env


def render_note(inst: str, midi: int) -> np.ndarray:
    """One note as float64 in units of int16 full scale (before the single rounding), ``[FRAME]``."""
    p = INSTRUMENTS[inst]
    f = midi_to_hz(midi)
    t = np.arange(FRAME, dtype=np.float64) / SAMPLE_RATE
    rate, depth = p["vibrato"]
    # phase in cycles of the fundamental: f t (+ vibrato: the integral of f (1 + depth sin(2 pi rate t)))
    cycles = f * t
    if rate > 0:
        cycles = cycles + f * depth * (1.0 - np.cos(2.0 * np.pi * rate * t)) / (2.0 * np.pi * rate)
    amps = [a for k, a in enumerate(p["partials"], start=1) if k * f * (1.0 + 2 * depth) < MAX_PARTIAL_HZ]
    wave = np.zeros(FRAME, dtype=np.float64)
    for k, a in enumerate(amps, start=1):
        wave += a * np.sin(2.0 * np.pi * np.mod(k * cycles, 1.0))
    return wave * envelope(inst) * (PEAK * 32767.0 / p["norm"])


def _round_once(x: np.ndarray, where: str) -> np.ndarray:
    frac = np.abs(x - np.floor(x) - 0.5)
    if (frac < ROUNDING_GUARD).any():  # pragma: no cover - not hit by the built-in instruments
        raise ValueError(f"{where}: a sample lies within {ROUNDING_GUARD} of a rounding boundary; "
                         "its int16 value could differ between math libraries")
    return np.rint(x).astype(np.int16)


@lru_cache(maxsize=1)
def note_table() -> np.ndarray:
    """Every note the dataset uses: int16 ``[4 instruments, 26 pitches + 1 rest, FRAME]``.

    Index ``[i, midi - 60]`` is instrument ``i`` playing ``midi``; the last row of each instrument
    (index 26) is the rest (zeros). Read-only.
    """
    lo, hi = MIDI_RANGE
    out = np.zeros((len(INSTRUMENTS), hi - lo + 2, FRAME), dtype=np.int16)
    for i, inst in enumerate(INSTRUMENTS):
        for m in range(lo, hi + 1):
            out[i, m - lo] = _round_once(render_note(inst, m), f"{inst} midi {m}")
    out.setflags(write=False)
    return out


def all_labels() -> np.ndarray:
    """Labels of the full dataset, rows in C order of the factors (int64 ``[16128, 7]``)."""
    grids = np.meshgrid(*[np.arange(n) for n in N_CLASSES], indexing="ij")
    return np.stack(grids, axis=-1).reshape(-1, len(N_CLASSES)).astype(np.int64)


def render_rows(labels: np.ndarray) -> np.ndarray:
    """The waveforms of the given label rows: int16 ``[B, T, FRAME]``."""
    table = note_table()
    rest = table.shape[1] - 1
    mel = melodies(labels)
    idx = np.where(mel < 0, rest, mel - BASE_MIDI)  # [B, 8]
    out = np.zeros((labels.shape[0], T, FRAME), dtype=np.int16)
    out[:, :N_SLOTS] = table[labels[:, 0][:, None], idx]
    return out


def plan(size: str, seed: int) -> Plan:
    labels = all_labels()
    splits = split_by_row(labels, N_CLASSES, seed)
    if size == "small":
        keep = {s: stratified_subset(ind, labels[ind], N_CLASSES, SMALL_PER_SPLIT[s], seed)
                for s, ind in splits.items()}
        rows = np.sort(np.concatenate(list(keep.values())))
        pos = {int(r): i for i, r in enumerate(rows)}
        splits = {s: np.array([pos[int(r)] for r in ind], dtype=np.int64) for s, ind in keep.items()}
        labels = labels[rows]

    def render(i: int, j: int) -> np.ndarray:
        return render_rows(labels[i:j])

    return Plan(labels=labels, splits=splits, render=render, block=256)
