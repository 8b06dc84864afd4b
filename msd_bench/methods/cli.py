"""`msd-bench train METHOD --dataset NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_utils import console, handle_errors


@handle_errors
def train(
    method: str = typer.Argument(..., help="Reference method: frame-vae, lstm-vae, content-motion-vae, dsvae, "
                                           "c-dsvae (video only), skd, beta-vae, lambda-beta-vae."),
    dataset: str = typer.Option("sprites", "--dataset", "-d", help="Built-in dataset to train on."),
    epochs: int = typer.Option(None, "--epochs", "-e", help="Epochs over the train split (default: budgeted "
                                                            "per dataset: 8 on sprites, 3 on dsprites-dynamic, "
                                                            "2 on dmelodies, 5 on air-quality)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, data order and noise."),
    size: str = typer.Option("full", "--size", help="Dataset size to train on: small or full."),
    out: Path = typer.Option(None, "--out", "-o", help="Submission folder to write "
                                                       "(default: submissions/METHOD-DATASET)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint of an earlier run with "
                                                        "the same settings (more --epochs extends it)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per step."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (1 is fastest on a busy 2-core machine)."),
    checkpoint_dir: Path = typer.Option(None, "--checkpoint-dir", help="Where checkpoints go (default: "
                                                                       "$MSD_BENCH_CACHE/checkpoints)."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Also export an ONNX copy into OUT/onnx."),
) -> None:
    """Train a reference method and export it as a submission folder.

    Training is deterministic (same settings and seed give the same weights), shows a progress bar,
    checkpoints every epoch (safetensors: model, optimiser, RNG state) so an interrupted run continues
    with --resume, and ends by writing OUT (submission.yaml, model.py, model.safetensors, training.json,
    onnx/). Check the result with `msd-bench validate OUT --trust-code`.

    Example: msd-bench train dsvae --dataset sprites --epochs 4
    """
    import time

    from ..datasets import cache_root, open_dataset
    from ..datasets.registry import SIZES
    from . import MethodError, get_method
    from .export import export_submission
    from .training import finalize_model, make_settings, train_model

    get_method(method)
    if size not in SIZES:
        raise MethodError(f"--size is {size!r}; expected one of {', '.join(SIZES)}")
    ds = open_dataset(dataset, size=size)
    settings = make_settings(method, ds, size=size, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr)
    out = out or Path("submissions") / f"{method}-{dataset}"
    ckdir = checkpoint_dir or cache_root() / "checkpoints"
    ckpt = Path(ckdir) / f"{method}-{dataset}-{size}-seed{seed}.safetensors"
    t0 = time.perf_counter()
    result = train_model(ds, settings, checkpoint=ckpt, resume=resume, progress=True, threads=threads)
    extra = finalize_model(result.model, ds, settings)
    sample, _ = ds.read(ds.indices("test")[:1])
    import torch

    training = {
        "method": method, "dataset": dataset, "size": size, "seed": seed, "epochs": settings.epochs,
        "batch_size": batch_size, "lr": lr, "threads": threads, "steps": result.steps,
        "train_seconds": round(result.seconds, 1), "history": result.history, "model": settings.model,
        **({"finalize": extra} if extra else {}),
    }
    from ..datasets import to_model_input
    from ..harness.modality import dataset_modality

    export_submission(result.model, out, dataset, training, onnx=onnx,
                      sample=to_model_input(torch.from_numpy(sample), dataset_modality(ds)))
    console.print(f"trained {method} on {dataset} ({size}) for {settings.epochs} epochs, {result.steps} steps, "
                  f"{result.seconds:.0f} s of training ({time.perf_counter() - t0:.0f} s in all)")
    console.print(f"wrote {out}  (check it: msd-bench validate {out} --trust-code)")
