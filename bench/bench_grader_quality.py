"""Grader quality against a senior reader's labels (issue #16): bench/results/grader_quality.json.

Grades every file listed in eval/datasets/grader_dev/labels.jsonl (designs/ and nondesigns/)
with the project's grader at one level and compares it with the labels:

- credit precision / recall: a criterion "earns credit" when it is met or partial; criteria the
  reader labelled n/a are left out; computed over the design files;
- Spearman rank correlation of the grader's overall score with `reader_overall` over designs;
- the non-design confusion (is_design predicted vs label), and whether rejected texts score 0;
- problem-type accuracy and n/a agreement when the grader reports them.

labels_fresh.jsonl (the fresh/ folder: written blind, without seeing the grader or its training
data) is reported as its own set. When ../shared exists, the public note-style designs, blog
posts and interview-advice articles there are graded too, with the labels in labels_shared.jsonl
(reported as a separate set; the texts stay outside the project).

These labels are for judging only: never train or tune the grader on them (see the README next
to them). Usage: python bench/bench_grader_quality.py [--level senior] [--out PATH]

Each set is also summarized "assuming design" (`by_set_assume_design`): a design the not-a-design
check rejected is graded again with that check bypassed, so the evidence model's credit and the
score formula can be measured apart from the check (the check's own errors stay in the
confusion counts of the plain summary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402

DEV = ROOT / "eval" / "datasets" / "grader_dev"
SHARED = ROOT.parent / "shared"  # outside material, development only
CREDIT = {"met", "partial"}
TARGETS = {"credit_precision": 0.85, "credit_recall": 0.80, "spearman": 0.90}


def load_labels(path: Path = DEV / "labels.jsonl") -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_text(path: Path) -> str:
    """The text a user would paste: outside files lose their one-line source comment."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("<!--"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    return text


