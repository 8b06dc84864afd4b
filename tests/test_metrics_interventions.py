"""Model-level metrics in a synthetic world with known answers.

The world: videos [B, T=4, C=1, H=4, W=4]; row 0 shows the static factor ``color`` (3 classes) as a
one-hot pixel, row 1 the static factor ``shape`` (4 classes), row 2 the dynamic factor ``motion``
(3 classes) as a pixel at column (v + t) mod 3 in frame t. The judge decodes the rows exactly. The
oracle model's latents are the factor values (static [color, shape], dynamic [motion per frame]) and
its decoder renders them; its priors sample uniform factor values. The shuffled model encodes every
sequence as its batch neighbour, so its outputs are unrelated to the input: chance level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from msd_bench.errors import MetricError
from msd_bench.harness.interface import Latents
from msd_bench.metrics import interventions as I
from msd_bench.metrics import reconstruction as REC
from msd_bench.metrics.exploration import explore_channels, features_from_latents

T = 4
BIG = 30.0


@dataclass
class Factor:
    name: str
    index: int
    type: str
    n_classes: int
    ignore: bool = False
    values: dict = field(default_factory=dict)


FACTORS = [Factor("color", 0, "static", 3), Factor("shape", 1, "static", 4), Factor("motion", 2, "dynamic", 3)]


def render(color: torch.Tensor, shape: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """color, shape: [B] ints; motion: [B, T] ints -> video [B, T, 1, 4, 4]."""
    b = color.shape[0]
    x = torch.zeros(b, T, 1, 4, 4)
    ar = torch.arange(b)
    for t in range(T):
        x[ar, t, 0, 0, color] = 1.0
        x[ar, t, 0, 1, shape] = 1.0
        x[ar, t, 0, 2, (motion[:, t] + t) % 3] = 1.0
    return x


def make_world(n: int, seed: int, motion_p=(1 / 3, 1 / 3, 1 / 3)):
    g = torch.Generator().manual_seed(seed)
    color = torch.randint(0, 3, (n,), generator=g)
    shape = torch.randint(0, 4, (n,), generator=g)
    motion = torch.multinomial(torch.tensor(motion_p), n, replacement=True, generator=g)
    x = render(color, shape, motion[:, None].expand(n, T))
    return x, torch.stack([color, shape, motion], 1)


def _read(x: torch.Tensor):
    color = x[:, :, 0, 0, :3].mean(1).argmax(1)
    shape = x[:, :, 0, 1, :4].mean(1).argmax(1)
    pos = x[:, :, 0, 2, :3].argmax(2)  # [B, T]
    motion_t = (pos - torch.arange(T)[None, :]) % 3
    return color, shape, motion_t


@dataclass
class JudgeOut:
    sequence: dict
    frame: dict


class ExactJudge:
    factors = FACTORS

    def __call__(self, x: torch.Tensor) -> JudgeOut:
        oh = torch.nn.functional.one_hot
        color_f = oh(x[:, :, 0, 0, :3].argmax(2), 3).float()
        shape_f = oh(x[:, :, 0, 1, :4].argmax(2), 4).float()
        _, _, motion_t = _read(x)
        motion_seq = oh(motion_t, 3).float().mean(1)
        return JudgeOut(
            sequence={"color": BIG * color_f.mean(1), "shape": BIG * shape_f.mean(1), "motion": BIG * motion_seq},
            frame={"color": BIG * color_f, "shape": BIG * shape_f},
        )


class Oracle(torch.nn.Module):
    static_dim = 2
    dynamic_dim = 1

    def encode(self, x: torch.Tensor) -> Latents:
        color, shape, motion_t = _read(x)
        return Latents(torch.stack([color, shape], 1).float(), motion_t[:, :, None].float())

    def decode(self, z: Latents) -> torch.Tensor:
        color = z.static[:, 0].round().clamp(0, 2).long()
        shape = z.static[:, 1].round().clamp(0, 3).long()
        motion = z.dynamic[:, :, 0].round().clamp(0, 2).long()
        return render(color, shape, motion)

    def sample_static(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([torch.randint(0, 3, (n,), generator=generator),
                            torch.randint(0, 4, (n,), generator=generator)], 1).float()

    def sample_dynamic(self, n: int, t: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, 3, (n, 1, 1), generator=generator).float().expand(n, t, 1).contiguous()


class Shuffled(Oracle):
    def encode(self, x: torch.Tensor) -> Latents:
        z = super().encode(x)
        return Latents(z.static.roll(1, 0), z.dynamic.roll(1, 0))


class NoPrior(torch.nn.Module):
    static_dim = 2
    dynamic_dim = 1
    encode = Oracle.encode
    decode = Oracle.decode


@pytest.fixture(scope="module")
def world():
    return make_world(900, 0)


CHANNELS = {"color": [0], "shape": [1], "motion": [2]}


def test_world_is_consistent(world):
    x, y = world
    z = Oracle().encode(x)
    assert torch.equal(Oracle().decode(z), x)
    out = ExactJudge()(x)
    for f in FACTORS:
        assert torch.equal(out.sequence[f.name].argmax(1), y[:, f.index])


def test_exploration_recovers_oracle_channels(world):
    x, y = world
    z = Oracle().encode(x)
    codes, groups = features_from_latents(z.static, z.dynamic)
    xt, yt = make_world(300, 1)
    zt = Oracle().encode(xt)
    tcodes, _ = features_from_latents(zt.static, zt.dynamic)
    for method in ("hist", "gbt"):
        names = ["color", "shape", "motion"]
        cmap = explore_channels(codes, y, tcodes, yt, method=method, groups=groups, factor_names=names)
        assert {k: cmap.channels(k) for k in CHANNELS} == CHANNELS, method
        assert all(v == 1.0 for v in cmap.assigned_accuracy.values())


def test_oracle_two_factor_swap_at_ceiling_shuffled_at_chance(world):
    x, y = world
    res = I.two_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, n=600, seed=1)
    for f in FACTORS:
        assert res[f.name]["accuracy"].value == 1.0
    assert res["color"]["swap_frame_accuracy"].value == 1.0
    assert res["color"]["global_sample_consistency"].value == 1.0
    bad = I.two_factor_swap(Shuffled(), ExactJudge(), x, y, FACTORS, n=600, seed=1)
    for f in FACTORS:
        assert abs(bad[f.name]["accuracy"].value - 1 / f.n_classes) < 0.08, f.name
        assert bad[f.name]["accuracy"].extra["chance"] == pytest.approx(1 / f.n_classes, abs=0.05)


def test_generation_metrics_oracle(world):
    x, y = world
    res = I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="sample_static", n=600, seed=2)
    assert res["motion"]["accuracy"].value == 1.0  # kept
    assert "accuracy" not in res["color"]  # sampled: no ground truth
    for f in ("color", "shape"):
        n_cls = {"color": 3, "shape": 4}[f]
        assert res[f]["inception_score"].value == pytest.approx(n_cls, rel=0.05)
        assert res[f]["h_y"].value == pytest.approx(np.log(n_cls), rel=0.02)
        assert res[f]["h_y_given_x"].value < 1e-6
        assert res[f]["global_sample_consistency"].value == 1.0
    res2 = I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="sample_dynamic", n=600, seed=2)
    assert res2["color"]["accuracy"].value == 1.0 and res2["shape"]["accuracy"].value == 1.0
    assert res2["motion"]["inception_score"].value == pytest.approx(3, rel=0.05)
    bad = I.generation_metrics(Shuffled(), ExactJudge(), x, y, FACTORS, mode="sample_dynamic", n=600, seed=2)
    assert abs(bad["color"]["accuracy"].value - 1 / 3) < 0.08


def test_no_prior_is_not_applicable(world):
    x, y = world
    res = I.generation_metrics(NoPrior(), ExactJudge(), x, y, FACTORS, mode="sample_static")
    v = res["motion"]["accuracy"]
    assert not v.applicable and v.value is None and "no static prior" in v.reason
    ms = I.multi_factor_swap(NoPrior(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="sample")
    assert not ms["cell_error"].applicable and ms["kept_accuracy"].value is None


def test_same_seed_same_numbers(world):
    x, y = world
    a = I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="sample_static", n=300, seed=5)
    b = I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="sample_static", n=300, seed=5)
    c = I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="sample_static", n=300, seed=6)
    assert a["color"]["h_y"].to_dict() == b["color"]["h_y"].to_dict()
    assert a["color"]["h_y"].value != c["color"]["h_y"].value


def test_multi_factor_swap_oracle_and_shuffled(world):
    x, y = world
    res = I.multi_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="swap", n=600, seed=3)
    A, Tm = np.array(res["matrix"]), np.array(res["target"])
    assert np.all(np.diag(A) == 1.0)
    assert res["kept_accuracy"].value == 1.0 and res["partner_accuracy"].value == 1.0
    assert res["cell_error"].value < 0.04  # off-diagonal agreement with a is chance agreement of the pair
    assert res["cell_error"].ci_low <= res["cell_error"].value <= res["cell_error"].ci_high
    bad = I.multi_factor_swap(Shuffled(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="swap", n=600, seed=3)
    assert np.all(np.abs(np.diag(np.array(bad["matrix"])) - [1 / 3, 1 / 4, 1 / 3]) < 0.08)
    assert bad["cell_error"].value > 0.15
    smp = I.multi_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="sample", n=600, seed=3)
    assert smp["kept_accuracy"].value == 1.0 and smp["cell_error"].value < 0.04
    assert np.allclose(np.array(smp["target"])[0], [1.0, Tm[0, 1], Tm[0, 2]])


def test_multi_factor_swap_chance_uses_label_distribution():
    # motion is unbalanced (0.6, 0.2, 0.2): chance agreement is sum p^2 = 0.44, not 1/3
    x, y = make_world(1200, 4, motion_p=(0.6, 0.2, 0.2))
    res = I.multi_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="swap", n=1200, seed=4)
    A, Tm = np.array(res["matrix"]), np.array(res["target"])
    p = np.bincount(y[:, 2].numpy(), minlength=3) / 1200
    assert Tm[0, 2] == pytest.approx(np.sum(p**2)) and Tm[0, 2] > 0.4
    assert A[0, 2] == pytest.approx(Tm[0, 2], abs=0.05)  # off-target factor sits at sum p^2 ...
    assert abs(A[0, 2] - 1 / 3) > 0.05  # ... which the 1/n rule would misread as leakage


def test_missing_channels_keep_nothing(world):
    x, y = world
    res = I.multi_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, {"color": [0], "shape": [1]}, n=600, seed=3)
    A = np.array(res["matrix"])
    assert A[0, 0] == 1.0 and abs(A[2, 2] - 1 / 3) < 0.08  # motion had no channel


def test_bad_inputs(world):
    x, y = world
    with pytest.raises(MetricError, match="outside"):
        I.multi_factor_swap(Oracle(), ExactJudge(), x, y, FACTORS, {"color": [7]}, n=10)
    with pytest.raises(MetricError, match="labels must be"):
        I.two_factor_swap(Oracle(), ExactJudge(), x, y[:5], FACTORS)
    with pytest.raises(MetricError, match="mode"):
        I.generation_metrics(Oracle(), ExactJudge(), x, y, FACTORS, mode="both")


def test_class_balanced_indices():
    y = torch.cat([torch.zeros(900), torch.ones(100)]).long()[:, None]
    idx = I.class_balanced_indices(y, [0], 200, torch.Generator().manual_seed(0))
    assert idx.unique().numel() == 200
    frac = y[idx, 0].float().mean().item()
    assert 0.35 < frac < 0.65  # balanced, though only 10 % of rows are class 1


# --- MSD and C-DSVAE protocols ---------------------------------------------------------------------
def test_msd_protocol_oracle_shuffled_and_missing(world):
    from msd_bench.metrics import msd as M

    x, y = world
    ok = M.msd_interventions(Oracle(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="swap", n=600, seed=3)
    A = np.array(ok["multi_matrix"])
    assert np.all(np.diag(A) == 1.0)
    assert ok["multi_factor"].value == pytest.approx(M.multi_factor_score(A, [3, 4, 3])["score"])
    assert ok["multi_factor"].value > 0.97  # off-diagonal cells sit at the pair's chance agreement ~ 1/n
    assert ok["two_factor"].value > 0.97
    assert ok["consistency_swap"].value == 1.0  # kept factor follows a, the other static factor b, every frame
    assert ok["multi_factor"].ci_low <= ok["multi_factor"].value <= ok["multi_factor"].ci_high
    bad = M.msd_interventions(Shuffled(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="swap", n=600, seed=3)
    assert bad["multi_factor"].value < 0.75 and bad["two_factor"].value < 0.75
    assert bad["consistency_swap"].value < 0.5
    smp = M.msd_interventions(Oracle(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="sample", n=600, seed=3)
    assert smp["multi_factor"].value > 0.97
    assert smp["global_sample_consistency"].value == 1.0 and smp["local_sample_consistency"].value == 1.0
    # shape without channels: a missing row, scored as the worst case like MSD
    part = M.msd_interventions(Oracle(), ExactJudge(), x, y, FACTORS, {"color": [0], "motion": [2]}, n=600, seed=3)
    assert part["missing"] == ["shape"]
    Ap = np.array(part["multi_matrix"])
    assert part["multi_factor"].value == pytest.approx(M.multi_factor_score(Ap, [3, 4, 3], missing=[1])["score"])
    assert part["multi_factor"].value < ok["multi_factor"].value - 0.25
    na = M.msd_interventions(NoPrior(), ExactJudge(), x, y, FACTORS, CHANNELS, mode="sample")
    assert not na["multi_factor"].applicable and "prior" in na["multi_factor"].reason


class Leaky(Oracle):
    """Static channel 1 carries shape and motion (4 * motion + shape); the decoder reads motion from it
    for odd shapes and from the dynamic code otherwise, so interventions leak in a known, mixed way."""

    def encode(self, x: torch.Tensor) -> Latents:
        z = super().encode(x)
        return Latents(torch.stack([z.static[:, 0], z.static[:, 1] + 4 * z.dynamic[:, 0, 0]], 1), z.dynamic)

    def decode(self, z: Latents) -> torch.Tensor:
        code = z.static[:, 1].round().clamp(0, 11).long()
        shape, motion_s = code % 4, code // 4
        motion_d = z.dynamic[:, 0, 0].round().clamp(0, 2).long()
        motion = torch.where(shape % 2 == 1, motion_s, motion_d)[:, None].expand(-1, T)
        return render(z.static[:, 0].round().clamp(0, 2).long(), shape, motion)


def test_msd_protocol_matrices_equal_a_per_pair_loop_and_msd_code(world):
    """The batched protocol against a literal per-pair loop (channels set by hand, no harness swap),
    scored by the transcription of MSD's calculate_score."""
    from test_metrics_msd import msd_calculate_score, msd_consistency_score

    from msd_bench.metrics import msd as M

    x, y = world
    x, y = x[:120], y[:120]
    model, judge, n, seed = Leaky(), ExactJudge(), 60, 7
    res = M.msd_interventions(model, judge, x, y, FACTORS, CHANNELS, mode="swap", n=n, seed=seed, batch_size=17)
    gen = torch.Generator().manual_seed(seed)
    ia = torch.randperm(x.shape[0], generator=gen)[:n]
    ib = ia[torch.randperm(n, generator=gen)]
    names = [f.name for f in FACTORS]
    rows = {"color": [0], "shape": [1], "motion": [2], "static": [0, 1], "dynamic": [2]}
    acc = {r: np.zeros(len(FACTORS)) for r in rows}
    cons = np.zeros((2, 2))
    for a, b in zip(ia.tolist(), ib.tolist(), strict=True):
        za, zb = model.encode(x[a : a + 1]), model.encode(x[b : b + 1])
        for r, keep in rows.items():
            s = torch.where(torch.tensor([0 in keep, 1 in keep]), za.static, zb.static)
            d = za.dynamic if 2 in keep else zb.dynamic
            out = judge(model.decode(Latents(s, d)))
            for j, f in enumerate(FACTORS):
                acc[r][j] += float(out.sequence[f.name].argmax(1).item() == y[a, f.index].item()) / n
            if r in ("color", "shape"):
                k = ("color", "shape").index(r)
                for jj, fj in enumerate(FACTORS[:2]):
                    target = y[a if jj == k else b, fj.index].item()
                    cons[k, jj] += float((out.frame[fj.name].argmax(2) == target).double().mean()) / n
    multi = np.stack([acc[f] for f in names])
    two = np.stack([acc["static"], acc["dynamic"]])
    assert np.allclose(res["multi_matrix"], multi) and np.allclose(res["two_matrix"], two)
    assert np.allclose(res["consistency_swap_matrix"], cons)
    dims = {f.name: f.n_classes for f in FACTORS}
    ref = msd_calculate_score(multi.copy(), {f: [f] for f in names}, names, dims, set())
    assert res["multi_factor"].value == pytest.approx(ref, abs=1e-12)
    expected = {"static": ["color", "shape"], "dynamic": ["motion"]}
    assert res["two_factor"].value == pytest.approx(msd_calculate_score(two.copy(), expected, names, dims, set()),
                                                    abs=1e-12)
    assert res["consistency_swap"].value == pytest.approx(msd_consistency_score(cons.copy(), names[:2], set()),
                                                          abs=1e-12)
    assert 0.3 < res["multi_factor"].value < 0.97  # the leak is visible, not a degenerate 0 or 1


