"""Reference models: interface conformance, losses, priors, augmentations and SKD's eigenbasis swap."""

from __future__ import annotations

import math

import pytest
import torch

from msd_bench.harness.interface import static_mask, swap_channels
from msd_bench.harness.validate import run_checks
from msd_bench.harness.wrap import TimedModel
from msd_bench.methods import METHODS, MethodError, build_model, default_config, get_method
from msd_bench.methods.models import colour_jitter_blur, info_nce, temporal_shuffle
from msd_bench.methods.nets import kl_normal, kl_std_normal
from msd_bench.methods.skd import fit_koopman
from msd_bench.testing import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

SHAPE = (4, 3, 16, 16)


def _model(method: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(**default_config(method, SHAPE, hidden=16))


def _batch(n: int = 8) -> torch.Tensor:
    ds = tiny_dataset()
    return torch.from_numpy(ds.read(ds.indices("train")[:n])[0]).float() / 255.0


@pytest.mark.parametrize("method", list(METHODS))
def test_interface_checks_pass(method):
    model = _model(method).eval()
    spec = get_method(method)
    x = _batch(4)
    z = model.encode(x)
    assert tuple(z.static.shape) == (4, spec.static_dim)
    assert tuple(z.dynamic.shape) == (4, SHAPE[0], spec.dynamic_dim)
    xh = model.decode(z)
    xh = xh.detach()
    assert xh.shape == x.shape and float(xh.min()) >= 0.0 and float(xh.max()) <= 1.0
    checks = run_checks(TimedModel(model, torch.device("cpu")), SHAPE, batch=4)
    failed = [(c.name, c.detail) for c in checks if c.passed is False]
    assert not failed
    names = {c.name: c.passed for c in checks}
    assert names["encode"] and names["decode"] and names["deterministic"] and names["batch-invariant"]
    assert names["swap"]
    # every method but the deterministic Koopman autoencoder has both priors
    assert names["prior static"] is (None if method == "skd" else True)
    assert names["prior dynamic"] is (None if method == "skd" else True)


@pytest.mark.parametrize("method", list(METHODS))
def test_loss_decreases_on_a_fixed_batch(method):
    model = _model(method).train()
    x = _batch(8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(1)
    first, _ = model.training_loss(x)
    losses = []
    for _ in range(15):
        loss, logs = model.training_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.8 * float(first.detach())
    assert "recon" in logs


def test_unknown_method_lists_known_ones():
    with pytest.raises(MethodError, match="unknown method 'vae9'.*dsvae"):
        get_method("vae9")


def test_frame_model_split_is_mean_of_first_half():
    model = _model("frame-vae").eval()
    x = _batch(2)
    mu, _ = model.posterior(x)
    z = model.encode(x)
    s = model.static_dim
    assert torch.allclose(z.static, mu[..., :s].mean(1))
    assert torch.equal(z.dynamic, mu[..., s:])
    # decoding uses [static, dynamic_t] for every frame
    codes = torch.cat([z.static.unsqueeze(1).expand(-1, SHAPE[0], -1), z.dynamic], -1)
    assert torch.equal(model.decode(z), model.decode_frames(codes))


def test_dsvae_prior_uses_only_the_generator():
    model = _model("dsvae").eval()
    state = torch.get_rng_state()
    a = model.sample_dynamic(3, 5, torch.Generator().manual_seed(3))
    b = model.sample_dynamic(3, 5, torch.Generator().manual_seed(3))
    c = model.sample_dynamic(3, 5, torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not touched
    assert a.shape == (3, 5, model.dynamic_dim) and torch.equal(a, b) and not torch.equal(a, c)
    # autoregressive: frame t depends on the noise of earlier frames only
    noise = torch.randn(2, 5, model.dynamic_dim)
    changed = noise.clone()
    changed[:, 3] += 1.0
    za, zb = model.prior_from_noise(noise), model.prior_from_noise(changed)
    assert torch.equal(za[:, :3], zb[:, :3]) and not torch.equal(za[:, 3:], zb[:, 3:])


def test_dsvae_kl_z_uses_learned_prior():
    model = _model("dsvae")
    z = torch.randn(2, 4, model.dynamic_dim)
    mu, lv = model.prior_params(z)
    # the first frame's prior depends on nothing (input 0), so it is the same for both sequences
    assert torch.allclose(mu[0, 0], mu[1, 0]) and torch.allclose(lv[0, 0], lv[1, 0])
    assert not torch.allclose(mu[0, 1], mu[1, 1])


def test_kl_known_answers():
    zero = torch.zeros(1, 3)
    assert float(kl_std_normal(zero, zero)) == 0.0
    assert float(kl_std_normal(torch.ones(1, 2), torch.zeros(1, 2))) == pytest.approx(1.0)  # 2 dims x 0.5
    assert float(kl_normal(zero, zero, zero, zero)) == 0.0
    # KL(N(0, 1) || N(0, e^2)) = log(e) + 1/(2 e^2) - 1/2 per dim
    lv_p = torch.full((1, 1), 2.0)
    assert float(kl_normal(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), lv_p)) == pytest.approx(
        1.0 + 0.5 * math.exp(-2.0) - 0.5, rel=1e-5
    )


def test_info_nce_known_answer():
    eye = torch.eye(4)
    tau = 0.5
    want = math.log(1.0 + 3.0 * math.exp(-1.0 / tau))
    assert float(info_nce(eye, eye, tau)) == pytest.approx(want, rel=1e-5)
    # swapping the positives makes the loss larger
    assert float(info_nce(eye, eye.flip(0), tau)) > want


def test_augmentations():
    torch.manual_seed(0)
    x = _batch(6)
    shuffled = temporal_shuffle(x)
    for i in range(x.shape[0]):  # every sequence keeps the same set of frames
        a = sorted(x[i].flatten(1).sum(1).tolist())
        b = sorted(shuffled[i].flatten(1).sum(1).tolist())
        assert a == pytest.approx(b)
    torch.manual_seed(0)
    jit = colour_jitter_blur(x)
    assert jit.shape == x.shape and float(jit.min()) >= 0.0 and float(jit.max()) <= 1.0
    assert not torch.equal(jit, x)
    # the same transform for every frame: frames that were equal stay equal
    y = x.clone()
    y[:, 1] = y[:, 0]
    torch.manual_seed(0)
    jy = colour_jitter_blur(y)
    assert torch.allclose(jy[:, 0], jy[:, 1])


# ----------------------------------------------------------------------------------------------- SKD
def test_fit_koopman_recovers_a_linear_system():
    torch.manual_seed(0)
    c = torch.tensor([[0.9, 0.2], [-0.2, 0.9]])
    z0 = torch.randn(5, 2)
    z = torch.stack([z0 @ torch.linalg.matrix_power(c, t) for t in range(6)], dim=1)
    assert torch.allclose(fit_koopman(z, 1e-9), c, atol=1e-4)


def _skd_with_known_dynamics():
    """An SKD whose frame code follows a known linear system: 2 static modes (eigenvalue 1), one rotation
    pair (eigenvalues e^{+-i pi/4}) and 2 decaying modes (0.5, -0.3); S = 2, D = 4."""
    torch.manual_seed(0)
    model = build_model(**default_config("skd", SHAPE, static_dim=2, dynamic_dim=4, hidden=16)).eval()
    th = math.pi / 4
    blocks = torch.zeros(6, 6)
    blocks[0, 0] = blocks[1, 1] = 1.0
    blocks[2:4, 2:4] = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    blocks[4, 4], blocks[5, 5] = 0.5, -0.3
    mix = torch.linalg.qr(torch.randn(6, 6))[0]  # hide the modes behind a random rotation
    a = mix @ blocks @ mix.t()  # column dynamics z_{t+1} = A z_t

    proj = torch.randn(SHAPE[1] * SHAPE[2] * SHAPE[3], 6, generator=torch.Generator().manual_seed(5)) / 8.0

    def latent(x):
        z0 = x[:, 0].flatten(1) @ proj  # a per-sequence initial state
        zs = [z0]
        for _ in range(x.shape[1] - 1):
            zs.append(zs[-1] @ a.t())
        return torch.stack(zs, 1)

    model.latent = latent  # type: ignore[method-assign]
    return model, a


def test_skd_finalize_finds_the_eigenbasis():
    model, a = _skd_with_known_dynamics()
    xs = [_batch(8), _batch(8) * 0.5]
    summary = model.finalize(xs)
    static = sorted(tuple(v) for v in summary["static_eigenvalues"])
    assert static == [pytest.approx((1.0, 0.0), abs=1e-3)] * 2
    dyn = sorted(round(v[0], 2) for v in summary["dynamic_eigenvalues"])
    c45 = round(math.cos(math.pi / 4), 2)  # the rotation pair: two coordinates with real part cos(pi/4)
    assert dyn == pytest.approx(sorted([-0.3, 0.5, c45, c45]), abs=1e-2)
    assert torch.allclose(model.basis @ model.basis_inv, torch.eye(6), atol=1e-4)
    # the static eigen-coordinates are constant over time; the rotation pair are partners
    z = model.latent(_batch(3))
    phi = z @ model.basis_inv.t()
    assert torch.allclose(phi[..., :2], phi[:, :1, :2].expand_as(phi[..., :2]), atol=1e-3)
    partner = model.partner.tolist()
    pairs = [(i, j) for i, j in enumerate(partner) if i != j]
    assert len(pairs) == 2 and all(i >= 2 and j >= 2 for i, j in pairs)
    # the real eigenvalue of each coordinate: the partner coordinates share the complex eigenvalue
    i, j = pairs[0]
    assert model.eigenvalues[i, 1] == pytest.approx(math.sin(math.pi / 4), abs=1e-3)


def test_skd_swap_moves_whole_eigenmodes():
    model, _ = _skd_with_known_dynamics()
    model.finalize([_batch(8)])
    x = _batch(4)
    za, zb = model.encode(x[:2]), model.encode(x[2:])
    pair = next(i for i, j in enumerate(model.partner.tolist()) if i != j)
    partner = int(model.partner[pair])
    mask = torch.zeros(model.static_dim + model.dynamic_dim, dtype=torch.bool)
    mask[pair] = True  # ask for one coordinate of the complex mode
    out = model.swap(za, zb, mask)
    both = mask.clone()
    both[partner] = True
    want = swap_channels(za, zb, both)  # ... and get the whole mode
    assert torch.equal(out.dynamic, want.dynamic) and torch.equal(out.static, want.static)
    assert not torch.equal(out.dynamic, swap_channels(za, zb, mask).dynamic)
    # the all-static swap is the ordinary one (no complex mode among the static ones here)
    full = static_mask(model.static_dim, model.dynamic_dim)
    s = model.swap(za, zb, full)
    assert torch.equal(s.static, zb.static) and torch.equal(s.dynamic, za.dynamic)
    # decode inverts the eigenbasis: decode(encode) == decoder(z) when the static coords are constant
    z = model.latent(x)
    direct = model.frames_out(model._decode_res(z), 4, SHAPE[0])
    assert torch.allclose(model.decode(model.encode(x)), direct, atol=1e-4)
