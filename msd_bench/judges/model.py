"""The judge architecture: per-step encoder → bidirectional GRU → one head per factor.

A judge classifies every ground-truth factor of a sequence ``[B, T, *F]`` (float32, the dataset's
``to_model_input``). The per-step encoder depends on the modality (``ArchConfig.modality``):

* ``video`` ``[B, T, C, H, W]`` in ``[0, 1]``: a per-frame CNN (:class:`FrameEncoder`);
* ``audio`` ``[B, T, F]`` in ``[-1, 1)``: a fixed log-power spectrum of every frame (``torch.stft``,
  Hann window ``n_fft``, hop ``hop``, no centring, power averaged over the frame's windows, the first
  ``n_bins`` bins, ``log1p``), then a small MLP (:class:`StepEncoder1D`);
* ``timeseries`` ``[B, T, V]``: a small MLP of every step, then temporal convolutions over ``T``
  (``tconv``, kernel 3), both in :class:`StepEncoder1D` / :class:`JudgeNet`.

Heads:

* ``sequence`` heads (one per factor) read the bidirectional GRU over the per-frame features
  (mean over time of its outputs, concatenated with its final states of both directions);
* ``frame`` heads (one per *static* factor, only when ``frame_heads``) read **only** the per-step
  feature of that step, so a frame's prediction never borrows evidence from other frames (the
  consistency metrics rely on it). 1-D judges have none: a single note or a silent frame of a melody,
  or one hour of a day, does not show a tonic, a station or a month.

All heads return logits (no softmax). The network downsamples its input by average pooling first
(``pool``; 64 → 32 for the built-in datasets), which keeps it small and fast and makes it a little
tolerant to the high-frequency artefacts of generated images.

The forward pass returns a flat tuple of tensors (sequence logits in factor order, then frame logits
in static-factor order) so that it exports to ONNX as-is; :func:`split_outputs` maps it back to names.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class HeadSpec:
    """One classified factor: its name, number of classes and whether it is static."""

    name: str
    n_classes: int
    static: bool


@dataclass(frozen=True)
class ArchConfig:
    """Hyper-parameters of the architecture (copied into the card).

    Attributes
    ----------
    in_channels : int
        Image channels ``C``.
    pool : int
        Average-pooling factor applied to the input first (1 = none).
    widths : tuple of int
        Output channels of the conv blocks (3x3 conv, GroupNorm, ReLU).
    strides : tuple of int
        Stride of every conv block.
    feature_dim : int
        Size of the per-frame feature.
    hidden : int
        GRU hidden size per direction.
    groups : int
        GroupNorm groups in every conv block.
    dropout : float
        Dropout on the pooled GRU state (training only).
    keypoints : int
        Spatial-softmax keypoints (0 = none): a 1x1 conv on the output of conv block
        ``keypoint_block`` gives ``keypoints`` maps whose softmax-expected (x, y) coordinates are
        appended to the frame feature. They give the GRU sub-pixel positions, from which it reads
        speeds and directions of motion (Levine et al., 2016, "End-to-end training of deep
        visuomotor policies").
    modality : {"video", "audio", "timeseries"}
        Selects the per-step encoder (module doc). For 1-D modalities ``in_channels`` is the number of
        features per step (1 for audio) and ``image_size`` the frame length F (audio) or V.
    frame_heads : bool
        Per-frame heads of the static factors (off for the 1-D judges).
    n_fft, hop, n_bins : int
        Audio: STFT window and hop (samples) and the number of low-frequency bins kept.
    mlp : tuple of int
        1-D: hidden widths of the per-step MLP (Linear + ReLU each, then Linear to ``feature_dim``).
    tconv : tuple of int
        1-D: widths of temporal conv blocks (kernel 3, ReLU) over the step features before the GRU;
        their output is appended to the step feature.
    flat_steps, flat_dim : int
        1-D, fixed length only (0 = off): a linear map of all ``flat_steps`` step features, flattened,
        to ``flat_dim`` numbers appended to the pooled GRU state. It gives the heads exact linear access
        to every step (e.g. the mean of hours 18-23 minus that of hours 0-5); the input must then have
        ``T == flat_steps``.
    keypoint_block : int
        Which conv block feeds the keypoints (0 = the first, the finest resolution).
    gap : bool
        Append the global average (over space) of the last conv block's output to the frame
        feature. The flattened map read by ``fc`` is position-specific, so with many sprite
        positions each position would have to learn shape and orientation on its own; the averaged
        map is translation-invariant evidence for them (Lin et al., 2014, "Network in network").
    motion : tuple of int
        Widths of an optional motion stream (empty = none): conv blocks (stride 2) on the temporal
        difference ``x[t+1] - x[t]`` (zeros for the last frame), averaged over space and appended to
        the GRU input only. The difference image shows the sense of a rotation or a motion locally
        (its signs at the moving edges), which a per-frame feature of a small rotating sprite hardly
        encodes. The frame heads never see it, so a frame's prediction stays a function of that frame.
    """

    in_channels: int
    image_size: int
    pool: int = 2
    widths: tuple[int, ...] = (32, 48, 64, 64)
    strides: tuple[int, ...] = (2, 2, 2, 1)
    feature_dim: int = 128
    hidden: int = 96
    groups: int = 8
    dropout: float = 0.1
    keypoints: int = 0
    keypoint_block: int = 0
    gap: bool = False
    motion: tuple[int, ...] = ()
    modality: str = "video"
    frame_heads: bool = True
    n_fft: int = 2048
    hop: int = 512
    n_bins: int = 768
    mlp: tuple[int, ...] = (256,)
    tconv: tuple[int, ...] = ()
    flat_steps: int = 0
    flat_dim: int = 64

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("widths", "strides", "motion", "mlp", "tconv"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        d = dict(d)  # fields missing from older cards take their defaults
        for k in ("widths", "strides", "motion", "mlp", "tconv"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def _block(cin: int, cout: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(groups, cout), cout),
        nn.ReLU(inplace=True),
    )


class SpatialSoftmax(nn.Module):
    """``[N, Cin, S1, S2]`` → ``[N, 2K]``: expected (x, y) in ``[-1, 1]`` of K softmax maps."""

    def __init__(self, cin: int, k: int, s1: int, s2: int):
        super().__init__()
        self.proj = nn.Conv2d(cin, k, 1)
        self.register_buffer("ys", torch.linspace(-1.0, 1.0, s1), persistent=False)
        self.register_buffer("xs", torch.linspace(-1.0, 1.0, s2), persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = self.proj(h)
        n, k, s1, s2 = m.shape
        a = torch.softmax(m.reshape(n, k, s1 * s2), dim=-1).reshape(n, k, s1, s2)
        ex = (a.sum(dim=2) * self.xs).sum(dim=-1)  # [N, K]
        ey = (a.sum(dim=3) * self.ys).sum(dim=-1)
        return torch.cat([ex, ey], dim=1)


class FrameEncoder(nn.Module):
    """Per-frame CNN: ``[N, C, H, W]`` → ``[N, out_dim]`` (``feature_dim + 2 * keypoints`` + the last
    width when ``gap``)."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.pool = nn.AvgPool2d(cfg.pool) if cfg.pool > 1 else nn.Identity()
        layers = []
        cin = cfg.in_channels
        if len(cfg.strides) != len(cfg.widths):
            raise ValueError(f"strides {cfg.strides} and widths {cfg.widths} must have the same length")
        side = cfg.image_size // cfg.pool
        kp = None
        for i, (w, s) in enumerate(zip(cfg.widths, cfg.strides, strict=True)):
            layers.append(_block(cin, w, s, cfg.groups))
            cin = w
            side = (side - 1) // s + 1
            if cfg.keypoints and i == cfg.keypoint_block:
                kp = SpatialSoftmax(w, cfg.keypoints, side, side)
        self.convs = nn.Sequential(*layers)
        self.kp_block = cfg.keypoint_block
        self.keypoints = kp
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, cfg.feature_dim), nn.ReLU(inplace=True)
        )
        self.gap = cfg.gap
        self.out_dim = cfg.feature_dim + 2 * cfg.keypoints + (cin if cfg.gap else 0)

    def forward(self, x: torch.Tensor, pooled: bool = False) -> torch.Tensor:
        h = x if pooled else self.pool(x)
        if self.keypoints is None and not self.gap:
            return self.fc(self.convs(h))
        kp = None
        for i, layer in enumerate(self.convs):
            h = layer(h)
            if self.keypoints is not None and i == self.kp_block:
                kp = self.keypoints(h)
        parts = [self.fc(h)]
        if kp is not None:
            parts.append(kp)
        if self.gap:
            parts.append(h.mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)