def test_cdsvae_protocol_oracle_and_no_prior(world):
    from msd_bench.metrics import msd as M

    x, y = world
    res = M.cdsvae_generation(Oracle(), ExactJudge(), x, y, FACTORS, seed=2)
    assert set(res) == {"motion"}  # the kept (dynamic) head only
    m = res["motion"]
    assert m["accuracy"].value == 1.0 and m["accuracy"].n == x.shape[0]
    n_bal = 3 * int(np.bincount(y[:, 2].numpy()).min())
    assert m["inception_score"].n == n_bal
    assert m["inception_score"].value == pytest.approx(3.0, rel=1e-6)  # balanced, one-hot: IS = n_classes
    assert m["h_y"].value == pytest.approx(np.log(3), rel=1e-6) and m["h_y_given_x"].value < 1e-6
    bad = M.cdsvae_generation(Shuffled(), ExactJudge(), x, y, FACTORS, seed=2)["motion"]
    assert abs(bad["accuracy"].value - 1 / 3) < 0.08
    na = M.cdsvae_generation(NoPrior(), ExactJudge(), x, y, FACTORS)["motion"]["accuracy"]
    assert not na.applicable and "static prior" in na.reason


# --- reconstruction --------------------------------------------------------------------------------


def test_reconstruction_oracle_and_shuffled(world):
    x, y = world
    res = REC.reconstruction_values(Oracle(), x, y, ExactJudge(), FACTORS)
    assert res["mse"].value == 0.0 and res["psnr"].value == REC.PSNR_CAP
    assert res["ssim"].value == pytest.approx(1.0) and res["temporal_consistency"].value == 0.0
    assert all(v.value == 1.0 for v in res["judge_accuracy"].values())
    as_uint8 = REC.reconstruction_values(Oracle(), (x * 255).to(torch.uint8), y, ExactJudge(), FACTORS)
    assert as_uint8["mse"].value == 0.0
    bad = REC.reconstruction_values(Shuffled(), x, y, ExactJudge(), FACTORS)
    for f in FACTORS:
        assert abs(bad["judge_accuracy"][f.name].value - 1 / f.n_classes) < 0.06
        assert bad["judge_ceiling"][f.name].value == 1.0  # the judge itself is perfect on the inputs
    assert bad["mse"].value > 0.05


