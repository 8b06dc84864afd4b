"""SKD: a structured Koopman autoencoder (Berman et al., 2023; MSD's SSM-SKD) on the msd-bench interface.

Training
--------
An autoencoder maps each frame to ``z_t`` (``k = S + D`` dims; conv features -> LSTM -> linear) and back.
For every training batch the linear dynamics ``z_{t+1} ~= z_t C`` are fitted by ridge least squares over
all transitions of the batch (SKD computes its Koopman matrix on the batch). Loss per sequence::

    ||dec(z_t) - x_t||^2 + w_pred ||dec(z_t C) - x_{t+1}||^2 + w_lat ||z_t C - z_{t+1}||^2 + w_eig L_eig

``L_eig`` is the static / dynamic split of the spectrum: with the eigenvalues of ``C`` sorted by their
distance to 1, the ``S`` nearest are pulled onto 1 (``|lambda - 1|^2``, the modes that do not change over
time: the static factors) and the others are pushed at least ``delta`` away from 1
(``relu(delta - |lambda - 1|)^2``, the modes that move).

Export (``finalize``)
---------------------
The Koopman matrix is re-estimated once over the whole training split and frozen. Its eigenvectors give
a real basis ``P`` (one column per real eigenvalue, the real and imaginary parts for each complex
conjugate pair), ordered static modes first. The interface code is the frame code in that eigenbasis,
``phi_t = P^-1 z_t``: ``static = mean over frames of phi_t[:S]`` (modes with eigenvalue ~ 1) and
``dynamic_t = phi_t[S:]``. ``decode`` maps back with ``P``. Channels are eigen-coordinates, so
:meth:`SKD.swap` swaps whole eigenmodes: the two coordinates of a complex pair always move together.
SKD is a deterministic autoencoder and has no prior: generation metrics are "not applicable".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..harness.interface import Latents, swap_channels
from .models import ReferenceModel, _f, recon_mse


def fit_koopman(z: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge least-squares ``C`` with ``z[:, 1:] ~= z[:, :-1] @ C`` over every transition of ``z`` [B, T, k]."""
    k = z.shape[-1]
    x0 = z[:, :-1].reshape(-1, k)
    x1 = z[:, 1:].reshape(-1, k)
    gram = x0.t() @ x0 + ridge * torch.eye(k, dtype=z.dtype, device=z.device)
    return torch.linalg.solve(gram, x0.t() @ x1)


def eigen_split_loss(c: torch.Tensor, n_static: int, delta: float) -> torch.Tensor:
    """The spectral loss ``L_eig`` of ``C`` (see the module doc)."""
    lam = torch.linalg.eigvals(c)
    dist = torch.sqrt((lam.real - 1.0).pow(2) + lam.imag.pow(2) + 1e-12)
    dist, _ = torch.sort(dist)
    static = dist[:n_static].pow(2).mean()
    dynamic = torch.relu(delta - dist[n_static:]).pow(2).mean() if dist.numel() > n_static else dist.new_zeros(())
    return static + dynamic