class MotionEncoder(nn.Module):
    """Motion stream: ``[B, T, C, H, W]`` → ``[B, T, widths[-1]]`` from temporal differences.

    Frame ``t`` gets the spatial mean of a small CNN applied to ``x[t+1] - x[t]`` (pooled input, as
    the frame encoder); the last frame gets zeros, so the output keeps the length ``T``.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.pool = nn.AvgPool2d(cfg.pool) if cfg.pool > 1 else nn.Identity()
        layers, cin = [], cfg.in_channels
        for w in cfg.motion:
            layers.append(_block(cin, w, 2, cfg.groups))
            cin = w
        self.convs = nn.Sequential(*layers)
        self.out_dim = cin

    def forward(self, video: torch.Tensor, pooled: bool = False) -> torch.Tensor:
        b, t, c, hh, ww = video.shape
        d = video[:, 1:] - video[:, :-1]  # [B, T-1, C, H, W]
        d = d.reshape(b * (t - 1), c, hh, ww)
        if not pooled:
            d = self.pool(d)
        m = self.convs(d).mean(dim=(2, 3)).reshape(b, t - 1, self.out_dim)
        return nn.functional.pad(m, (0, 0, 0, 1))  # zeros for the last frame


class StepEncoder1D(nn.Module):
    """Per-step encoder of 1-D data: ``[N, F]`` → ``[N, feature_dim]``.

    Audio: log-power spectrum (fixed, see the module doc) → MLP; time series: MLP of the ``V`` values.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.audio = cfg.modality == "audio"
        if self.audio:
            if cfg.image_size < cfg.n_fft:
                raise ValueError(f"audio frames of {cfg.image_size} samples are shorter than n_fft {cfg.n_fft}")
            self.n_fft, self.hop, self.n_bins = cfg.n_fft, cfg.hop, min(cfg.n_bins, cfg.n_fft // 2 + 1)
            self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)
            cin = self.n_bins
        else:
            cin = cfg.image_size
        layers: list[nn.Module] = []
        for w in cfg.mlp:
            layers += [nn.Linear(cin, w), nn.ReLU(inplace=True)]
            cin = w
        layers += [nn.Linear(cin, cfg.feature_dim), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers)
        self.out_dim = cfg.feature_dim

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, F]`` audio → ``[N, n_bins]`` ``log1p`` of the mean power of the frame's STFT windows."""
        with warnings.catch_warnings():
            # return_complex=False is deprecated, but complex outputs do not export to ONNX (opset 17 DFT)
            warnings.simplefilter("ignore", UserWarning)
            spec = torch.stft(x, n_fft=self.n_fft, hop_length=self.hop, window=self.window, center=False,
                              return_complex=False)  # [N, bins, windows, 2]
        power = (spec[:, : self.n_bins] ** 2).sum(dim=-1).mean(dim=-1)
        return torch.log1p(power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.spectrum(x) if self.audio else x)