def _ssim_direct(a: np.ndarray, b: np.ndarray) -> float:
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_blocks_cross_planes_and_fused_errors_match_the_single_metrics():
    # 2 x 5 x 3 = 30 planes: more than one SSIM block, channels and frames interleaved
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 5, 3, 16, 14, generator=g)
    xh = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert x.shape[1] * x.shape[2] * x.shape[0] > REC.SSIM_BLOCK
    direct = np.array([np.mean([_ssim_direct(x[b, t, c].double().numpy(), xh[b, t, c].double().numpy())
                                for t in range(5) for c in range(3)]) for b in range(2)])
    assert np.allclose(REC.ssim(x, xh).numpy(), direct, atol=1e-6)
    fused = REC.reconstruction_errors(x, xh)
    for name, fn in (("mse", REC.mse), ("psnr", REC.psnr), ("ssim", REC.ssim),
                     ("temporal_consistency", REC.temporal_consistency)):
        assert torch.allclose(fused[name], fn(x, xh), rtol=1e-6, atol=1e-9), name  # float32 element-wise work
    assert "temporal_consistency" not in REC.reconstruction_errors(x[:, :1], xh[:, :1])
    with pytest.raises(MetricError, match="NaN"):
        REC.reconstruction_errors(x, torch.full_like(x, float("nan")))
    late = xh.clone()
    late[-1, -1, -1, 0, 0] = float("inf")  # only in the last block
    for fn in (REC.reconstruction_errors, REC.ssim, REC.mse):
        with pytest.raises(MetricError, match="NaN/Inf"):
            fn(x, late)


def test_ssim_psnr_temporal_known_values():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 1, 16, 14, generator=g)
    xh = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    s = REC.ssim(x, xh)
    direct = np.mean([[_ssim_direct(x[b, t, 0].double().numpy(), xh[b, t, 0].double().numpy())
                       for t in range(3)] for b in range(2)], axis=1)
    assert np.allclose(s.numpy(), direct, atol=1e-10)
    assert torch.allclose(REC.ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert REC.psnr(x, (x + 0.1)).numpy() == pytest.approx([20.0, 20.0], abs=1e-4)
    assert REC.mse(x, x + 0.1).numpy() == pytest.approx([0.01, 0.01], abs=1e-6)
    assert REC.temporal_consistency(x, x + 0.2).numpy() == pytest.approx([0.0, 0.0], abs=1e-12)
    frozen = x[:, :1].expand_as(x)  # a reconstruction that never moves
    d = (x[:, 1:] - x[:, :-1]).double().pow(2).flatten(1).mean(1)
    assert torch.allclose(REC.temporal_consistency(x, frozen), d)
    with pytest.raises(MetricError, match="expected the input's"):
        REC.mse(x, x[:, :2])