class SKD(ReferenceModel):
    """Structured Koopman autoencoder; ``static_dim`` = number of static eigen-coordinates, ``k = S + D``."""

    method = "skd"
    #: no prior: a deterministic autoencoder (the harness reports generation metrics as not applicable)
    sample_static = None
    sample_dynamic = None

    def __init__(self, *args: Any, w_pred: float = 1.0, w_lat: float = 1.0, w_eig: float = 10.0,
                 delta: float = 0.3, ridge: float = 1e-3, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.w_pred, self.w_lat, self.w_eig = float(w_pred), float(w_lat), float(w_eig)
        self.delta, self.ridge = float(delta), float(ridge)
        self._config.update(w_pred=self.w_pred, w_lat=self.w_lat, w_eig=self.w_eig, delta=self.delta,
                            ridge=self.ridge)
        k = self.static_dim + self.dynamic_dim
        self.k = k
        self.encoder = self.step_encoder(self.hidden)
        self.rnn = nn.LSTM(self.hidden, self.hidden, batch_first=True)
        self.to_z = nn.Linear(self.hidden, k)
        self.decoder = self.step_decoder(k)
        # the frozen eigenbasis (identity until finalize): z_t = P phi_t, channel pairs of complex modes
        self.register_buffer("basis", torch.eye(k))
        self.register_buffer("basis_inv", torch.eye(k))
        self.register_buffer("partner", torch.arange(k))
        self.register_buffer("eigenvalues", torch.zeros(k, 2))

    # ----------------------------------------------------------------------------- codes
    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Frame codes ``z`` ``[B, T, k]`` (the Koopman state)."""
        b, t = x.shape[:2]
        h, _ = self.rnn(self.encoder(self.frames_in(x)).view(b, t, -1))
        return self.to_z(h)

    def _decode_res(self, z: torch.Tensor) -> torch.Tensor:
        b, t, k = z.shape
        return self.decoder(z.reshape(b * t, k))

    def encode(self, x: torch.Tensor) -> Latents:
        phi = self.latent(x) @ self.basis_inv.t()
        return Latents(phi[..., : self.static_dim].mean(1), phi[..., self.static_dim :])

    def decode(self, z: Latents) -> torch.Tensor:
        b, t = z.dynamic.shape[:2]
        phi = torch.cat([z.static.unsqueeze(1).expand(b, t, self.static_dim), z.dynamic], dim=-1)
        return self.frames_out(self._decode_res(phi @ self.basis.t()), b, t)

    def swap(self, za: Latents, zb: Latents, mask: torch.Tensor) -> Latents:
        """Swap whole eigenmodes: a channel of a complex pair brings its partner coordinate along."""
        mask = mask.to(self.partner.device)
        mask = mask | mask[self.partner]
        return swap_channels(za, zb, mask)

    # ----------------------------------------------------------------------------- training
    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        b, t = x.shape[:2]
        z = self.latent(x)
        c = fit_koopman(z, self.ridge)
        z_pred = z[:, :-1] @ c
        target = self.target(x)
        shape = self.step_shape
        recon = recon_mse(self._decode_res(z).view(b, t, *shape), target)
        pred = recon_mse(self._decode_res(z_pred).view(b, t - 1, *shape), target[:, 1:])
        lat = (z_pred - z[:, 1:]).pow(2).flatten(1).sum(1)
        eig = eigen_split_loss(c, self.static_dim, self.delta)
        if not torch.isfinite(eig):  # a degenerate spectrum: skip the spectral term for this step
            eig = z.new_zeros(())
        loss = (recon + self.w_pred * pred + self.w_lat * lat).mean() + self.w_eig * eig
        return loss, {"recon": _f(recon), "pred": _f(pred), "lat": _f(lat),
                      "eig": _f(eig)}

    @torch.no_grad()
    def finalize(self, batches: Iterable[torch.Tensor]) -> dict[str, Any]:
        """Fit the Koopman matrix over ``batches`` of videos, freeze its real eigenbasis (static modes first).

        Returns a summary (eigenvalues of the static and dynamic modes) for the docs.
        """
        k = self.k
        gram = torch.zeros(k, k, dtype=torch.float64)
        cross = torch.zeros(k, k, dtype=torch.float64)
        for x in batches:
            z = self.latent(x.to(self._device())).double().cpu()
            x0, x1 = z[:, :-1].reshape(-1, k), z[:, 1:].reshape(-1, k)
            gram += x0.t() @ x0
            cross += x0.t() @ x1
        c = torch.linalg.solve(gram + self.ridge * torch.eye(k, dtype=torch.float64), cross)
        lam, vec = torch.linalg.eig(c.t())  # column form: z_{t+1} = C^T z_t
        modes = []  # (distance to 1, [columns], eigenvalue)
        for i in range(k):
            li = lam[i]
            if abs(float(li.imag)) < 1e-9:
                v = vec[:, i].real
                modes.append((float(abs(li - 1)), [v / v.norm()], complex(li)))
            elif float(li.imag) > 0:
                v = vec[:, i]
                scale = v.abs().norm()
                modes.append((float(abs(li - 1)), [v.real / scale, v.imag / scale], complex(li)))
        modes.sort(key=lambda m: m[0])
        static, dynamic = [], []
        filled = 0
        for m in modes:
            if filled + len(m[1]) <= self.static_dim:
                static.append(m)
                filled += len(m[1])
            else:
                dynamic.append(m)
        while filled < self.static_dim:  # only complex pairs were left: split the nearest one across
            m = dynamic.pop(0)
            static.append((m[0], m[1][:1], m[2]))
            dynamic.insert(0, (m[0], m[1][1:], m[2]))
            filled += 1
        cols, partner, values = [], [], []
        for group in (static, dynamic):
            for _, vs, li in group:
                cols.extend(vs)
                values.extend([(li.real, li.imag)] * len(vs))
        # partners: the two coordinates of one complex mode (found by eigenvalue identity)
        owner: list[complex] = [complex(*v) for v in values]
        for i in range(k):
            j = next((j for j in range(k) if j != i and owner[j] == owner[i] and owner[i].imag != 0), i)
            partner.append(j)
        basis = torch.stack(cols, dim=1)
        cond = float(torch.linalg.cond(basis))
        # a (near-)defective C has no well-conditioned eigenbasis: fall back to the pseudo-inverse
        inverse = torch.linalg.inv(basis) if cond < 1e8 else torch.linalg.pinv(basis)
        self.basis.copy_(basis.float())
        self.basis_inv.copy_(inverse.float())
        self.partner.copy_(torch.tensor(partner, dtype=torch.long))
        self.eigenvalues.copy_(torch.tensor(values, dtype=torch.float32))
        return {
            "basis_condition_number": cond,
            "static_eigenvalues": [[round(a, 4), round(b, 4)] for a, b in values[: self.static_dim]],
            "dynamic_eigenvalues": [[round(a, 4), round(b, 4)] for a, b in values[self.static_dim :]],
        }