def spearman(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(xs) < 3:
        return float("nan")
    return float(spearmanr(xs, ys).statistic)


def criterion_statuses(report) -> dict[str, str]:
    return {c.id: c.status for stage in report.stages for c in stage.criteria}


def compare(label: dict, report) -> dict:
    """One file's comparison: credit agreement per criterion and the disagreements by name."""
    predicted = criterion_statuses(report)
    row = {
        "file": label["file"],
        "is_design": label["is_design"],
        "predicted_is_design": bool(report.is_design),
        "reader_overall": label["reader_overall"],
        "overall": int(report.overall),
        "problem_type": label.get("problem_type"),
        "predicted_problem_type": getattr(report, "problem_type", None),
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "tn": 0,
        "false_credit": [],
        "missed_credit": [],
        "unlabelled": sorted(set(predicted) - set(label["criteria"])),
        "na_labelled": 0,
        "na_agreed": 0,
    }
    for cid, truth in label["criteria"].items():
        got = predicted.get(cid, "missing")
        if truth == "n/a":
            row["na_labelled"] += 1
            row["na_agreed"] += got == "n/a"
            continue
        earned, credited = truth in CREDIT, got in CREDIT
        key = {(True, True): "tp", (False, True): "fp", (True, False): "fn"}.get(
            (earned, credited), "tn"
        )
        row[key] += 1
        if key == "fp":
            row["false_credit"].append(cid)
        elif key == "fn":
            row["missed_credit"].append(cid)
    return row


def summarize(rows: list[dict], level: str) -> dict:
    designs = [r for r in rows if r["is_design"]]
    tp, fp, fn = (sum(r[k] for r in designs) for k in ("tp", "fp", "fn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    rho = spearman([r["overall"] for r in designs], [r["reader_overall"] for r in designs])
    confusion = {
        "design_as_design": sum(r["is_design"] and r["predicted_is_design"] for r in rows),
        "design_as_nondesign": sum(r["is_design"] and not r["predicted_is_design"] for r in rows),
        "nondesign_as_design": sum(not r["is_design"] and r["predicted_is_design"] for r in rows),
        "nondesign_as_nondesign": sum(
            not r["is_design"] and not r["predicted_is_design"] for r in rows
        ),
    }
    nondesigns = [r for r in rows if not r["is_design"]]
    typed = [r for r in designs if r["predicted_problem_type"] is not None]
    na_labelled = sum(r["na_labelled"] for r in designs)
    right_type = sum(r["predicted_problem_type"] == r["problem_type"] for r in typed)
    type_accuracy = round(right_type / len(typed), 3) if typed else None
    summary = {
        "level": level,
        "designs": len(designs),
        "nondesigns": len(nondesigns),
        "credit_precision": round(precision, 3),
        "credit_recall": round(recall, 3),
        "credit_counts": {"tp": tp, "fp": fp, "fn": fn},
        "spearman_overall_vs_reader": round(rho, 3),
        "nondesign_confusion": confusion,
        "nondesigns_scored_zero": sum(r["overall"] == 0 for r in nondesigns),
        "problem_type_accuracy": type_accuracy,
        "na_labelled": na_labelled,
        "na_recovered": sum(r["na_agreed"] for r in designs) if na_labelled else 0,
        "targets": TARGETS,
    }
    summary["meets_targets"] = (
        precision >= TARGETS["credit_precision"]
        and recall >= TARGETS["credit_recall"]
        and rho >= TARGETS["spearman"]
        and confusion["nondesign_as_design"] == 0
        and confusion["design_as_nondesign"] == 0
    )
    return summary


def print_table(rows: list[dict], summary: dict) -> None:
    print(f"{'file':45} {'design':>6} {'pred':>5} {'reader':>6} {'grader':>6}  disagreements")
    for r in rows:
        diff = [f"+{c}" for c in r["false_credit"]] + [f"-{c}" for c in r["missed_credit"]]
        print(
            f"{r['file']:45} {str(r['is_design']):>6} {str(r['predicted_is_design']):>5} "
            f"{r['reader_overall']:>6} {r['overall']:>6}  {' '.join(diff)}"
        )
    print()
    print(
        f"credit precision {summary['credit_precision']:.3f}  recall {summary['credit_recall']:.3f}"
        f"  spearman {summary['spearman_overall_vs_reader']:.3f}"
        f"  non-design confusion {summary['nondesign_confusion']}"
    )


@contextlib.contextmanager
def design_check_bypassed():
    """Grade as if the not-a-design check accepted the text (measurement only)."""
    from tools.grader import grade

    saved = grade._design_check, grade.proposes_a_system
    grade._design_check = lambda *args, **kwargs: (True, "")
    grade.proposes_a_system = lambda *args, **kwargs: (True, "")
    try:
        yield
    finally:
        grade._design_check, grade.proposes_a_system = saved


def provenance() -> dict:
    """Which grader produced the numbers: the commit, and whether grader files had local edits."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        except OSError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "tools", "corpus/rubric.yaml")
    return {"commit": git("rev-parse", "--short", "HEAD"), "grader_files_modified": bool(dirty)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="senior")
    parser.add_argument("--labels", type=Path, default=DEV / "labels.jsonl")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "grader_quality.json"
    )
    args = parser.parse_args()

    settings = Settings()
    apply_offline_env(settings.embed_model)
    from tools.deps import Deps
    from tools.grader import grade_design

    deps = Deps(settings)  # the embedder and rubric every command loads
    embedder, rubric = deps.embedder, deps.rubric
    sets = [("own", args.labels, args.labels.parent)]
    fresh_labels = args.labels.parent / "labels_fresh.jsonl"
    if fresh_labels.is_file():  # written blind, without seeing the grader: the honest check
        sets.append(("fresh", fresh_labels, args.labels.parent))
    shared_labels = args.labels.parent / "labels_shared.jsonl"
    if SHARED.is_dir() and shared_labels.is_file():
        sets.append(("shared", shared_labels, SHARED))
    else:
        print(f"{SHARED} is absent: grading only the project's own dev texts")
    rows, assumed = [], []
    for name, labels_path, base in sets:
        for label in load_labels(labels_path):
            text = read_text(base / label["file"])
            report = grade_design(text, args.level, rubric=rubric, embedder=embedder)
            rows.append({"set": name, **compare(label, report)})
            if label["is_design"] and not report.is_design:
                with design_check_bypassed():
                    report = grade_design(text, args.level, rubric=rubric, embedder=embedder)
            assumed.append({"set": name, **compare(label, report)})
    summary = summarize([r for r in rows if r["set"] == "own"], args.level)
    summary.update(provenance())
    by_set = {
        name: summarize([r for r in rows if r["set"] == name], args.level) for name, *_ in sets
    }
    by_set_assumed = {
        name: summarize([r for r in assumed if r["set"] == name], args.level) for name, *_ in sets
    }
    if len(sets) > 1:
        by_set["all"] = summarize(rows, args.level)
    print_table(rows, summary)
    for name, result in by_set.items():
        print(
            f"[{name}] precision {result['credit_precision']:.3f} recall "
            f"{result['credit_recall']:.3f} spearman {result['spearman_overall_vs_reader']:.3f} "
            f"non-designs taken for designs {result['nondesign_confusion']['nondesign_as_design']}"
            f"/{result['nondesigns']}"
        )
    for name, result in by_set_assumed.items():
        print(
            f"[{name}, assuming design] precision {result['credit_precision']:.3f} recall "
            f"{result['credit_recall']:.3f} spearman {result['spearman_overall_vs_reader']:.3f}"
        )
    payload = {
        "summary": summary,
        "by_set": by_set,
        "by_set_assume_design": by_set_assumed,
        "files": rows,
        "files_assume_design": [r for r in assumed if r["is_design"]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
