"""`msd-bench --help` and every `msd-bench X --help` stay light: no torch, onnxruntime or sklearn import."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "onnxruntime", "sklearn")

# One subprocess walks the whole command tree: for every command path it runs `--help` in-process
# and records which heavy modules are loaded afterwards (they can only accumulate, so the first
# command that imports one is the culprit).
SCRIPT = r"""
import json, sys
import typer
from msd_bench.cli import app

root = typer.main.get_command(app)

def paths(cmd, prefix=()):
    yield prefix
    if getattr(cmd, "commands", None):
        for name in sorted(cmd.commands):
            yield from paths(cmd.commands[name], (*prefix, name))

report = []
for path in paths(root):
    try:
        app([*path, "--help"], prog_name="msd-bench", standalone_mode=False)
    except SystemExit:
        pass
    report.append([" ".join(path), sorted(m for m in HEAVY if m in sys.modules)])
print(json.dumps(report))
""".replace("HEAVY", repr(HEAVY))


def test_help_of_every_command_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    names = [p for p, _ in report]
    assert "" in names and "evaluate" in names and "leaderboard build" in names and len(names) > 15
    heavy = [(p or "msd-bench", mods) for p, mods in report if mods]
    assert not heavy, f"--help imports heavy libraries: {heavy}"


def _heavy_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1].replace("'", '"'))


def test_package_and_harness_import_lazily():
    assert _heavy_after("import msd_bench, msd_bench.harness, msd_bench.testing, msd_bench.leaderboard") == []
    # the lazy names still work (and only then import torch)
    assert _heavy_after("import msd_bench; msd_bench.evaluate; msd_bench.load_submission") == ["torch"]
    from msd_bench.harness import Latents, load_submission

    assert Latents.__name__ == "Latents" and load_submission.__module__ == "msd_bench.harness.loader"
