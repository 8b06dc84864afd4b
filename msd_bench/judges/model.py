"""The judge architecture: per-frame CNN → bidirectional GRU → one head per factor.

A judge classifies every ground-truth factor of a video ``[B, T, C, H, W]`` (float32 in ``[0, 1]``):

* ``sequence`` heads (one per factor) read the bidirectional GRU over the per-frame features
  (mean over time of its outputs, concatenated with its final states of both directions);
* ``frame`` heads (one per *static* factor) read **only** the per-frame CNN feature of that frame, so
  a frame's prediction never borrows evidence from other frames (the consistency metrics rely on it).

All heads return logits (no softmax). The network downsamples its input by average pooling first
(``pool``; 64 → 32 for the built-in datasets), which keeps it small and fast and makes it a little
tolerant to the high-frequency artefacts of generated images.

The forward pass returns a flat tuple of tensors (sequence logits in factor order, then frame logits
in static-factor order) so that it exports to ONNX as-is; :func:`split_outputs` maps it back to names.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["strides"] = list(self.strides)
        d["motion"] = list(self.motion)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        d = dict(d)  # fields missing from older cards take their defaults
        d["widths"] = tuple(d["widths"])
        d["strides"] = tuple(d["strides"])
        d["motion"] = tuple(d.get("motion", ()))
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
        self.cfg = cfg
        self.heads = list(heads)
        self.static_heads = [h for h in self.heads if h.static]
        self.encoder = FrameEncoder(cfg)
        fdim = self.encoder.out_dim
        self.motion = MotionEncoder(cfg) if cfg.motion else None
        mdim = self.motion.out_dim if self.motion is not None else 0
        self.gru = nn.GRU(fdim + mdim, cfg.hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.seq_heads = nn.ModuleList([nn.Linear(4 * cfg.hidden, h.n_classes) for h in self.heads])
        self.frame_heads = nn.ModuleList(
            [nn.Linear(fdim, h.n_classes) for h in self.static_heads]
        )

    @property
    def output_names(self) -> list[str]:
        """ONNX output names: ``seq__<factor>`` for every factor, ``frame__<factor>`` for static ones."""
        return [f"seq__{h.name}" for h in self.heads] + [f"frame__{h.name}" for h in self.static_heads]

    def forward(self, video: torch.Tensor, pooled: bool = False) -> tuple[torch.Tensor, ...]:
        """Logits for ``video`` ``[B, T, C, H, W]``; ``pooled=True`` means the input was already
        average-pooled by ``cfg.pool`` (the training loop pools the data once, see recipe.pool_video)."""
        b, t, c, hh, ww = video.shape
        feats = self.encoder(video.reshape(b * t, c, hh, ww), pooled)  # [B*T, F]
        seq_feats = feats.reshape(b, t, -1)
        if self.motion is not None:
            seq_feats = torch.cat([seq_feats, self.motion(video, pooled)], dim=2)
        out, h_n = self.gru(seq_feats)  # out [B, T, 2H], h_n [2, B, H]
        pooled = torch.cat([out.mean(dim=1), h_n[0], h_n[1]], dim=1)  # [B, 4H]
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

