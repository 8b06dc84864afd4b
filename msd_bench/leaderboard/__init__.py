"""Results store, ranking and leaderboard renderers (md / csv / json / html / LaTeX / model-index).

Python API (see ``docs/leaderboard.md``)::

    from msd_bench.leaderboard import add_result, scan_store, build_leaderboard

    path = add_result(result, root="leaderboard")        # atomic; leaderboard/results/<protocol>/<sub>/<ver>/<ds>.json
    entries, problems = scan_store("leaderboard")        # never raises on a bad file; one-line problems
    report = build_leaderboard("leaderboard")            # writes leaderboard/<protocol>/{json,csv,md,html}

Nothing here imports torch: building a leaderboard is cheap.
"""

from __future__ import annotations

from .build import (
    ALL_FORMATS,
    DEFAULT_FORMATS,
    BoardConfig,
    BuildReport,
    build_leaderboard,
    load_config,
    make_boards,
)
from .diff import BoardDiff, diff_boards, load_board
from .ranking import average_ranks, borda, choose_key_scores, pareto_front
from .store import (
    DEFAULT_ROOT,
    DatasetRevision,
    LeaderboardError,
    Problem,
    Revisions,
    StoreEntry,
    add_result,
    current_revisions,
    pictures_dir,
    rerun_command,
    result_path,
    scan_store,
)

__all__ = [
    "ALL_FORMATS",
    "DEFAULT_FORMATS",
    "DEFAULT_ROOT",
    "BoardConfig",
    "BoardDiff",
    "BuildReport",
    "DatasetRevision",
    "LeaderboardError",
    "Problem",
    "Revisions",
    "StoreEntry",
    "add_result",
    "average_ranks",
    "borda",
    "build_leaderboard",
    "choose_key_scores",
    "current_revisions",
    "diff_boards",
    "load_board",
    "load_config",
    "make_boards",
    "pareto_front",
    "pictures_dir",
    "rerun_command",
    "result_path",
    "scan_store",
]
