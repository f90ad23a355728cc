"""Learner history benchmark (issue #18). Writes bench/results/progress.json.

Fills a fresh SQLite history with N attempts shaped like the grader's reports (every rubric
stage and criterion, random statuses), timing each save (the cost a critique pays for being
remembered; target median <= 20 ms). Then times `mlsd progress` and `mlsd progress --json` as
the learner runs them (a new process each time; the first run is cold, the target applies to
the warm median, <= 1 s), `overview.build` in process, and renders the Progress page with
AppTest: the first visit in a fresh app process (`page_render_s`, what a learner waits for
after opening the app; target <= 1 s) and a second visit (`page_render_warm_s`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402

SAVE_TARGET_MS = 20.0
PROGRESS_TARGET_S = 1.0
STATUSES = ["met", "met", "partial", "missing"]


def fake_report(rubric, rng: random.Random, i: int, n: int) -> dict:
    stages = []
    for stage in rubric.stages:
        criteria = [
            {"id": c.id, "status": rng.choice(STATUSES), "expected": True,
             "description": c.description, "evidence": "", "follow_up": c.follow_up}
            for c in stage.criteria
        ]  # fmt: skip
        stages.append(
            {"id": stage.id, "name": stage.name, "score": rng.randint(10, 95),
             "share_of_design": rng.uniform(0.0, 0.3), "budget_share": 1 / len(rubric.stages),
             "words": rng.randint(0, 300), "criteria": criteria, "red_flags": []}
        )  # fmt: skip
    return {"overall": min(100, 30 + 50 * i // n + rng.randint(-10, 10)), "is_design": True,
            "level": "senior", "stages": stages, "words": 900, "summary": "bench"}  # fmt: skip


CPU: list[float] = []  # CPU seconds (user + system) of each CLI run, in call order


def run_cli(args: list[str], env: dict) -> float:
    """Wall seconds of one `mlsd` process; its CPU seconds are appended to CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"mlsd {' '.join(args)} failed: {out.stderr.strip()[:300]}")
    return seconds


def render_page(env: dict) -> tuple[float, float]:
    """Seconds of the first and of a second run of the Progress page (app.py included)."""
    from streamlit.testing.v1 import AppTest

    os.environ.update(env)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        at.switch_page("ui/progress.py").run()
        runs.append(time.perf_counter() - start)
        if at.exception:
            raise SystemExit(f"Progress page failed: {at.exception[0].value}")
    return runs[0], runs[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--no-page", action="store_true", help="skip the AppTest render")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "progress.json")
    args = parser.parse_args()

    import_start = time.perf_counter()
    from progress import history, overview

    import_ms = (time.perf_counter() - import_start) * 1000
    tmp = Path(tempfile.mkdtemp(prefix="mlsd-bench-progress-"))
    url = f"sqlite:///{tmp / 'mlsd.db'}"
    settings = Settings(database_url=url)
    rubric = overview.load_rubric(settings)
    rng = random.Random(18)
    start_day = datetime.now(UTC) - timedelta(days=args.attempts // 3)
    reports = [fake_report(rubric, rng, i, args.attempts) for i in range(args.attempts)]
    first_start = time.perf_counter()
    history.save_attempt(settings, reports[0], at=start_day)
    first_save_ms = (time.perf_counter() - first_start) * 1000
    saves = []
    for i, report in enumerate(reports[1:], 1):
        t = time.perf_counter()
        history.save_attempt(
            settings, report, at=start_day + timedelta(hours=4 * i), problem=f"p{i % 14}"
        )
        saves.append((time.perf_counter() - t) * 1000)
    build_runs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        summary = overview.build(settings)
        build_runs.append(time.perf_counter() - t)

    env = {**os.environ, "MLSD_DATABASE_URL": url, "MLSD_APP_WARMUP": "false"}
    table = [run_cli(["progress"], env) for _ in range(args.runs)]
    as_json = [run_cli(["progress", "--json"], env) for _ in range(args.runs)]
    page_s, page_warm_s = (None, None) if args.no_page else render_page(env)
    warm_table = statistics.median(table[1:])
    warm_json = statistics.median(as_json[1:])
    save_median = statistics.median(saves)
    result = {
        "attempts": summary["attempts"],
        "db_bytes": (tmp / "mlsd.db").stat().st_size,
        "criteria_rows": sum(len(s.criteria) for s in rubric.stages) * args.attempts,
        "import_progress_ms": round(import_ms, 1),
        "first_save_ms": round(first_save_ms, 2),  # engine, schema creation, first insert
        "save_median_ms": round(save_median, 2),
        "save_p95_ms": round(sorted(saves)[int(0.95 * len(saves))], 2),
        "build_median_s": round(statistics.median(build_runs), 4),
        "cli_progress_s": [round(x, 3) for x in table],
        "cli_progress_json_s": [round(x, 3) for x in as_json],
        "cli_progress_warm_median_s": round(warm_table, 3),
        "cli_progress_json_warm_median_s": round(warm_json, 3),
        "cli_progress_cpu_s": [round(x, 3) for x in CPU[: args.runs]],
        "cli_progress_json_cpu_s": [round(x, 3) for x in CPU[args.runs :]],
        "cli_help_s": round(run_cli(["--help"], env), 3),  # the floor: start, no command
        "cli_help_cpu_s": round(CPU[-1], 3),
        "page_render_s": None if page_s is None else round(page_s, 3),
        "page_render_warm_s": None if page_warm_s is None else round(page_warm_s, 3),
        "summary_reader": overview.read_history(settings)[2],  # sqlite: no SQLAlchemy import
        "targets": {
            "save_median_ms": SAVE_TARGET_MS,
            "cli_progress_warm_s": PROGRESS_TARGET_S,
            "page_render_s": PROGRESS_TARGET_S,
        },
        "meets_targets": save_median <= SAVE_TARGET_MS
        and max(warm_table, warm_json) <= PROGRESS_TARGET_S
        and (args.no_page or (page_s is not None and page_s <= PROGRESS_TARGET_S)),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".json.tmp")
    partial.write_text(json.dumps(result, indent=2) + "\n")
    partial.replace(args.out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
