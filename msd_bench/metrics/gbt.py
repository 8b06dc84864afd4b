r"""Exact, vectorised reimplementation of scikit-learn's ``GradientBoostingClassifier()`` (defaults).

Used by DCI (:func:`msd_bench.metrics.representation.dci`) and the latent exploration
(:func:`msd_bench.metrics.exploration.explore_channels`), whose reference definitions
(disentanglement_lib, the MSD benchmark) fit ``GradientBoostingClassifier()`` with default settings and
read its ``feature_importances_`` and ``predict``. scikit-learn needs minutes per factor on thousands of
samples x hundreds of code dimensions; this module computes the same model by presorting every
feature once and growing the trees of a boosting stage (every class of every factor) level by level:
on CPU (default) with a numba-compiled split search (one fused linear scan per tree, level and
feature), on CUDA (or on CPU with ``backend="torch"``, or without numba) all trees together with
whole-array torch operations.

The model (scikit-learn 1.9 ``ensemble/_gb.py``, ``tree/_splitter.pyx``, ``tree/_criterion.pyx``):

- log loss; two classes: one tree per stage on the binomial negative gradient :math:`r = y - p`,
  :math:`p = \sigma(F)`; K > 2 classes: K trees per stage, :math:`r_k = 1[y = k] - \mathrm{softmax}(F)_k`
  (all K gradients from the raw predictions before the stage);
- initial raw prediction from the class priors (``DummyClassifier(strategy="prior")``): logit of
  the positive-class prior, resp. :math:`\log \pi_k - \frac1K\sum_j \log \pi_j`;
- regression trees on :math:`r`: ``max_depth=3``, ``min_samples_split=2``, ``min_samples_leaf=1``,
  squared-error criterion (``friedman_mse`` in scikit-learn < 1.9; both maximise the same split gain
  :math:`n_L n_R (\bar r_L - \bar r_R)^2 / n`); X in float32; a split between sorted neighbours
  :math:`x_i < x_{i+1}` only where :math:`x_{i+1} > x_i + 10^{-7}` (float32, ``FEATURE_THRESHOLD``);
  threshold :math:`x_i/2 + x_{i+1}/2`; a node whose impurity (variance of r, computed as
  :math:`\overline{r^2} - \bar r^2`) is :math:`\le` ``EPSILON`` (float64 machine epsilon) is a leaf;
- leaf values: one Newton step, :math:`\frac{K-1}{K}\,\overline{r} / \overline{p(1-p)}`
  (K > 2) or :math:`\overline{r} / \overline{p(1-p)}` (binomial), 0 when the denominator is below
  1e-150; raw predictions += 0.1 x leaf value; 100 stages;
- ``feature_importances_``: per tree (trees with more than one node only) the unnormalised
  impurity decrease :math:`\sum_\text{nodes on f} (n_t i_t - n_L i_L - n_R i_R)/n`, averaged over
  trees, divided by its sum;
- ``predict``: argmax of the raw predictions (binomial: class 1 when :math:`F \ge 0`).

Deviations (documented in docs/metrics.md):

- **ties between features**: scikit-learn visits features in a random order (``random_state=None``)
  and keeps the first best, so among features whose best splits are equally good its choice is
  random. Here the tree follows the lowest feature index among features whose best gain is within a
  relative 1e-9 of the best, and the node's importance is shared equally among those tied features
  — the expectation of scikit-learn's uniformly random choice (exact for duplicated columns, whose
  splits are the same partition);
- torch path only: tie groups are formed over the whole column: values closer than
  ``FEATURE_THRESHOLD`` chain into one group (scikit-learn compares neighbours within each node, so a
  node that lacks the middle value of such a chain may split it); only matters for values within
  1e-7 of each other. The numba path compares neighbours within each node, as scikit-learn;
- sums are computed in a different order (float64 round-off, ~1e-16 relative).

The split search on CPU (numba, :func:`_grow_stage_impl`): the trees of a stage grow in lockstep;
per level, each feature's presorted order is scanned once for all trees (a sample's node id and
gradient in every tree side by side); every active node of every tree keeps its running left count and left sum of the
node-centred gradient, and when sample ``i`` of node ``t`` arrives the split between ``t``'s previous
sample ``p`` and ``i`` is evaluated first (if ``x_i > x_p + FEATURE_THRESHOLD``, with the sums before
``i``), gain :math:`U^2 \cdot (1 / (c (n_t - c)))`; strict ``>`` keeps the first best position; the
threshold is ``x_p / 2 + x_i / 2`` (``x_p`` where that equals ``x_i`` or is infinite, as
scikit-learn). The whole boosting loop (gradients, trees, Newton leaf values, raw-prediction updates)
is one compiled driver (:func:`_boost_impl`); single-threaded by default, ``n_jobs > 1`` boosts
independent factor columns in parallel threads (the kernels release the GIL);
``cache=True`` keeps the compiled kernels in ``__pycache__`` (the first fit of a fresh install
compiles them once, ~10 s; later processes load them in < 1 s).

The split search with torch (CUDA): at tree level d every node's samples are a contiguous segment of each feature's
presorted order (the order is stably partitioned after each level), the gain of every split position
of every feature of every tree is :math:`U_i^2 / (c_i (n_t - c_i))` with :math:`U` the cumulative sum of
the node-centred gradient and :math:`c_i` the left count, and the best is an ``amax`` over positions,
then over features.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import MetricError

__all__ = ["GBTFit", "fit_gbts", "FastGradientBoostingClassifier"]

#: scikit-learn ``tree/_partitioner.pxd`` FEATURE_THRESHOLD (float32)
FEATURE_THRESHOLD = np.float32(1e-7)
#: scikit-learn ``tree/_tree.pyx`` EPSILON
EPSILON = float(np.finfo(np.float64).eps)
#: relative tolerance under which two features' best gains count as tied
TIE_RTOL = 1e-9


@dataclass
class GBTFit:
    """One factor's fitted boosted trees.

    Attributes
    ----------
    classes : array [K]
        The factor's class labels (sorted, as ``np.unique``).
    importances : float array [F]
        ``feature_importances_`` (sums to 1 unless no tree has a split).
    train_pred, test_pred : arrays [N], [M] (test_pred None without test codes)
        ``predict`` on the train / test codes (class labels).
    n_relevant_trees : int
        Trees with at least one split (the ones ``feature_importances_`` averages).
    trees : dict, optional
        With ``keep_trees``: ``feature`` int [S, T, 3, 4] (-1 = no split), ``threshold`` [S, T, 3, 4],
        ``value`` [S, T, 8] (leaf values, learning rate not applied), ``init`` [T] and
        ``importance`` [S, T, F] (per-tree unnormalised importances).
    """

    classes: np.ndarray
    importances: np.ndarray
    train_pred: np.ndarray
    test_pred: np.ndarray | None
    n_relevant_trees: int
    train_raw: np.ndarray | None = None
    test_raw: np.ndarray | None = None
    trees: dict = field(default_factory=dict)

    def train_accuracy(self, y) -> float:
        return float(np.mean(self.train_pred == np.asarray(y)))

    def test_accuracy(self, y) -> float:
        if self.test_pred is None:
            raise MetricError("GBTFit has no test predictions (fit without test codes)")
        return float(np.mean(self.test_pred == np.asarray(y)))


def _chunk_elems(device: torch.device) -> int:
    return 1 << 18 if device.type == "cpu" else 1 << 26


class _PresortedNumba:
    """Float32 codes ``[n, F]``, each feature's stable sort order ``[F, n]`` (int32) and sorted values."""

    def __init__(self, x32: np.ndarray):
        n, f = x32.shape
        self.n, self.f = n, f
        self.device = torch.device("cpu")
        self.x32 = np.ascontiguousarray(x32)
        order = np.argsort(x32, axis=0, kind="stable").T
        self.order = np.ascontiguousarray(order, dtype=np.int32)
        self.xs = np.ascontiguousarray(np.take_along_axis(x32.T, order, axis=1))


