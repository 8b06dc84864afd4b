"""Conformance checks of a submission against the model interface (``msd-bench validate``).

Every check runs on a fixed, seeded dummy batch of the dataset's shape. A submission that cannot be
loaded at all (bad manifest, missing or unsafe artefact, wrong graph names, import error) raises a
one-line :class:`~msd_bench.errors.MsdBenchError`; a loaded submission gets one :class:`Check` per
property, so a user sees every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import DatasetError, SubmissionError
from .interface import Latents, has_prior, static_mask, swap
from .loader import LoadedSubmission, load_submission
from .manifest import DatasetEntry
from .modality import dataset_feature_shape, dataset_modality, shape_text, value_range

TOLERANCE = 1e-4
DUMMY_SEED = 20251123


@dataclass
class Check:
    name: str
    passed: bool | None  # None = not applicable / skipped
    detail: str = ""


@dataclass
class ValidationReport:
    submission: str
    dataset: str
    format: str
    shape: tuple[int, ...]
    providers: list[str]
    hashes: dict[str, str]
    checks: list[Check] = field(default_factory=list)
    modality: str = "video"

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]


def expected_shape(dataset: str, entry: DatasetEntry, modality: str = "video") -> tuple[int, ...]:
    """``(T, *F)`` of ``dataset`` for a ``modality`` submission: from the built-in registry, else the
    manifest's ``input_shape``.

    Raises :class:`SubmissionError` (one line, naming what was expected) when the built-in dataset has
    another modality than the submission (a video submission given an audio dataset) or another shape
    than the manifest declares.
    """
    spec = None
    try:
        from ..datasets import get_spec

        spec = get_spec(dataset)
    except (ImportError, DatasetError):
        spec = None
    spec_shape = None
    if spec is not None:
        ds_modality = dataset_modality(spec)
        spec_shape = (int(spec.shape[0]), *dataset_feature_shape(spec))
        if ds_modality != modality:
            raise SubmissionError(
                f"dataset {dataset!r} is {ds_modality} {shape_text(ds_modality)} = {list(spec_shape)} but the "
                f"submission is a {modality} submission {shape_text(modality)} (expected a submission whose "
                f"manifest declares interface_version 2 and modality {ds_modality})"
            )
    if entry.input_shape is not None:
        declared = tuple(int(v) for v in entry.input_shape)
        if spec_shape is not None and declared != spec_shape:
            raise SubmissionError(
                f"datasets.{dataset}.input_shape is {list(declared)} but the built-in {dataset} has "
                f"{shape_text(modality)} = {list(spec_shape)}"
            )
        return declared
    if spec_shape is None:
        raise SubmissionError(
            f"dataset {dataset!r} is not a built-in dataset; declare datasets.{dataset}.input_shape "
            f"{shape_text(modality)}"
        )
    return spec_shape


def dummy_batch(shape: tuple[int, ...], batch: int, device: torch.device, modality: str = "video") -> torch.Tensor:
    """The fixed, seeded dummy batch ``[batch, T, *F]`` in the modality's input range: uniform in
    ``[0, 1]`` (video) or ``[-1, 1]`` (audio), standard normal (time series, unbounded)."""
    g = torch.Generator().manual_seed(DUMMY_SEED)
    bounds = value_range(modality)
    if bounds is None:
        return torch.randn(batch, *shape, generator=g).to(device)
    low, high = bounds
    return (torch.rand(batch, *shape, generator=g) * (high - low) + low).to(device)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


def run_checks(model: LoadedSubmission, shape: tuple[int, ...], batch: int = 4,
               modality: str | None = None) -> list[Check]:
    """Run every behavioural check on ``model`` (inputs ``[batch, *shape]`` of ``modality``, by default
    the model's own); never raises for a model fault."""
    checks: list[Check] = []
    t = shape[0]
    s_dim, d_dim = model.static_dim, model.dynamic_dim
    modality = modality or str(getattr(model, "modality", "video"))
    bounds = value_range(modality)
    x = dummy_batch(shape, batch, model.device, modality)

    def attempt(name: str, fn: Callable[[], Check]) -> Check:
        try:
            check = fn()
        except Exception as exc:  # the submission's own code failed: report it, don't crash
            check = Check(name, False, _one_line(exc))
        checks.append(check)
        return check

    state: dict[str, object] = {}

    def encode_check() -> Check:
        z = model.encode(x)
        if not isinstance(z, Latents):
            return Check("encode", False, f"returned {type(z).__name__}, expected Latents")
        state["z"] = z
        want_s, want_d = (batch, s_dim), (batch, t, d_dim)
        if tuple(z.static.shape) != want_s or tuple(z.dynamic.shape) != want_d:
            return Check(
                "encode",
                False,
                f"static {list(z.static.shape)} / dynamic {list(z.dynamic.shape)}, "
                f"expected {list(want_s)} / {list(want_d)} (declared static_dim={s_dim}, dynamic_dim={d_dim})",
            )
        if z.static.dtype != torch.float32 or z.dynamic.dtype != torch.float32:
            return Check("encode", False, f"dtypes {z.static.dtype}/{z.dynamic.dtype}, expected float32")
        return Check("encode", True, f"static {list(want_s)}, dynamic {list(want_d)}, float32")

    attempt("encode", encode_check)  # a wrong rank fails inside Latents(...) and is reported here
    z = state.get("z")
    ok_encode = checks[-1].passed is True

    def after_encode(name: str, fn: Callable[[], Check]) -> None:
        if ok_encode:
            attempt(name, fn)
        else:
            checks.append(Check(name, None, "skipped: encode failed"))

    def decode_check() -> Check:
        assert isinstance(z, Latents)
        xh = model.decode(z)
        state["xh"] = xh
        if tuple(xh.shape) != tuple(x.shape):
            return Check("decode", False, f"output shape {list(xh.shape)}, expected the input's {list(x.shape)}")
        if xh.dtype != torch.float32:
            return Check("decode", False, f"output dtype {xh.dtype}, expected float32")
        if bounds is None:
            return Check("decode", True, f"{list(xh.shape)} ({modality}: unbounded)")
        low, high = bounds
        finite = xh[torch.isfinite(xh)]
        if finite.numel() and (float(finite.min()) < low or float(finite.max()) > high):
            return Check(
                "decode", False, f"values in [{float(finite.min()):.4g}, {float(finite.max()):.4g}], "
                f"expected [{low:g}, {high:g}] ({modality})"
            )
        return Check("decode", True, f"{list(xh.shape)} in [{low:g}, {high:g}]")

    after_encode("decode", decode_check)
    ok_decode = checks[-1].passed is True

    def finite_check() -> Check:
        assert isinstance(z, Latents)
        parts = {"static": z.static, "dynamic": z.dynamic}
        if "xh" in state:
            parts[f"decoded {modality}"] = state["xh"]  # type: ignore[assignment]
        bad = [k for k, v in parts.items() if not _finite(v)]
        if bad:
            return Check("finite", False, f"NaN or Inf in {', '.join(bad)}")
        return Check("finite", True, f"no NaN / Inf in latents or decoded {modality}")

    after_encode("finite", finite_check)

    def determinism_check() -> Check:
        assert isinstance(z, Latents)
        z2 = model.encode(x)
        d = max(_maxdiff(z.static, z2.static), _maxdiff(z.dynamic, z2.dynamic))
        if ok_decode:
            d = max(d, _maxdiff(state["xh"], model.decode(z2)))  # type: ignore[arg-type]
        if not d == 0.0:
            return Check("deterministic", False, f"two calls differ by {d:.3g} (expected identical outputs)")
        return Check("deterministic", True, "two calls give identical outputs")

    after_encode("deterministic", determinism_check)

    def batch_check() -> Check:
        assert isinstance(z, Latents)
        singles = [model.encode(x[i : i + 1]) for i in range(batch)]
        zs = Latents.cat(singles)
        d = max(_maxdiff(z.static, zs.static), _maxdiff(z.dynamic, zs.dynamic))
        if ok_decode:
            xs = torch.cat([model.decode(zi) for zi in singles])
            d = max(d, _maxdiff(state["xh"], xs))  # type: ignore[arg-type]
        if not d <= TOLERANCE:
            return Check("batch-invariant", False, f"batch 1 vs batch {batch} differ by {d:.3g} (> {TOLERANCE})")
        return Check("batch-invariant", True, f"batch 1 vs batch {batch}: max diff {d:.2g}")

    after_encode("batch-invariant", batch_check)

    for part in ("static", "dynamic"):
        name = f"prior {part}"
        if not has_prior(model, part):
            checks.append(Check(name, None, "no prior: generation metrics will be 'not applicable'"))
            continue

        def prior_check(part: str = part, name: str = name) -> Check:
            n = 3

            def draw() -> torch.Tensor:
                g = torch.Generator(device=model.device).manual_seed(7)
                if part == "static":
                    return model.sample_static(n, g)
                return model.sample_dynamic(n, t, g)

            a, b = draw(), draw()
            want = (n, s_dim) if part == "static" else (n, t, d_dim)
            if tuple(a.shape) != want:
                return Check(name, False, f"sample shape {list(a.shape)}, expected {list(want)}")
            if not _finite(a):
                return Check(name, False, "NaN or Inf in samples")
            if not torch.equal(a, b):
                return Check(name, False, "two draws with the same seed differ (expected reproducible samples)")
            return Check(name, True, f"{list(want)}, reproducible from a seed")

        attempt(name, prior_check)

    def swap_check() -> Check:
        assert isinstance(z, Latents)
        if batch < 2:
            return Check("swap", None, "needs a batch of at least 2")
        half = batch // 2
        za, zb = z[:half], z[half : 2 * half]
        mask = static_mask(s_dim, d_dim, device=model.device)
        swapped = swap(model, za, zb, mask)
        want = Latents(zb.static, za.dynamic)
        d_lat = max(_maxdiff(swapped.static, want.static), _maxdiff(swapped.dynamic, want.dynamic))
        d = _maxdiff(model.decode(swapped), model.decode(want)) if ok_decode else d_lat
        none = swap(model, za, zb, torch.zeros_like(mask))
        d_none = max(_maxdiff(none.static, za.static), _maxdiff(none.dynamic, za.dynamic))
        if not d <= TOLERANCE:
            return Check(
                "swap", False, f"swapping all static channels != decode(static_B, dynamic_A): differ by {d:.3g}"
            )
        if not d_none <= TOLERANCE:
            return Check("swap", False, f"swapping no channel changed the code by {d_none:.3g}")
        return Check("swap", True, "all-static swap == decode(static_B, dynamic_A)")

    after_encode("swap", swap_check)
    return checks


def validate_submission(
    path: str | Path,
    dataset: str | None = None,
    device: str = "cpu",
    trust_code: bool = False,
    batch: int = 4,
) -> ValidationReport:
    """Load ``path`` for ``dataset`` and run :func:`run_checks`; loading faults raise one-line errors."""
    model = load_submission(path, dataset=dataset, device=device, trust_code=trust_code)
    shape = expected_shape(model.dataset, model.entry, model.modality)
    report = ValidationReport(
        submission=f"{model.manifest.name} {model.manifest.version}",
        dataset=model.dataset,
        format=model.format,
        shape=shape,
        providers=list(model.providers),
        hashes=dict(model.artefact_hashes),
        modality=model.modality,
    )
    report.checks.append(Check("manifest", True, f"{model.manifest.format}, interface "
                                                 f"v{model.manifest.interface_version}, {model.modality}"))
    report.checks.append(Check("artefacts", True, f"{len(report.hashes)} file(s) inside the folder, hashed"))
    runtime = f"onnxruntime ({', '.join(model.providers)})" if model.format == "onnx" else "torch"
    report.checks.append(Check("load", True, f"{runtime} on {model.device}"))
    report.checks.extend(run_checks(model, shape, batch, model.modality))
    return report
