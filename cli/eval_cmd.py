"""`mlsd eval`: batch evaluation with a regression gate.

Exit status: 0 done (and no regression), 1 runtime error (e.g. empty store), 2 usage error
(bad flag, unreadable dataset or baseline, no valid rows), 3 a metric dropped more than
--max-drop compared with --baseline.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer

from cli.common import ChromaUrlOpt, StoreOpt, fail, make_settings, print_json, user_errors

SUMMARY_METRICS = (
    "mrr",
    "non_llm_context_precision_with_reference",
    "non_llm_context_recall",
    "non_llm_string_similarity",
    "rouge_score",
    "faithfulness",
    "answer_relevancy",
    "llm_context_precision_with_reference",
    "decline_rate",
)
SHORT = {
    "non_llm_context_precision_with_reference": "ctx_prec",
    "non_llm_context_recall": "ctx_rec",
    "non_llm_string_similarity": "str_sim",
    "rouge_score": "rouge",
    "faithfulness": "faithful",
    "answer_relevancy": "relevancy",
    "llm_context_precision_with_reference": "llm_ctx_prec",
    "decline_rate": "declined",
}


def _parse_modes(text: str) -> list[str]:
    from tools.search import MODES

    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        fail(f"--modes {text!r}: use a comma-separated list of {', '.join(MODES)}", 2)
    return list(dict.fromkeys(modes))


def _progress(tty: bool):
    """Progress on stderr: a bar on a terminal; plain lines in a log or a pipe (phase names,
    then `n/N` at every 10%), flushed at once so a watcher sees work from the first second."""
    from eval.phases import PHASE

    bar = None
    next_line = 0

    def line(text: str) -> None:
        print(f"eval: {text}", file=sys.stderr, flush=True)

    def update(done: int, total: int, label: str) -> None:
        nonlocal bar, next_line
        if label.startswith(PHASE):
            if bar is None:
                line(label[len(PHASE) :] + " ...")
            return
        if not tty:
            if done >= next_line or done >= total:
                line(f"{done}/{total} rows ({label[:40]})")
                step = max(1, total // 10)
                next_line = (done // step + 1) * step
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="eval", unit="q", file=sys.stderr)
        bar.set_postfix_str(label[:40], refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _print_summary(report, k: int) -> None:
    columns = [f"hit@{k}", "mrr", f"ndcg@{k}", f"recall@{k}", *SUMMARY_METRICS[1:]]
    present = [c for c in columns if any(c in r.metrics for r in report.modes.values())]
    typer.echo("mode     " + " ".join(f"{SHORT.get(c, c):>10}" for c in present))
    for mode, result in report.modes.items():
        cells = []
        for c in present:
            m = result.metrics.get(c)
            cells.append(f"{m.mean:>10.3f}" if m and m.mean is not None else f"{'–':>10}")
        typer.echo(f"{mode:<8} " + " ".join(cells))


def eval_(
    dataset: Path = typer.Option(None, "--dataset", help="JSONL dataset (default: golden set)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: .mlsd/eval/<time>)."),
    modes: str = typer.Option("hybrid,dense,bm25", "--modes", help="Retrieval modes to compare."),
    k: int = typer.Option(5, "-k", "--k", help="Passages retrieved per question."),
    llm: bool = typer.Option(False, "--llm", help="Answer with the LLM agent; add LLM metrics."),
    repeats: int = typer.Option(1, "--repeats", help="Runs of each LLM metric (variance)."),
    baseline: Path = typer.Option(None, "--baseline", help="A previous report.json to compare."),
    max_drop: float = typer.Option(0.02, "--max-drop", help="Largest allowed metric drop."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
    max_rows: int = typer.Option(
        5000, "--max-rows", help="Evaluate at most this many dataset rows (a runaway file)."
    ),
    store: Path = StoreOpt,
    chroma_url: str = ChromaUrlOpt,
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
) -> None:
    """Evaluate retrieval and answers on a dataset, per retrieval mode; optionally gate."""
    from eval.phases import PHASE  # cheap: the first line shows before anything heavy loads

    progress = _progress(sys.stderr.isatty())
    progress(0, 0, f"{PHASE}checking the options and the dataset")
    mode_list = _parse_modes(modes)
    if k < 1 or k > 50:
        fail("-k must be between 1 and 50", 2)
    if repeats < 1 or repeats > 20:
        fail("--repeats must be between 1 and 20", 2)
    if max_drop < 0:
        fail("--max-drop must be 0 or more", 2)
    if max_rows < 1:
        fail("--max-rows must be at least 1", 2)
    settings = make_settings(store, chroma_url)
    if llm and not settings.llm_enabled:
        fail("--llm needs an endpoint: set OPENAI_API_KEY and/or OPENAI_BASE_URL", 2)
    if repeats > 1 and not llm:
        typer.echo("note: --repeats only affects LLM metrics (use with --llm)", err=True)

    from core.errors import MlsdError
    from eval.dataset import load_dataset
    from eval.report import load_report, report_json, write_report

    path = dataset or settings.golden_path
    try:
        parsed = load_dataset(path, max_rows)
        base = load_report(baseline) if baseline is not None else None
    except MlsdError as exc:
        fail(str(exc), 2)
    for bad in parsed.bad_lines:
        typer.echo(f"skipped {path}:{bad.line}: {bad.reason}", err=True)

    from eval.runner import run_eval
    from tools.deps import Deps

    out_dir = out or settings.eval_dir / datetime.now().strftime("%Y%m%d-%H%M%S")  # run start

    with user_errors():
        report = run_eval(
            Deps(settings),
            path,
            mode_list,
            k,
            llm=llm,
            repeats=repeats,
            progress=progress,
            max_rows=max_rows,
        )
        paths = write_report(report, out_dir, plots=plots and not report.interrupted)
    if report.interrupted:
        typer.echo(
            f"interrupted: partial report ({_rows_done(report)} rows) in {out_dir}", err=True
        )
        raise typer.Exit(130)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        print_json(report_json(report))
    else:
        _print_summary(report, k)
        typer.echo(f"report: {paths['md']}")
    if base is None:
        raise typer.Exit(0)
    from eval.gate import EXIT_REGRESSION, compare

    gate = compare(base, report_json(report), max_drop)
    stream_err = as_json  # keep stdout pure JSON with --json
    for line in gate.lines():
        typer.echo(line, err=stream_err)
    if gate.passed:
        typer.echo(f"gate: passed (no metric dropped more than {max_drop})", err=stream_err)
        raise typer.Exit(0)
    typer.echo(
        f"gate: FAILED, {len(gate.regressions)} metric(s) dropped more than {max_drop}", err=True
    )
    raise typer.Exit(EXIT_REGRESSION)


def _rows_done(report) -> int:
    return sum(len(result.rows) for result in report.modes.values())


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
