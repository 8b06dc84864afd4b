"""``sprites``: the standard Sprites dataset (Li & Mandt, ICML 2018), rebuilt bit-exactly from the LPC layers.

The procedure is the one of the public generation scripts (github.com/YingzhenLi/Sprites,
``random_character.py`` and ``frame_to_npy.py``), with the layers shipped in
``msd_bench/datasets/data/lpc_sprites`` (sha256 of each file in its NOTICE, checked before every build):

- 1296 characters: body, bottom (``bottomwear``), top (``topwear``), hair, each in 0..5; character index
  ``s = 216 body + 36 bottom + 6 top + hair``; label value ``i`` of a factor is the layer file ``i.png``.
- Composite: an opaque black RGBA sheet of 832 x 1344 (``Image.new("RGBA", (832, 1344), "black")``),
  ``PIL.Image.alpha_composite`` with body, bottomwear, topwear, hair, then ``shoes/1.png`` (each layer
  ``.convert("RGBA")``). Frames are the 64 x 64 tiles, 13 per row (tile ``i`` at row ``i // 13``, column
  ``i % 13``); RGB is kept (the alpha of an opaque composite is 255 everywhere).
- 8 frames per (action, direction), by tile number (:data:`TILES`): walk (base front 131, left 118, right
  144): frame 0 = base + 7, frames 1..7 = base + 0..6; spellcast (front 26, left 13, right 39): frames
  0..5 = base + 0..5, frame 6 = base + 4, frame 7 = base + 6; slash (front 182, left 169, right 195):
  frames 0..5 = base + 0..5, frame 6 = base + 4, frame 7 = base + 0.
- ``movement`` = 3 action + direction with actions (walk, spellcast, slash) and directions (front, left,
  right), the label order of the original ``load_sprites.py``.
- Split: ``np.random.RandomState(423).permutation(1296)``; its first 1000 entries are the standard training
  characters, the other 296 the standard test characters (9,000 / 2,664 sequences). ``test_indices`` is
  exactly the standard test set. Validation: the first :data:`N_VAL_CHARACTERS` characters of
  ``np.random.RandomState(seed).permutation(sorted standard training characters)`` (seed = the spec's
  seed, 0), removed from ``train_indices`` (so train 900 / val 100 / test 296 characters).

Rows are character-major, movement-minor: row ``9 s + movement``. Compositing is per pixel, so only the
band of the sheet that holds the 63 used tiles (rows 1-3, 9-11, 13-15, columns 0-8) is composited; the
result equals the full-sheet composite (tested on every character by a slow test).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ._common import Plan, stratified_subset

T, H, W = 8, 64, 64
SHEET = (832, 1344)  # (width, height) of every layer
TILES_PER_ROW = 13
N_VALUES = 6
N_CHARACTERS = N_VALUES**4
ACTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("front", "left", "right")
MOVEMENTS = tuple(f"{a}_{d}" for a in ACTIONS for d in DIRECTIONS)
#: static factors: (factor name, layer folder)
FACTORS = (("body", "body"), ("bottom", "bottomwear"), ("top", "topwear"), ("hair", "hair"))
SHOES = "shoes/1.png"
SPLIT_SEED = 423
N_TRAIN_CHARACTERS = 1000
N_VAL_CHARACTERS = 100
#: characters per split in the small size (x 9 movements = 1,296 sequences), drawn from the full splits
SMALL_CHARACTERS = {"train": 100, "val": 22, "test": 22}

LAYERS_DIR = Path(__file__).resolve().parents[1] / "data" / "lpc_sprites"

_BASES = {"walk": {"front": 131, "left": 118, "right": 144},
          "spellcast": {"front": 26, "left": 13, "right": 39},
          "slash": {"front": 182, "left": 169, "right": 195}}
_OFFSETS = {"walk": (7, 0, 1, 2, 3, 4, 5, 6), "spellcast": (0, 1, 2, 3, 4, 5, 4, 6), "slash": (0, 1, 2, 3, 4, 5, 4, 0)}
#: tile number of every (movement, frame), int64 [9, 8]
TILES = np.array([[_BASES[a][d] + o for o in _OFFSETS[a]] for a in ACTIONS for d in DIRECTIONS], dtype=np.int64)

# The band of the sheet composited: the sheet rows and the first columns that hold every used tile.
_ROWS = np.unique(TILES // TILES_PER_ROW)
_N_COLS = int((TILES % TILES_PER_ROW).max()) + 1


def layer_files() -> list[str]:
    """Relative paths of the layer files the dataset uses (in NOTICE order)."""
    return [f"{folder}/{i}.png" for _, folder in FACTORS for i in range(N_VALUES)] + [SHOES]


def expected_hashes(layers_dir: Path | None = None) -> dict[str, str]:
    """sha256 of each layer file as listed in the shipped NOTICE (``<sha256>  <relative path>`` lines)."""
    notice = Path(layers_dir or LAYERS_DIR) / "NOTICE"
    if not notice.is_file():
        raise DatasetError(f"{notice}: missing; expected the NOTICE listing the sha256 of each sprites layer")
    out = {}
    for line in notice.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64 and parts[1].endswith(".png"):
            out[parts[1]] = parts[0]
    return out


#: The sha256 of every layer, fixed in code too: an altered NOTICE cannot make altered layers pass.
LAYER_SHA256 = {
    "body/0.png": "27d1ac78db37c42f35a20d15c42705efc5e58d47c236cc01423879d4f797f151",
    "body/1.png": "1535e9228357b884df80f777a0d1dac10ac35e550e4d8d077105ccad014a1460",
    "body/2.png": "7c241033b4897501cb3721b6c3a9ebfa94b13db10a539edbd9bcc3e0c2a4bcb9",
    "body/3.png": "055f5aa33fc112d8444b42fce2cf50608a9fbbf2466c54ceaa46c777589a717a",
    "body/4.png": "57f3b9c510482379aba9a32fc0de7d48e9cbe3dc40f2447283547f773b77ca72",
    "body/5.png": "91e49453aeab5ebbb4fd2b48253812895dcfb4cb1829b84e24425c66de8f04ff",
    "bottomwear/0.png": "4ec356c488e272fde2d2d0d722b12a80217871e41161d43ba784caf243969ec2",
    "bottomwear/1.png": "0674312eaa4ab548f8bb31ef95d7dbd46b41555758cec51bd6c3e9fac9a0f936",
    "bottomwear/2.png": "3b464feb0d20ff34b0ca2a6d1fd00766ad86e2229c3d56ff91379fe27588a893",
    "bottomwear/3.png": "b366e84ea0519d06cf693f51e0ee2f9ac32b3132d27c75dfdc4b6f52fca072de",
    "bottomwear/4.png": "4ed7e7702e4f50b9692c0043be04b7296a108d85ea97230fb50d13c150d98771",
    "bottomwear/5.png": "a5c5e7e33f13fe5ad37b5836a5a74fb0d2094a0877c2146961b88688ff85840d",
    "topwear/0.png": "b917edcf2b3c35d51ef57a6fad67557c5edf048785bea29db09a640d09ac9a90",
    "topwear/1.png": "e33c6cb31ed1268a2c0dc73b665b1c9b9420e22baf3321880222bdb22682368b",
    "topwear/2.png": "2b9b8fefa08894b7ea536cd62b86d494aefe6e54495c5c1d83460827b13b6448",
    "topwear/3.png": "807f5b628592f6747e2814be9435963069dba6c360577168c02f57bbe903433d",
    "topwear/4.png": "b51b17878503877e179ce4f9231713bf2b2d2d666c3ec9ee29f4e784469867a2",
    "topwear/5.png": "1b6049d43f83ebfda857cc405d1936ac9fd80be480fa6ad239024a6a75ad0372",
    "hair/0.png": "e4007b0635a239ad16cdebfe90759349ccc73dfc6836c9d19625714be185f43d",
    "hair/1.png": "fa6369f84d3310705df6d8ca8c9d515a7d211e73d2826c50a9cb5bb285652c66",
    "hair/2.png": "1b8046752be7233e829ebe9b11048e171d8d181ee6f68e07042b34f57bb8af0d",
    "hair/3.png": "333783285c5fd94ff434ae5000d2da39aac7940269f173119eaa70d34c8acfa1",
    "hair/4.png": "24df8e9b291cbd444f6c4d12d35b3d43d909cd13f04e6401e0fd8ab10216d5a2",
    "hair/5.png": "4dd471cc20e0b1cf71adcaab01c88598767e5cfe680adacdf560ca91574f17ae",
    "shoes/1.png": "d56a561616a20a12030d2d40a52eeec63e6d048871bf3b6994221869362151f1",
}


def check_layers(layers_dir: Path | None = None) -> Path:
    """Verify every layer file against :data:`LAYER_SHA256`; a missing or altered file raises DatasetError."""
    root = Path(layers_dir or LAYERS_DIR)
    for rel in layer_files():
        path = root / rel
        want = LAYER_SHA256[rel]
        if not path.is_file():
            raise DatasetError(f"{path}: sprites layer missing; expected a file with sha256 {want}")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise DatasetError(f"{path}: sha256 {got[:16]}… differs from the NOTICE's {want}; the layer is altered "
                               "or truncated (restore it from the msd-bench package)")
    return root


def open_layer(path: Path):
    """A layer sheet as an RGBA PIL image (``Image.open(path).convert("RGBA")``), size checked."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            rgba = im.convert("RGBA")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable PNG ({exc})") from None
    if rgba.size != SHEET:
        raise DatasetError(f"{path}: size {rgba.size[0]}x{rgba.size[1]}; expected {SHEET[0]}x{SHEET[1]}")
    return rgba