class _Presorted:
    """Float32 codes, each feature's stable sort order and its tie groups (computed once)."""

    def __init__(self, x32: np.ndarray, device: torch.device):
        n, f = x32.shape
        self.n, self.f = n, f
        self.device = device
        order = np.argsort(x32, axis=0, kind="stable").T  # [F, n] sample at each rank
        xs = np.take_along_axis(x32.T, order, axis=1)  # sorted values, float32
        gap = xs[:, 1:] > xs[:, :-1] + FEATURE_THRESHOLD  # float32 arithmetic, as scikit-learn
        self.has_tie = ~gap.all(axis=1)
        gid = np.zeros((f, n), dtype=np.int64)
        np.cumsum(gap, axis=1, out=gid[:, 1:])
        gid_sample = np.empty_like(gid)
        np.put_along_axis(gid_sample, order, gid, axis=1)
        c = np.arange(1, n, dtype=np.float64)
        w0 = np.zeros((f, n))
        w0[:, :-1] = gap / (c * (n - c))
        self.order = torch.as_tensor(np.ascontiguousarray(order), device=device)
        self.gid_sample = torch.as_tensor(gid_sample, device=device)
        self.w0 = torch.as_tensor(w0, device=device)
        self.x = torch.as_tensor(np.ascontiguousarray(x32), device=device)  # [n, F] float32
        self.xt = self.x.T.contiguous()  # [F, n]
        self._buffers: dict[tuple[int, int], torch.Tensor] = {}

    def tiled_order(self, gsz: int) -> torch.Tensor:
        """The presorted order for ``gsz`` trees as flat ids ``b * n + sample``, ``[F, gsz, n]``
        (``index_select`` on a flat array is the fastest CPU gather)."""
        key = (-1, gsz)
        if key not in self._buffers:
            off = torch.arange(gsz, device=self.device).view(1, gsz, 1) * self.n
            self._buffers[key] = self.order.unsqueeze(1) + off  # flat ids b * n + sample
        return self._buffers[key]

    def tiled_gid(self, gsz: int) -> torch.Tensor:
        """Tie-group ids by flat id ``[F, gsz * n]`` (int32)."""
        key = (-2, gsz)
        if key not in self._buffers:
            self._buffers[key] = self.gid_sample.int().repeat(1, gsz)
        return self._buffers[key]

    def work(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A reused scratch tensor (a fresh large tensor per call costs mmap + page faults on CPU)."""
        numel = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = torch.empty(numel, dtype=dtype, device=self.device)
            self._buffers[name] = buf
        return buf[:numel].view(shape)

    def buffer(self, slot: int, gsz: int) -> torch.Tensor:
        """A reused int64 ``[F, gsz, n]`` buffer (fresh large allocations cost page faults)."""
        key = (slot, gsz)
        if key not in self._buffers:
            self._buffers[key] = torch.empty((self.f, gsz, self.n), dtype=torch.int64, device=self.device)
        return self._buffers[key]


def _node_of_pos(start: torch.Tensor, n: int) -> torch.Tensor:
    """Node index of every position ``[G, n]`` given segment starts ``[G, m]`` (empty nodes skipped)."""
    j = torch.arange(n, device=start.device)
    return (j[None, None, :] >= start[:, :, None]).sum(1) - 1


def _grow_level(
    ps: _Presorted,
    g: torch.Tensor,
    ordd: torch.Tensor | None,
    nid: torch.Tensor,
    size: torch.Tensor,
    active: torch.Tensor,
    start: torch.Tensor,
):
    """Best split of every active node of one tree level for a group of trees.

    ``ordd`` ``[F, G, n]``: each feature's order, stably partitioned by node (None at the root, where
    every tree uses the presorted order). Returns ``(best_gain [G, m], feature [G, m], n_tied [G, m],
    tied [G, F, m], pos [G, m], idx [G, m, n])``: ``pos`` is the position of the last left sample in
    the chosen feature's row ``idx``.
    """
    dev = g.device
    gsz, n = g.shape
    m = size.shape[1]
    f_all = ps.f
    sums = torch.zeros(gsz, m, dtype=torch.float64, device=dev).scatter_add_(1, nid, g)
    mean = sums / size.clamp(min=1)
    h = g - torch.gather(mean, 1, nid)  # node-centred gradient: U = cumsum(h) within each node
    if ordd is not None:
        nodes_pos = _node_of_pos(start, n)  # [G, n]
        jpos = torch.arange(n, device=dev)[None, :]
        c = (jpos - torch.gather(start, 1, nodes_pos) + 1).double()
        sz = torch.gather(size, 1, nodes_pos).double()
        act = torch.gather(active, 1, nodes_pos)
        # 1 / (c (n_t - c)) at every split position, 0 at segment ends and in inactive nodes
        w = (c * (sz - c)).clamp_(min=1.0).reciprocal_().masked_fill_(~(act & (c < sz)), 0.0)
        w_nodes = [w.masked_fill(nodes_pos != k, 0.0) for k in range(m)]  # (torch.where is slow on CPU)
        # non-empty node segments as flat positions b * n + start (they tile every row): one
        # np.maximum.reduceat per chunk gives every (feature, tree, node) maximum on CPU
        flat_start = (start + torch.arange(gsz, device=dev)[:, None] * n).reshape(-1)
        nonempty = (size > 0).reshape(-1)
        seg_idx = flat_start[nonempty].cpu().numpy()
        seg_slot = torch.nonzero(nonempty).reshape(-1)
    best_f = torch.zeros(f_all, gsz, m, dtype=torch.float64, device=dev)
    fc = max(1, _chunk_elems(dev) // max(1, gsz * n))
    hf = h.reshape(-1)
    for f0 in range(0, f_all, fc):
        f1 = min(f_all, f0 + fc)
        nf = f1 - f0
        idx = (ps.tiled_order(gsz) if ordd is None else ordd)[f0:f1]
        u = ps.work("u", (nf, gsz, n), torch.float64)
        torch.index_select(hf, 0, idx.reshape(-1), out=u.view(-1))
        torch.cumsum(u, 2, out=u)
        u.mul_(u)
        if ordd is None:
            u.mul_(ps.w0[f0:f1].unsqueeze(1))
            best_f[f0:f1, :, 0] = u.amax(2)
            continue
        tie = ps.has_tie[f0:f1]
        if bool(tie.any()):
            gp = ps.work("gp", (nf, gsz, n), torch.int32)
            torch.gather(ps.tiled_gid(gsz)[f0:f1], 1, idx.reshape(nf, gsz * n), out=gp.view(nf, gsz * n))
            same = ps.work("same", (nf, gsz, n - 1), torch.bool)
            torch.eq(gp[:, :, 1:], gp[:, :, :-1], out=same)
            u[:, :, :-1].masked_fill_(same, 0.0)
        if dev.type == "cpu":
            u.mul_(w.unsqueeze(0))
            red = np.maximum.reduceat(u.view(nf, gsz * n).numpy(), seg_idx, axis=1)
            best_f[f0:f1].view(nf, gsz * m)[:, seg_slot] = torch.from_numpy(red)
        else:
            tmp = ps.work("tmp", (nf, gsz, n), torch.float64)
            for k in range(m):
                torch.mul(u, w_nodes[k].unsqueeze(0), out=tmp)
                best_f[f0:f1, :, k] = tmp.amax(2)
    best_f = best_f.permute(1, 0, 2)  # [G, F, m]
    best = best_f.amax(1)  # [G, m]
    tied = (best_f >= best.unsqueeze(1) * (1 - TIE_RTOL)) & (best.unsqueeze(1) > 0)
    feat = tied.to(torch.uint8).argmax(1)  # lowest index among the tied
    ntied = tied.sum(1)
    # position of the best split in the chosen feature's row
    src = ps.tiled_order(gsz) if ordd is None else ordd
    rows = (feat * gsz + torch.arange(gsz, device=dev)[:, None]).reshape(-1)
    idx = ps.work("rows_idx", (gsz, m, n), torch.int64)
    torch.index_select(src.reshape(f_all * gsz, n), 0, rows, out=idx.view(gsz * m, n))
    u = ps.work("rows_u", (gsz, m, n), torch.float64)
    torch.index_select(hf, 0, idx.view(-1), out=u.view(-1))
    torch.cumsum(u, 2, out=u)
    idx.sub_(torch.arange(gsz, device=dev).view(gsz, 1, 1) * n)  # sample ids
    u.mul_(u)
    if ordd is None:
        u.mul_(ps.w0[feat])
    else:
        if bool(ps.has_tie[feat].any()):
            gp = torch.gather(ps.gid_sample[feat], 2, idx)
            u[:, :, :-1].masked_fill_(gp[:, :, 1:] == gp[:, :, :-1], 0.0)
        for k in range(m):
            u[:, k].mul_(w_nodes[k])
    pos = u.argmax(2)  # first maximum
    return best, feat, ntied, tied, pos, idx


def _partition(ordd: torch.Tensor, isleft: torch.Tensor, start: torch.Tensor, nleft: torch.Tensor,
               out: torch.Tensor, work) -> torch.Tensor:
    """Stable partition of every node segment of every row of ``ordd [F, G, n]`` into left, then right.

    With q = +1 (left) / -1 (right) and the left count ``cl`` of a row up to position j,
    ``2 cl = cumsum(q) + j + 1``; a left sample goes to ``cl + a`` and a right one to ``b - cl``
    (``a``, ``b`` per node segment), i.e. ``2 dest = q (2 cl + a - b) + a + b`` — no branch.
    """
    f_all, gsz, n = ordd.shape
    dev = ordd.device
    nodes_pos = _node_of_pos(start, n)
    clb = torch.cumsum(nleft, 1) - nleft  # left samples in earlier nodes
    a = torch.gather(start - clb - 1, 1, nodes_pos)  # [G, n]
    b = torch.arange(n, device=dev)[None, :] + torch.gather(nleft + clb, 1, nodes_pos)
    p1 = (torch.arange(1, n + 1, device=dev)[None, :] + a - b).unsqueeze(0).int()
    p2 = (a + b).unsqueeze(0).int()
    q = (2 * isleft.int() - 1).reshape(-1)
    fc = max(1, _chunk_elems(dev) // max(1, gsz * n))
    for f0 in range(0, f_all, fc):
        f1 = min(f_all, f0 + fc)
        src = ordd[f0:f1]
        nf = f1 - f0
        qs = work("qs", (nf, gsz, n), torch.int32)
        torch.index_select(q, 0, src.reshape(-1), out=qs.view(-1))
        t = work("t", (nf, gsz, n), torch.int32)
        torch.cumsum(qs, 2, out=t)
        t.add_(p1).mul_(qs).add_(p2).bitwise_right_shift_(1)
        dest = work("dest", (nf, gsz, n), torch.int64)
        dest.copy_(t)
        out[f0:f1].scatter_(2, dest, src)
    return out


def _grow_trees(ps: _Presorted, g: torch.Tensor, max_depth: int):
    """Grow one depth-``max_depth`` regression tree per row of ``g`` (negative gradients ``[G, n]``).

    Returns ``(leaf [G, n] int64 leaf slot, feature [G, D, 2^(D-1)], threshold [G, D, 2^(D-1)],
    importance [G, F] unnormalised, has_split [G] bool)``.
    """
    dev = g.device
    gsz, n = g.shape
    wmax = 1 << (max_depth - 1)
    feature = torch.full((gsz, max_depth, wmax), -1, dtype=torch.int64, device=dev)
    threshold = torch.zeros((gsz, max_depth, wmax), dtype=torch.float64, device=dev)
    importance = torch.zeros((gsz, ps.f), dtype=torch.float64, device=dev)
    nid = torch.zeros((gsz, n), dtype=torch.int64, device=dev)
    size = torch.full((gsz, 1), n, dtype=torch.int64, device=dev)
    start = torch.zeros((gsz, 1), dtype=torch.int64, device=dev)
    var = g.pow(2).mean(1) - g.mean(1).pow(2)  # scikit-learn's node_impurity
    active = (var > EPSILON).unsqueeze(1) & (size >= 2)
    ordd = None
    for depth in range(max_depth):
        m = 1 << depth
        if not bool(active.any()):
            nid = nid << (max_depth - depth)
            break
        best, feat, ntied, tied, pos, idx = _grow_level(ps, g, ordd, nid, size, active, start)
        split = active & (best > 0)
        # threshold between the last left and the first right value of the chosen feature
        lo = torch.gather(idx, 2, pos.unsqueeze(2)).squeeze(2)
        hi = torch.gather(idx, 2, (pos + 1).clamp(max=n - 1).unsqueeze(2)).squeeze(2)
        xlo = ps.xt[feat.reshape(-1), lo.reshape(-1)].reshape(gsz, m).double()
        xhi = ps.xt[feat.reshape(-1), hi.reshape(-1)].reshape(gsz, m).double()
        thr = xlo / 2.0 + xhi / 2.0
        feature[:, depth, :m] = torch.where(split, feat, torch.full_like(feat, -1))
        threshold[:, depth, :m] = torch.where(split, thr, torch.zeros_like(thr))
        # importance: n_t * gain / n, shared among tied features
        credit = torch.where(split, size.double() * best / n / ntied.clamp(min=1).double(),
                             torch.zeros_like(best))
        importance += (tied & split.unsqueeze(1)).double().mul(credit.unsqueeze(1)).sum(2)
        # children
        fs = torch.gather(feat, 1, nid)  # chosen feature of each sample's node
        sp = torch.gather(split, 1, nid)
        xv = ps.x[torch.arange(n, device=dev).unsqueeze(0).expand(gsz, n), fs].double()
        right = sp & (xv > torch.gather(thr, 1, nid))
        isleft = ~right
        new_nid = 2 * nid + right.long()
        m2 = 2 * m
        size2 = torch.zeros((gsz, m2), dtype=torch.int64, device=dev).scatter_add_(1, new_nid, torch.ones_like(nid))
        s1 = torch.zeros((gsz, m2), dtype=torch.float64, device=dev).scatter_add_(1, new_nid, g)
        s2 = torch.zeros((gsz, m2), dtype=torch.float64, device=dev).scatter_add_(1, new_nid, g * g)
        cnt = size2.double().clamp(min=1)
        var2 = s2 / cnt - (s1 / cnt) ** 2
        nleft = size2[:, 0::2]
        start2 = torch.stack([start, start + nleft], 2).reshape(gsz, m2)
        if depth + 1 < max_depth:
            active2 = (size2 >= 2) & (var2 > EPSILON)
            if bool(active2.any()):
                buf = ps.buffer(depth % 2, gsz)
                ordd = _partition(ps.tiled_order(gsz) if ordd is None else ordd, isleft, start, nleft, buf,
                                  ps.work)
            active = active2
        nid, size, start = new_nid, size2, start2
    return nid, feature, threshold, importance, feature[:, 0, 0] >= 0


# ----------------------------------------------------------------------------------------------------
# CPU split search: numba kernel (one fused linear scan per tree, level and feature)
# ----------------------------------------------------------------------------------------------------

try:  # pragma: no branch
    import numba as _numba
except ImportError:  # pragma: no cover - numba is a dependency; without it the torch path runs
    _numba = None


def _grow_stage_impl(x, order, xs, g, max_depth, thr32, tie_rtol, eps):  # pragma: no cover - compiled
    """Grow one depth-``max_depth`` regression tree per row of ``g [G, n]`` (numba-compiled).

    ``x [n, F]`` float32 codes, ``order [F, n]`` int32 each feature's stable sort order, ``xs [F, n]``
    float32 the sorted values. The trees grow in lockstep, level by level: per level, every feature's
    presorted order is scanned once for all trees together (the sample's node and node-centred
    gradient in every tree sit side by side in ``scan [n, G]`` / ``h [n, G]``, so a sample costs one
    cache line, not one per tree); each active node of each tree keeps its running left count and left
    sum, and the split between a node's previous sample ``p`` and the arriving sample ``i`` is
    evaluated (before ``i`` is added) when ``x_i > x_p + FEATURE_THRESHOLD`` (float32, as
    scikit-learn). Every tree sees exactly the arithmetic of a scan of its own. Strict ``>`` keeps the
    first best position of a feature; the node follows the lowest feature index among features
    within a relative ``tie_rtol`` of the best and shares the importance among them.
    Returns ``(leaf [G, n], feature [G, D, W], threshold [G, D, W], importance [G, F], has_split [G])``.
    """
    gsz, n = g.shape
    nf = x.shape[1]
    wmax = 1 << (max_depth - 1)
    leaf = np.zeros((gsz, n), dtype=np.int64)
    feature = np.full((gsz, max_depth, wmax), -1, dtype=np.int64)
    threshold = np.zeros((gsz, max_depth, wmax), dtype=np.float64)
    importance = np.zeros((gsz, nf), dtype=np.float64)
    has_split = np.zeros(gsz, dtype=np.bool_)
    nid = np.zeros((gsz, n), dtype=np.int64)  # node of every sample at the current level (slot)
    scan = np.full((n, gsz), -1, dtype=np.int16)  # nid, or -1 where the node is not split further
    h = np.zeros((n, gsz), dtype=np.float64)  # node-centred gradient
    size = np.zeros((gsz, wmax), dtype=np.int64)
    active = np.zeros((gsz, wmax), dtype=np.bool_)
    sums = np.zeros(wmax, dtype=np.float64)
    cnt = np.zeros((gsz, wmax), dtype=np.int64)
    run = np.zeros((gsz, wmax), dtype=np.float64)
    lastx = np.zeros((gsz, wmax), dtype=np.float32)
    bstk = np.zeros((gsz, wmax), dtype=np.float64)
    lok = np.zeros((gsz, wmax), dtype=np.float32)
    hik = np.zeros((gsz, wmax), dtype=np.float32)
    bestf = np.zeros((gsz, wmax, nf), dtype=np.float64)
    blo = np.zeros((gsz, wmax, nf), dtype=np.float32)
    bhi = np.zeros((gsz, wmax, nf), dtype=np.float32)
    featk = np.zeros((gsz, wmax), dtype=np.int64)
    thrk = np.zeros((gsz, wmax), dtype=np.float64)
    splitk = np.zeros((gsz, wmax), dtype=np.bool_)
    level_imp = np.zeros(nf, dtype=np.float64)
    size2 = np.zeros(2 * wmax, dtype=np.int64)
    s1 = np.zeros(2 * wmax, dtype=np.float64)
    s2 = np.zeros(2 * wmax, dtype=np.float64)
    tree_active = np.zeros(gsz, dtype=np.bool_)
    for b in range(gsz):  # root impurity (scikit-learn's node_impurity: mean(r^2) - mean(r)^2)
        t1 = 0.0
        t2 = 0.0
        for i in range(n):
            t1 += g[b, i]
            t2 += g[b, i] * g[b, i]
        size[b, 0] = n
        active[b, 0] = (t2 / n - (t1 / n) ** 2 > eps) and n >= 2
    for depth in range(max_depth):
        m = 1 << depth
        any_tree = False
        for b in range(gsz):
            splitk[b, :m] = False
            tree_active[b] = False
            for k in range(m):
                if active[b, k]:
                    tree_active[b] = True
            if not tree_active[b]:
                for i in range(n):
                    scan[i, b] = -1
                continue
            any_tree = True
            sums[:m] = 0.0
            for i in range(n):
                sums[nid[b, i]] += g[b, i]
            for i in range(n):
                k = nid[b, i]
                h[i, b] = g[b, i] - sums[k] / max(size[b, k], 1)
                scan[i, b] = k if active[b, k] else -1
        if any_tree:
            for f in range(nf):
                of = order[f]
                xf = xs[f]
                if depth == 0:  # one node per tree: no node lookups
                    i0 = of[0]
                    for b in range(gsz):
                        run[b, 0] = 0.0 + h[i0, b]
                        bstk[b, 0] = 0.0
                        lok[b, 0] = 0.0
                        hik[b, 0] = 0.0
                    last = xf[0]
                    for j in range(1, n):
                        xi = xf[j]
                        if xi > last + thr32:
                            den = j * (n - j)
                            for b in range(gsz):
                                u = run[b, 0]
                                uu = u * u
                                if uu * (1.0 + 1e-12) > bstk[b, 0] * den:  # cheap test first
                                    gain = uu * (1.0 / den)
                                    if gain > bstk[b, 0]:
                                        bstk[b, 0] = gain
                                        lok[b, 0] = last
                                        hik[b, 0] = xi
                        i = of[j]
                        for b in range(gsz):
                            run[b, 0] += h[i, b]
                        last = xi
                else:
                    cnt[:, :m] = 0
                    run[:, :m] = 0.0
                    bstk[:, :m] = 0.0
                    for j in range(n):
                        i = of[j]
                        xi = xf[j]
                        for b in range(gsz):
                            k = scan[i, b]
                            if k < 0:
                                continue
                            c = cnt[b, k]
                            if c > 0 and xi > lastx[b, k] + thr32:
                                u = run[b, k]
                                uu = u * u
                                den = c * (size[b, k] - c)
                                if uu * (1.0 + 1e-12) > bstk[b, k] * den:  # cheap test first
                                    gain = uu * (1.0 / den)
                                    if gain > bstk[b, k]:
                                        bstk[b, k] = gain
                                        lok[b, k] = lastx[b, k]
                                        hik[b, k] = xi
                            run[b, k] += h[i, b]
                            cnt[b, k] = c + 1
                            lastx[b, k] = xi
                for b in range(gsz):
                    for k in range(m):
                        bestf[b, k, f] = bstk[b, k]
                        blo[b, k, f] = lok[b, k]
                        bhi[b, k, f] = hik[b, k]
        for b in range(gsz):
            if tree_active[b]:
                level_imp[:] = 0.0
                for k in range(m):
                    if not active[b, k]:
                        continue
                    best = 0.0
                    for f in range(nf):
                        if bestf[b, k, f] > best:
                            best = bestf[b, k, f]
                    if best <= 0.0:
                        continue
                    lim = best * (1 - tie_rtol)
                    ft = -1
                    ntied = 0
                    for f in range(nf):
                        if bestf[b, k, f] >= lim:
                            ntied += 1
                            if ft < 0:
                                ft = f
                    credit = size[b, k] * best / n / ntied
                    for f in range(nf):
                        if bestf[b, k, f] >= lim:
                            level_imp[f] += credit
                    lo = np.float64(blo[b, k, ft])
                    hi = np.float64(bhi[b, k, ft])
                    t = lo / 2.0 + hi / 2.0
                    if t == hi or t == np.inf or t == -np.inf:
                        t = lo
                    splitk[b, k] = True
                    featk[b, k] = ft
                    thrk[b, k] = t
                    feature[b, depth, k] = ft
                    threshold[b, depth, k] = t
                for f in range(nf):
                    importance[b, f] += level_imp[f]
            # children (a node that is not split sends all its samples left)
            m2 = 2 * m
            size2[:m2] = 0
            s1[:m2] = 0.0
            s2[:m2] = 0.0
            for i in range(n):
                k = nid[b, i]
                k2 = 2 * k
                if splitk[b, k] and np.float64(x[i, featk[b, k]]) > thrk[b, k]:
                    k2 += 1
                nid[b, i] = k2
                if depth + 1 < max_depth:
                    size2[k2] += 1
                    s1[k2] += g[b, i]
                    s2[k2] += g[b, i] * g[b, i]
            if depth + 1 < max_depth:
                for k2 in range(m2):
                    c2 = max(size2[k2], 1)
                    var2 = s2[k2] / c2 - (s1[k2] / c2) ** 2
                    size[b, k2] = size2[k2]
                    active[b, k2] = size2[k2] >= 2 and var2 > eps
    for b in range(gsz):
        leaf[b] = nid[b]
        has_split[b] = feature[b, 0, 0] >= 0
    return leaf, feature, threshold, importance, has_split


def _apply_impl(x, feature, threshold):  # pragma: no cover - compiled
    """Leaf slot ``[G, M]`` of every row of float32 ``x [M, F]`` in every tree (numba :func:`_apply`)."""
    gsz, depth, _ = feature.shape
    mrows = x.shape[0]
    out = np.zeros((gsz, mrows), dtype=np.int64)
    for b in range(gsz):
        for r in range(mrows):
            k = 0
            for d in range(depth):
                fe = feature[b, d, k]
                go = (fe >= 0) & (np.float64(x[r, max(fe, 0)]) > threshold[b, d, k])
                k = 2 * k + np.int64(go)
            out[b, r] = k
    return out


def _leaf_values_impl(leaf, g, hess, scale, n_leaves):  # pragma: no cover - compiled
    """Newton leaf values ``[G, n_leaves]``: ``scale * mean(g) / mean(hess)`` per leaf (0 below 1e-150)."""
    gsz, n = g.shape
    out = np.zeros((gsz, n_leaves), dtype=np.float64)
    cnt = np.zeros(n_leaves, dtype=np.float64)
    sg = np.zeros(n_leaves, dtype=np.float64)
    sh = np.zeros(n_leaves, dtype=np.float64)
    for b in range(gsz):
        cnt[:] = 0.0
        sg[:] = 0.0
        sh[:] = 0.0
        for i in range(n):
            k = leaf[b, i]
            cnt[k] += 1.0
            sg[k] += g[b, i]
            sh[k] += hess[b, i]
        for k in range(n_leaves):
            c = max(cnt[k], 1.0)
            num = sg[k] / c
            den = sh[k] / c
            out[b, k] = 0.0 if abs(den) < 1e-150 else num * scale[b] / den
    return out


def _boost_impl(x, order, xs, xt, onehot, first, width, scale, raw, raw_test, imp_sum, n_rel,
                kf, kt, kv, ki, keep, s0, s1, lr, max_depth, thr32, tie_rtol, eps):  # pragma: no cover
    """Boosting stages ``s0 .. s1 - 1`` of every tree at once, in place (numba-compiled driver).

    ``onehot [T, n]`` the per-tree targets (binomial: y; K classes: 1[y = k]), ``first [T]`` / ``width [T]``
    the first tree and the number of trees of each tree's factor (1 = binomial), ``scale [T]`` the
    leaf-value factor ((K - 1) / K, or 1); ``raw [T, n]`` / ``raw_test [T, m]`` the raw predictions,
    ``imp_sum [T, F]`` / ``n_rel [T]`` the importance sums over relevant trees (all updated in
    place). With ``keep``, stage ``s`` is written to ``kf / kt / kv / ki [s]`` (features, thresholds,
    leaf values, per-tree importances, NaN for a tree without a split). Per stage: gradients and
    hessians from the raw predictions before the stage (sigmoid, or the max-shifted softmax over the
    factor's trees), :func:`_grow_stage_impl`, :func:`_leaf_values_impl`, raw += lr * leaf value.
    """
    n_trees, n = onehot.shape
    m = xt.shape[0]
    nl = 1 << max_depth
    g = np.empty((n_trees, n), dtype=np.float64)
    hs = np.empty((n_trees, n), dtype=np.float64)
    for s in range(s0, s1):
        for b in range(n_trees):
            if width[b] == 1:
                for i in range(n):
                    p = 1.0 / (1.0 + np.exp(-raw[b, i]))
                    g[b, i] = onehot[b, i] - p
                    hs[b, i] = p * (1.0 - p)
            elif first[b] == b:
                w = width[b]
                for i in range(n):
                    mx = raw[b, i]
                    for k in range(1, w):
                        if raw[b + k, i] > mx:
                            mx = raw[b + k, i]
                    tot = 0.0
                    for k in range(w):
                        e = np.exp(raw[b + k, i] - mx)
                        g[b + k, i] = e
                        tot += e
                    for k in range(w):
                        p = g[b + k, i] / tot
                        g[b + k, i] = onehot[b + k, i] - p
                        hs[b + k, i] = p * (1.0 - p)
        leaf, feature, threshold, importance, has_split = _grow_stage_nb(x, order, xs, g, max_depth, thr32,
                                                                         tie_rtol, eps)
        values = _leaf_values_nb(leaf, g, hs, scale, nl)
        for b in range(n_trees):
            for i in range(n):
                raw[b, i] += values[b, leaf[b, i]] * lr
        if m > 0:
            leaf_t = _apply_nb(xt, feature, threshold)
            for b in range(n_trees):
                for i in range(m):
                    raw_test[b, i] += values[b, leaf_t[b, i]] * lr
        for b in range(n_trees):
            if has_split[b]:
                n_rel[b] += 1
                for f in range(imp_sum.shape[1]):
                    imp_sum[b, f] += importance[b, f]
        if keep:
            kf[s] = feature
            kt[s] = threshold
            kv[s] = values
            for b in range(n_trees):
                for f in range(imp_sum.shape[1]):
                    ki[s, b, f] = importance[b, f] if has_split[b] else np.nan


if _numba is not None:
    _grow_stage_nb = _numba.njit(cache=True, nogil=True, error_model="numpy")(_grow_stage_impl)
    _apply_nb = _numba.njit(cache=True, nogil=True, error_model="numpy")(_apply_impl)
    _leaf_values_nb = _numba.njit(cache=True, nogil=True, error_model="numpy")(_leaf_values_impl)
    _boost_nb = _numba.njit(cache=True, nogil=True, error_model="numpy")(_boost_impl)
else:  # pragma: no cover
    _grow_stage_nb = _apply_nb = _leaf_values_nb = _boost_nb = None


def _apply(x: torch.Tensor, feature: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Leaf slot ``[G, M]`` of every sample of float32 ``x [M, F]`` in every tree."""
    gsz, depth, _ = feature.shape
    mrows = x.shape[0]
    nid = torch.zeros((gsz, mrows), dtype=torch.int64, device=x.device)
    rows = torch.arange(mrows, device=x.device).unsqueeze(0).expand(gsz, mrows)
    for d in range(depth):
        f = torch.gather(feature[:, d], 1, nid)
        t = torch.gather(threshold[:, d], 1, nid)
        xv = x[rows, f.clamp(min=0)].double()
        nid = 2 * nid + ((f >= 0) & (xv > t)).long()
    return nid


def _encode(y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    classes, enc = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise MetricError(f"{what} has a single class ({classes[0] if classes.size else 'none'}); "
                          "a classifier needs at least 2")
    return classes, enc.reshape(-1)


def fit_gbts(
    codes,
    factors,
    test_codes=None,
    *,
    n_estimators: int = 100,
    learning_rate: float = 0.1,
    max_depth: int = 3,
    device: str | torch.device | None = None,
    keep_trees: bool = False,
    keep_raw: bool = False,
    progress: Callable[[int, int], None] | None = None,
    backend: str | None = None,
    n_jobs: int = 1,
) -> list[GBTFit]:
    r"""Fit ``GradientBoostingClassifier()`` (scikit-learn defaults) for every factor column at once.

    Parameters
    ----------
    codes : float [N, F]
        Train codes (cast to float32 like scikit-learn).
    factors : int [N, K]
        One classifier per column; each needs at least 2 classes.
    test_codes : float [M, F], optional
        Codes to predict (``test_pred``).
    n_estimators, learning_rate, max_depth : scikit-learn's defaults 100, 0.1, 3
    device : torch device (default CPU); CUDA gives the same trees.
    keep_trees, keep_raw : keep every tree / the raw predictions (tests).
    progress : callable ``(stage, n_estimators)``
    backend : ``"numba"`` (CPU default: the compiled split-search kernel) or ``"torch"`` (the
        vectorised whole-array path; always used on CUDA, and on CPU when numba is not importable).
    n_jobs : int
        numba backend: threads boosting independent factor columns side by side (default 1:
        single-threaded, like scikit-learn; the same model for every value). Ignored by the torch
        backend.

    Returns
    -------
    list of :class:`GBTFit`, one per factor column.

    References
    ----------
    Friedman. Greedy Function Approximation: A Gradient Boosting Machine. Ann. Statist. 2001.
    scikit-learn ``GradientBoostingClassifier`` (``sklearn/ensemble/_gb.py``, version 1.9).
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    c = np.asarray(codes, dtype=np.float64)
    f = np.asarray(factors)
    if f.ndim == 1:
        f = f[:, None]
    n = c.shape[0]
    x32 = c.astype(np.float32)
    if backend is None:
        backend = "numba" if (dev.type == "cpu" and _grow_stage_nb is not None) else "torch"
    if backend not in ("numba", "torch"):
        raise MetricError(f"fit_gbts: unknown backend {backend!r}; expected 'numba' or 'torch'")
    if backend == "numba":
        if dev.type != "cpu":
            raise MetricError("fit_gbts: the numba backend runs on CPU only")
        if _grow_stage_nb is None:
            raise MetricError("fit_gbts: backend='numba' needs numba (pip install numba)")
        ps = _PresortedNumba(x32)
    else:
        ps = _Presorted(x32, dev)
    xt32 = None
    if test_codes is not None:
        xt32 = torch.as_tensor(np.asarray(test_codes, dtype=np.float64).astype(np.float32), device=dev)
    if n_jobs < 1:
        raise MetricError(f"fit_gbts: n_jobs must be >= 1, got {n_jobs}")
    if not 1 <= max_depth <= 15:
        raise MetricError(f"fit_gbts: max_depth must be in [1, 15], got {max_depth}")
    if backend == "numba":  # the compiled driver sets the denormal flush in its own thread(s)
        return _fit(ps, f, xt32, n, n_estimators, learning_rate, max_depth, keep_trees, keep_raw, progress, n_jobs)
    prev_threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(1)
        # Late stages have tiny gradients: denormal products run ~10x slower on x86. A gain below
        # 1e-308 never decides a split (such a node's impurity is far below EPSILON), so flush them.
        torch.set_flush_denormal(True)
    try:
        return _fit(ps, f, xt32, n, n_estimators, learning_rate, max_depth, keep_trees, keep_raw, progress, 1)
    finally:
        if dev.type == "cpu":
            torch.set_num_threads(prev_threads)
            torch.set_flush_denormal(False)


def _fit(ps, f, xt32, n, n_estimators, lr, max_depth, keep_trees, keep_raw, progress, n_jobs) -> list[GBTFit]:
    dev = ps.device
    eps = np.finfo(np.float64).eps
    specs = []  # per factor: classes, encoded y, n_trees
    for k in range(f.shape[1]):
        classes, y = _encode(f[:, k], f"factor column {k}")
        specs.append((classes, y, 1 if classes.size == 2 else classes.size))
    tree_factor = np.concatenate([[k] * t for k, (_, _, t) in enumerate(specs)])
    n_trees = tree_factor.size
    raw, raw_test, ys, inits = [], [], [], []
    for classes, y, t in specs:
        prior = np.clip(np.bincount(y, minlength=classes.size) / n, eps, 1 - eps)
        if t == 1:
            init = np.log(prior[1:2] / (1 - prior[1:2]))
            onehot = y[None, :].astype(np.float64)
        else:
            lp = np.log(prior)
            init = lp - lp.mean()
            onehot = (y[None, :] == np.arange(t)[:, None]).astype(np.float64)
        inits.append(init)
        raw.append(torch.as_tensor(np.repeat(init[:, None], n, axis=1), device=dev))  # [t, n]
        if xt32 is not None:
            raw_test.append(torch.as_tensor(np.repeat(init[:, None], xt32.shape[0], axis=1), device=dev))
        ys.append(torch.as_tensor(onehot, device=dev))
    if isinstance(ps, _PresortedNumba):
        state = _boost_numba(ps, specs, raw, raw_test, ys, xt32, n_estimators, lr, max_depth, keep_trees, progress,
                             n_jobs)
        return _assemble(specs, inits, *state, keep_trees, keep_raw)
    imp_sum = torch.zeros((n_trees, ps.f), dtype=torch.float64, device=dev)
    n_rel = torch.zeros(n_trees, dtype=torch.int64, device=dev)
    kept = {"feature": [], "threshold": [], "value": [], "importance": []}
    group = max(1, min(n_trees, (1 << 23) // max(1, ps.f * n)))
    for stage in range(n_estimators):
        # negative gradients and hessians of every tree of the stage
        grads, hess = [], []
        for (_, _, t), r, y in zip(specs, raw, ys, strict=True):
            if t == 1:
                p = torch.sigmoid(r)
            else:
                p = torch.softmax(r, 0)
            grads.append(y - p)
            hess.append(p * (1 - p))
        g_all = torch.cat(grads, 0)
        h_all = torch.cat(hess, 0)
        values = torch.zeros((n_trees, 1 << max_depth), dtype=torch.float64, device=dev)
        feats, thrs, imps = [], [], []
        leaf_all = []
        for b0 in range(0, n_trees, group):
            b1 = min(n_trees, b0 + group)
            g = g_all[b0:b1]
            leaf, feature, threshold, importance, has_split = _grow_trees(ps, g, max_depth)
            nl = 1 << max_depth
            k_cls = torch.as_tensor([specs[tree_factor[b]][2] for b in range(b0, b1)], device=dev,
                                    dtype=torch.float64)
            scale = torch.where(k_cls > 1, (k_cls - 1) / k_cls, torch.ones_like(k_cls))
            cnt = torch.zeros((b1 - b0, nl), dtype=torch.float64, device=dev).scatter_add_(
                1, leaf, torch.ones_like(g))
            num = torch.zeros_like(cnt).scatter_add_(1, leaf, g) / cnt.clamp(min=1)
            den = torch.zeros_like(cnt).scatter_add_(1, leaf, h_all[b0:b1]) / cnt.clamp(min=1)
            val = torch.where(den.abs() < 1e-150, torch.zeros_like(num), num * scale[:, None] / den.where(
                den.abs() >= 1e-150, torch.ones_like(den)))
            values[b0:b1] = val
            imp_sum[b0:b1] += torch.where(has_split[:, None], importance, torch.zeros_like(importance))
            n_rel[b0:b1] += has_split.long()
            feats.append(feature)
            thrs.append(threshold)
            imps.append(torch.where(has_split[:, None], importance, torch.full_like(importance, float("nan"))))
            leaf_all.append(leaf)
        leaf = torch.cat(leaf_all, 0)
        feature = torch.cat(feats, 0)
        threshold = torch.cat(thrs, 0)
        upd = torch.gather(values, 1, leaf) * lr
        upd_test = None
        if xt32 is not None:
            leaf_test = _apply(xt32, feature, threshold)
            upd_test = torch.gather(values, 1, leaf_test) * lr
        b = 0
        for k, (_, _, t) in enumerate(specs):
            raw[k] += upd[b:b + t]
            if upd_test is not None:
                raw_test[k] += upd_test[b:b + t]
            b += t
        if keep_trees:
            kept["feature"].append(feature.cpu().numpy())
            kept["threshold"].append(threshold.cpu().numpy())
            kept["value"].append(values.cpu().numpy())
            kept["importance"].append(torch.cat(imps, 0).cpu().numpy())
        if progress is not None:
            progress(stage + 1, n_estimators)
    kept_np = {k: np.stack(v) for k, v in kept.items()} if keep_trees else None
    return _assemble(specs, inits, torch.cat(raw, 0).cpu().numpy(),
                     None if xt32 is None else torch.cat(raw_test, 0).cpu().numpy(),
                     imp_sum.cpu().numpy(), n_rel.cpu().numpy(), kept_np, keep_trees, keep_raw)


def _balance(widths: list[int], n_jobs: int) -> list[list[int]]:
    """Factor columns split into at most ``n_jobs`` groups of about equal tree count (largest first)."""
    bins: list[list[int]] = [[] for _ in range(max(1, min(n_jobs, len(widths))))]
    load = [0] * len(bins)
    for k in sorted(range(len(widths)), key=lambda k: -widths[k]):
        b = load.index(min(load))
        bins[b].append(k)
        load[b] += widths[k]
    return [sorted(b) for b in bins]


def _boost_numba(ps: _PresortedNumba, specs, raw, raw_test, ys, xt32, n_estimators, lr, max_depth, keep_trees,
                 progress, n_jobs):
    """The whole boosting on CPU in the compiled driver :func:`_boost_impl`: the factor columns in
    ``n_jobs`` groups (one thread each; factors never interact), the stages in chunks when a
    ``progress`` callback wants to hear between them. Returns the state :func:`_assemble` takes."""
    widths = [t for (_, _, t) in specs]
    xt = np.zeros((0, ps.f), dtype=np.float32) if xt32 is None else np.ascontiguousarray(xt32.numpy())
    wmax = 1 << (max_depth - 1)
    ns = n_estimators if keep_trees else 0

    def job_state(factors: list[int]) -> dict:
        w = [widths[k] for k in factors]
        starts = np.cumsum([0] + w[:-1])
        width = np.concatenate([np.full(t, t, dtype=np.int64) for t in w])
        nt = int(width.size)
        return {
            "factors": factors,
            "onehot": np.ascontiguousarray(np.concatenate([ys[k].numpy() for k in factors], 0)),
            "first": np.concatenate([np.full(t, b0, dtype=np.int64) for b0, t in zip(starts, w, strict=True)]),
            "width": width,
            "scale": np.where(width > 1, (width - 1) / width, 1.0).astype(np.float64),
            "raw": np.ascontiguousarray(np.concatenate([raw[k].numpy() for k in factors], 0)),
            "raw_t": (np.zeros((nt, 0)) if xt32 is None
                      else np.ascontiguousarray(np.concatenate([raw_test[k].numpy() for k in factors], 0))),
            "imp": np.zeros((nt, ps.f)), "rel": np.zeros(nt, dtype=np.int64),
            "kf": np.full((ns, nt, max_depth, wmax), -1, dtype=np.int64), "kt": np.zeros((ns, nt, max_depth, wmax)),
            "kv": np.zeros((ns, nt, 1 << max_depth)), "ki": np.zeros((ns, nt, ps.f)),
        }

    def run(st: dict, s0: int, s1: int) -> None:
        torch.set_flush_denormal(True)  # per thread: late stages' denormal products run ~10x slower on x86
        try:
            _boost_nb(ps.x32, ps.order, ps.xs, xt, st["onehot"], st["first"], st["width"], st["scale"], st["raw"],
                      st["raw_t"], st["imp"], st["rel"], st["kf"], st["kt"], st["kv"], st["ki"], keep_trees, s0, s1,
                      lr, max_depth, FEATURE_THRESHOLD, TIE_RTOL, EPSILON)
        finally:
            torch.set_flush_denormal(False)

    jobs = [job_state(b) for b in _balance(widths, n_jobs)]
    step = n_estimators if progress is None else max(1, min(10, n_estimators))
    pool = ThreadPoolExecutor(max_workers=len(jobs)) if len(jobs) > 1 else None
    try:
        for s0 in range(0, n_estimators, step):
            s1 = min(n_estimators, s0 + step)
            if pool is None:
                run(jobs[0], s0, s1)
            else:
                for fut in [pool.submit(run, st, s0, s1) for st in jobs]:
                    fut.result()
            if progress is not None:
                progress(s1, n_estimators)
    finally:
        if pool is not None:
            pool.shutdown()
    # back into factor order
    where = {k: (st, int(np.sum([widths[q] for q in st["factors"][:i]])))
             for st in jobs for i, k in enumerate(st["factors"])}
    parts = [(where[k][0], where[k][1], widths[k]) for k in range(len(specs))]

    def cat(key: str, axis: int = 0) -> np.ndarray:
        return np.concatenate([np.take(st[key], np.arange(o, o + t), axis=axis) for st, o, t in parts], axis=axis)

    kept = ({"feature": cat("kf", 1), "threshold": cat("kt", 1), "value": cat("kv", 1), "importance": cat("ki", 1)}
            if keep_trees else None)
    return cat("raw"), (None if xt32 is None else cat("raw_t")), cat("imp"), cat("rel"), kept


def _assemble(specs, inits, raw, raw_test, imp_sum, n_rel, kept, keep_trees, keep_raw) -> list[GBTFit]:
    """One :class:`GBTFit` per factor from the final raw predictions ``[T, n]`` / ``[T, m]`` (numpy),
    the importance sums ``[T, F]`` over relevant trees and their count ``[T]``."""
    out = []
    b = 0
    for k, (classes, _, t) in enumerate(specs):
        rel = int(n_rel[b:b + t].sum())
        if rel:
            avg = imp_sum[b:b + t].sum(0) / rel
            s = avg.sum()
            imp = avg / s if s > 0 else avg
        else:
            imp = np.zeros(imp_sum.shape[1])
        r = raw[b:b + t]
        rt = raw_test[b:b + t] if raw_test is not None else None

        def pred(rr, classes=classes, t=t):
            return classes[(rr[0] >= 0).astype(np.int64)] if t == 1 else classes[np.argmax(rr, axis=0)]

        fit = GBTFit(
            classes=classes,
            importances=imp,
            train_pred=pred(r),
            test_pred=None if rt is None else pred(rt),
            n_relevant_trees=rel,
            train_raw=r.T.copy() if keep_raw else None,
            test_raw=None if (rt is None or not keep_raw) else rt.T.copy(),
        )
        if keep_trees:
            fit.trees = {
                "feature": kept["feature"][:, b:b + t],
                "threshold": kept["threshold"][:, b:b + t],
                "value": kept["value"][:, b:b + t],
                "importance": kept["importance"][:, b:b + t],
                "init": inits[k],
            }
        out.append(fit)
        b += t
    return out


class FastGradientBoostingClassifier:
    """``GradientBoostingClassifier()``-like wrapper of :func:`fit_gbts` for one target (tests, users).

    ``fit(X, y)``, then ``feature_importances_``, ``predict(X)``, ``decision_function(X)``,
    ``staged_decision_function(X)`` and ``estimators_`` (per stage and class: feature, threshold and
    leaf values of the depth-3 tree) as in scikit-learn.
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.1, max_depth: int = 3,
                 device: str | None = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.device = device

    def fit(self, X, y):
        (fit,) = fit_gbts(X, np.asarray(y).reshape(-1, 1), n_estimators=self.n_estimators,
                          learning_rate=self.learning_rate, max_depth=self.max_depth, device=self.device,
                          keep_trees=True, keep_raw=True)
        self.fit_ = fit
        self.classes_ = fit.classes
        self.feature_importances_ = fit.importances
        self.n_relevant_trees_ = fit.n_relevant_trees
        return self

    def staged_decision_function(self, X):
        tr = self.fit_.trees
        x = torch.as_tensor(np.asarray(X, dtype=np.float64).astype(np.float32))
        raw = np.repeat(tr["init"][None, :], x.shape[0], axis=0)
        for s in range(tr["feature"].shape[0]):
            leaf = _apply(x, torch.as_tensor(tr["feature"][s]), torch.as_tensor(tr["threshold"][s])).numpy()
            raw = raw + self.learning_rate * np.take_along_axis(tr["value"][s], leaf, axis=1).T
            yield raw[:, 0] if raw.shape[1] == 1 else raw

    def decision_function(self, X):
        out = None
        for raw in self.staged_decision_function(X):
            out = raw
        return out

    def predict(self, X):
        raw = self.decision_function(X)
        if raw.ndim == 1:
            return self.classes_[(raw >= 0).astype(np.int64)]
        return self.classes_[np.argmax(raw, axis=1)]