class JudgeNet(nn.Module):
    """Sequence classifier of every factor, plus per-frame classifiers of the static factors.

    Parameters
    ----------
    cfg : ArchConfig
        Architecture hyper-parameters.
    heads : sequence of HeadSpec
        The factors, in the dataset's label-column order.
    """

    def __init__(self, cfg: ArchConfig, heads: Sequence[HeadSpec]):
        super().__init__()
        if cfg.modality not in ("video", "audio", "timeseries"):
            raise ValueError(f"unknown modality {cfg.modality!r}; expected video, audio or timeseries")
        self.cfg = cfg
        self.heads = list(heads)
        self.static_heads = [h for h in self.heads if h.static]
        if self.static_heads and not cfg.frame_heads:
            raise ValueError("heads marked static (with frame heads) but frame_heads is off; build the heads "
                             "with static=False")
        self.video = cfg.modality == "video"
        self.encoder = FrameEncoder(cfg) if self.video else StepEncoder1D(cfg)
        fdim = self.encoder.out_dim
        self.motion = MotionEncoder(cfg) if (cfg.motion and self.video) else None
        mdim = self.motion.out_dim if self.motion is not None else 0
        tconv: list[nn.Module] = []
        cin = fdim
        for w in (cfg.tconv if not self.video else ()):
            tconv += [nn.Conv1d(cin, w, 3, padding=1), nn.ReLU(inplace=True)]
            cin = w
        self.tconv = nn.Sequential(*tconv) if tconv else None
        mdim += cin if tconv else 0
        self.gru = nn.GRU(fdim + mdim, cfg.hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(cfg.dropout)
        use_flat = bool(cfg.flat_steps) and not self.video
        self.flat = nn.Linear(cfg.flat_steps * (fdim + mdim), cfg.flat_dim) if use_flat else None
        pooled_dim = 4 * cfg.hidden + (cfg.flat_dim if self.flat is not None else 0)
        self.seq_heads = nn.ModuleList([nn.Linear(pooled_dim, h.n_classes) for h in self.heads])
        self.frame_heads = nn.ModuleList(
            [nn.Linear(fdim, h.n_classes) for h in self.static_heads]
        )

    @property
    def output_names(self) -> list[str]:
        """ONNX output names: ``seq__<factor>`` for every factor, ``frame__<factor>`` for static ones."""
        return [f"seq__{h.name}" for h in self.heads] + [f"frame__{h.name}" for h in self.static_heads]

    def forward(self, video: torch.Tensor, pooled: bool = False) -> tuple[torch.Tensor, ...]:
        """Logits for ``video`` ``[B, T, C, H, W]`` (or ``[B, T, F]`` for 1-D data); ``pooled=True`` means
        a video was already average-pooled by ``cfg.pool`` (the training loop pools the data once, see
        recipe.pool_video)."""
        b, t = video.shape[0], video.shape[1]
        if self.video:
            c, hh, ww = video.shape[2:]
            feats = self.encoder(video.reshape(b * t, c, hh, ww), pooled)  # [B*T, F]
        else:
            feats = self.encoder(video.reshape(b * t, video.shape[2]))
        seq_feats = feats.reshape(b, t, -1)
        if self.motion is not None:
            seq_feats = torch.cat([seq_feats, self.motion(video, pooled)], dim=2)
        if self.tconv is not None:
            seq_feats = torch.cat([seq_feats, self.tconv(seq_feats.transpose(1, 2)).transpose(1, 2)], dim=2)
        out, h_n = self.gru(seq_feats)  # out [B, T, 2H], h_n [2, B, H]
        pooled = torch.cat([out.mean(dim=1), h_n[0], h_n[1]], dim=1)  # [B, 4H]
        if self.flat is not None:
            pooled = torch.cat([pooled, self.flat(seq_feats.reshape(b, -1))], dim=1)
        pooled = self.drop(pooled)
        seq = [head(pooled) for head in self.seq_heads]
        frame = [head(feats).reshape(b, t, -1) for head in self.frame_heads]
        return tuple(seq + frame)

    def split_outputs(
        self, outputs: Sequence[torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Map the flat output tuple to ``({factor: [B, n]}, {static factor: [B, T, n]})``."""
        return split_outputs(self.heads, outputs)


def split_outputs(heads: Sequence[HeadSpec], outputs: Sequence) -> tuple[dict, dict]:
    """Map a flat ``(sequence..., frame...)`` output list to two dicts keyed by factor name."""
    n = len(heads)
    statics = [h for h in heads if h.static]
    if len(outputs) != n + len(statics):
        raise ValueError(f"expected {n + len(statics)} judge outputs, got {len(outputs)}")
    seq = {h.name: outputs[i] for i, h in enumerate(heads)}
    frame = {h.name: outputs[n + i] for i, h in enumerate(statics)}
    return seq, frame


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))