def _band(img):
    """The used band of a sheet: rows :data:`_ROWS`, columns ``0.._N_COLS-1``, stacked into one image."""
    from PIL import Image

    out = Image.new(img.mode, (_N_COLS * W, len(_ROWS) * H))
    for k, r in enumerate(_ROWS):
        out.paste(img.crop((0, int(r) * H, _N_COLS * W, (int(r) + 1) * H)), (0, k * H))
    return out


@lru_cache(maxsize=4)
def _layers(root: str) -> tuple[dict[tuple[int, int], object], object]:
    """The RGBA bands of every layer (after the hash check): ``{(factor column, value): band}`` and the shoes."""
    check_layers(Path(root))
    bands = {(k, i): _band(open_layer(Path(root) / folder / f"{i}.png"))
             for k, (_, folder) in enumerate(FACTORS) for i in range(N_VALUES)}
    return bands, _band(open_layer(Path(root) / SHOES))


# Where each (movement, frame) tile lies in the band: (band row, column).
_TILE_ROW = np.searchsorted(_ROWS, TILES // TILES_PER_ROW)
_TILE_COL = TILES % TILES_PER_ROW


def composite_sheet(character: tuple[int, int, int, int], layers_dir: Path | None = None):
    """The full 832 x 1344 RGBA composite of one character, exactly as the original script builds it.

    The reference of :func:`render_characters` (which composites only the used band).
    """
    from PIL import Image

    root = check_layers(layers_dir)
    sheet = Image.new("RGBA", SHEET, "black")
    for (_, folder), value in zip(FACTORS, character, strict=True):
        sheet = Image.alpha_composite(sheet, open_layer(root / folder / f"{int(value)}.png"))
    return Image.alpha_composite(sheet, open_layer(root / SHOES))


def sequences_from_sheet(sheet: np.ndarray) -> np.ndarray:
    """The 9 movements x 8 frames of a composited sheet (uint8 ``[1344, 832, 4]``) -> uint8 ``[9, 8, 3, 64, 64]``."""
    tiles = sheet.reshape(sheet.shape[0] // H, H, TILES_PER_ROW, W, 4)[TILES // TILES_PER_ROW, :, TILES % TILES_PER_ROW]
    return np.ascontiguousarray(tiles[..., :3].transpose(0, 1, 4, 2, 3))


def render_characters(characters: np.ndarray, layers_dir: Path | None = None) -> np.ndarray:
    """All 9 movements of each character: int [B, 4] (body, bottom, top, hair) -> uint8 [B, 9, 8, 3, 64, 64]."""
    from PIL import Image

    chars = np.asarray(characters, dtype=np.int64).reshape(-1, 4)
    if chars.size and (chars.min() < 0 or chars.max() >= N_VALUES):
        raise DatasetError(f"sprites characters must be in 0..{N_VALUES - 1}; got {chars.min()}..{chars.max()}")
    bands, shoes = _layers(str(Path(layers_dir or LAYERS_DIR)))
    out = np.empty((chars.shape[0], len(MOVEMENTS), T, 3, H, W), dtype=np.uint8)
    black = Image.new("RGBA", shoes.size, "black")
    for b, ch in enumerate(chars):
        img = black
        for k, v in enumerate(ch):
            img = Image.alpha_composite(img, bands[(k, int(v))])
        img = np.asarray(Image.alpha_composite(img, shoes))  # [rows * 64, cols * 64, 4]
        tiles = img.reshape(len(_ROWS), H, _N_COLS, W, 4)[_TILE_ROW, :, _TILE_COL]  # [9, 8, 64, 64, 4]
        out[b] = tiles[..., :3].transpose(0, 1, 4, 2, 3)
    return out


def render_labels(labels: np.ndarray, layers_dir: Path | None = None) -> np.ndarray:
    """Sequences for label rows ``[B, 5]`` (body, bottom, top, hair, movement) -> uint8 ``[B, 8, 3, 64, 64]``."""
    lab = np.asarray(labels, dtype=np.int64).reshape(-1, 5)
    if lab.size and (lab[:, 4].min() < 0 or lab[:, 4].max() >= len(MOVEMENTS)):
        raise DatasetError(f"sprites movement must be in 0..{len(MOVEMENTS) - 1}")
    chars, inv = np.unique(lab[:, :4], axis=0, return_inverse=True)
    seqs = render_characters(chars, layers_dir)
    return seqs[inv.reshape(-1), lab[:, 4]]


def character_index(chars: np.ndarray) -> np.ndarray:
    """``s = 216 body + 36 bottom + 6 top + hair`` for rows ``[..., 4]``."""
    c = np.asarray(chars, dtype=np.int64)
    return ((c[..., 0] * N_VALUES + c[..., 1]) * N_VALUES + c[..., 2]) * N_VALUES + c[..., 3]


def all_characters() -> np.ndarray:
    """Factor values of character ``s`` in row ``s``, int64 [1296, 4]."""
    s = np.arange(N_CHARACTERS)
    return np.stack([s // 216, s // 36 % 6, s // 6 % 6, s % 6], axis=1).astype(np.int64)


def standard_split() -> tuple[np.ndarray, np.ndarray]:
    """(training characters, test characters) of the standard split, in the order of the permutation."""
    perm = np.random.RandomState(SPLIT_SEED).permutation(N_CHARACTERS)
    return perm[:N_TRAIN_CHARACTERS], perm[N_TRAIN_CHARACTERS:]


def character_splits(seed: int) -> dict[str, np.ndarray]:
    """Sorted character ids per split: train (standard training minus val), val (seeded), test (standard)."""
    train, test = standard_split()
    val = np.random.RandomState(seed).permutation(np.sort(train))[:N_VAL_CHARACTERS]
    return {"train": np.setdiff1d(train, val), "val": np.sort(val), "test": np.sort(test)}


def factors_spec() -> list[tuple[str, str, list[str]]]:
    """(name, type, value names) of the label columns, in order; value ``i`` of a static factor is ``i.png``."""
    return ([(name, "static", [str(i) for i in range(N_VALUES)]) for name, _ in FACTORS]
            + [("movement", "dynamic", list(MOVEMENTS))])


def split_labels(parts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Rows of a dataset holding the characters ``parts`` (split -> character ids).

    Returns ``(characters kept, sorted; labels int64 [9 n, 5]; split -> row indices)``: rows are
    character-major (sorted character index), movement-minor. The generator and the importer of the
    original npy files both lay out their rows with this function, so equal content gives equal hashes.
    """
    chars = all_characters()
    keep = np.sort(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts.values()]))
    n_moves = len(MOVEMENTS)
    labels = np.concatenate([np.repeat(chars[keep], n_moves, axis=0),
                             np.tile(np.arange(n_moves), keep.size)[:, None]], axis=1).astype(np.int64)
    pos = np.searchsorted(keep, np.arange(N_CHARACTERS))
    splits = {s: (pos[np.asarray(p, dtype=np.int64)][:, None] * n_moves + np.arange(n_moves)[None, :])
              .reshape(-1).astype(np.int64) for s, p in parts.items()}
    return keep, labels, splits


def subset_parts(characters: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The standard splits restricted to ``characters`` (sorted character ids per split)."""
    present = np.unique(np.asarray(characters, dtype=np.int64))
    return {s: np.intersect1d(p, present) for s, p in character_splits(seed).items()}


def small_parts(seed: int) -> dict[str, np.ndarray]:
    """Characters of the small size: seeded subsets of each full split that cover every value."""
    chars = all_characters()
    return {s: stratified_subset(p, chars[p], [N_VALUES] * 4, SMALL_CHARACTERS[s], seed + i)
            for i, (s, p) in enumerate(character_splits(seed).items())}


def plan(size: str, seed: int, layers_dir: Path | None = None, characters: np.ndarray | None = None) -> Plan:
    """Labels, splits and a block renderer for ``size`` in {"small", "full"}.

    ``characters`` restricts the full size to those character ids (splits as in the full dataset).
    The layers are hash-checked here, before anything is written.
    """
    check_layers(layers_dir)
    if characters is not None:
        parts = subset_parts(characters, seed)
    else:
        parts = small_parts(seed) if size == "small" else character_splits(seed)
    keep, labels, splits = split_labels(parts)
    chars = all_characters()
    n_moves = len(MOVEMENTS)

    def render(i: int, j: int) -> np.ndarray:
        c0, c1 = i // n_moves, -(-j // n_moves)  # the characters that rows i..j-1 belong to
        seqs = render_characters(chars[keep[c0:c1]], layers_dir).reshape(-1, T, 3, H, W)
        return seqs[i - c0 * n_moves: j - c0 * n_moves]

    return Plan(labels=labels, splits=splits, render=render, block=n_moves * 32)
