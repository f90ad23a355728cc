"""Grading one design: `grade_design` and the `critique_design` tool put the grader together.

`grade_design` splits the design into sentences, judges every rubric criterion met / partial /
missing (or n/a for the problem type) from verbatim evidence (a trained classifier over what each
sentence says, with concept phrases as cues; a negated mention such as "we won't monitor it"
is not evidence), rejects texts that propose no system, detects red flags from the rubric's detect
specs, scores each stage and the whole design for a level, links the corpus passage that
teaches each missing criterion, and lays the rubric's time budget next to how much of the
design each stage got. The pasted text is data: sentences addressed to the grader are set
aside and can neither add nor remove evidence. Same input, same output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.settings import Settings
from tools.grader.design_check import design_signals, proposes_a_system
from tools.grader.evidence import (
    context_strings,
    evidence_probabilities,
    judge_criteria,
    load_evidence_model,
)
from tools.grader.match import attribute_stages, criterion_index, detect_red_flags, phrase_hits
from tools.grader.negation import drop_negated
from tools.grader.problem_type import detect_problem_type, not_applicable
from tools.grader.refs import Reference, references_for
from tools.grader.report import (
    CriterionResult,
    CritiqueReport,
    RedFlagResult,
    StageReport,
    render_markdown,
    summarize,
)
from tools.grader.structure import document_outline
from tools.grader.text import (
    Passage,
    count_words,
    find_phrases,
    is_bare_label,
    is_instruction,
    normalize,
    split_passages,
    truncate_words,
)
from tools.rubric import LEVELS, Rubric, level_applies

__all__ = [
    "CriterionResult",
    "CritiqueReport",
    "StageReport",
    "critique_design",
    "grade_design",
    "render_markdown",
]

log = logging.getLogger(__name__)

CREDIT = {"met": 1.0, "partial": 0.5, "missing": 0.0}
BONUS_CREDIT = 0.5  # a criterion above the candidate's level adds half its credit, never costs

# What makes a text a design at all (tuned on tests/designs: recipes and poems score far below).
MIN_DESIGN_WORDS = 8
MIN_DESIGN_TERMS = 0  # the trained check in design_check.py decides (weak designs use few)
MIN_EVIDENCED_CRITERIA = 1
MIN_AFFINITY = 0.30  # mean of the best sentences' similarity to their closest criterion
# Sentences vary from 3 to 45 words: small batches pad less (bench: 8 is ~40% faster than 64).
ENCODE_BATCH = 8


def _default_max_words() -> int:
    return int(Settings.model_fields["max_design_words"].default)


def grade_design(
    design: str,
    level: str = "senior",
    *,
    rubric: Rubric,
    embedder,
    retriever=None,
    max_words: int | None = None,
    cache_dir: Path | None = None,
) -> CritiqueReport:
    """Grade a design against the rubric for a level (mid, senior, staff).

    `retriever` (a tools.search.Retriever) links missing criteria to corpus sections; without
    it, or when search fails, the rubric's `teaches` documents are used. `max_words` defaults
    to Settings.max_design_words; `cache_dir` keeps criterion embeddings on disk.
    Raises InputError for an empty design or an unknown level.
    """
    if design is None or not design.strip():
        raise InputError("The design is empty: paste the text of your design and try again.")
    level = (level or "senior").strip().lower()
    if level not in LEVELS:
        raise InputError(f"Unknown level {level!r}: choose one of {', '.join(LEVELS)}.")
    limit = max_words or _default_max_words()
    total_words = count_words(design)
    text, truncated = truncate_words(design, limit)
    notices = []
    if truncated:
        notices.append(
            f"The design has {total_words:,} words; only the first {limit:,} were graded "
            "(MLSD_MAX_DESIGN_WORDS)."
        )

    passages = split_passages(text)
    keywords = _label_keywords(rubric)
    for p in passages:
        p.instruction = not p.is_heading and is_instruction(p.text)
        p.extra["label"] = not p.is_heading and is_bare_label(p.text, keywords)
    evidence = [p for p in passages if not (p.is_heading or p.instruction or p.extra["label"])]
    ignored = [p.text for p in passages if p.instruction]
    if ignored:
        notices.append(
            f"{len(ignored)} sentence(s) addressed to the grader were treated as data and ignored."
        )

    index = criterion_index(rubric, embedder, cache_dir)
    if evidence:
        texts = [p.text for p in evidence]
        vectors = np.asarray(embedder.encode(texts, batch_size=ENCODE_BATCH), dtype=np.float32)
    else:
        vectors = np.zeros((0, index.descriptions.shape[1]), dtype=np.float32)
    desc, sims = index.similarity(vectors)
    hits = phrase_hits(evidence, index)
    attribute_stages(evidence, hits, sims, index, rubric)
    desc, sims = drop_negated(evidence, hits, desc, sims, index.criteria, rubric)
    model = load_evidence_model()
    probs = None
    if model is not None:
        texts = [p.text for p in evidence]
        own = [p.extra["own_phrase_counts"] for p in evidence]
        probs = evidence_probabilities(model, vectors, hits, desc, sims, index, texts, own)
        read, rdesc, rsims = _in_context(text, evidence, vectors, desc, sims, index, embedder)
        if read is not vectors:  # a bullet evidences what it says alone or under its heading
            ctx = evidence_probabilities(model, read, hits, rdesc, rsims, index, texts, own)
            probs = np.maximum(probs, ctx)
    judgements = judge_criteria(evidence, hits, desc, sims, index, probs)
    for j in judgements.values():  # a quote that is not verbatim in the design is not evidence
        if j.status != "missing" and (not j.evidence or j.evidence not in design):
            j.status, j.evidence, j.phrases = "missing", "", []
    is_design, why_not = _design_check(evidence, judgements, sims, rubric)
    if is_design and probs is not None:
        stage_ids = rubric.stage_ids
        stage_of = [stage_ids.index(sid) for sid, _ in index.criteria]
        headings = [p.text for p in passages if p.is_heading]
        outline = document_outline(design, headings, rubric)  # title and stage skeleton
        texts = [p.text for p in evidence]
        signals = design_signals(texts, probs, stage_of, headings, vectors, outline=outline)
        log.debug("design signals: %s", signals)
        is_design, why_not = proposes_a_system(signals)

    all_flags = [flag for stage in rubric.stages for flag in stage.red_flags]
    fired = {hit.flag.id: hit for hit in detect_red_flags(evidence, all_flags)} if is_design else {}

    framing = [p.stage == "problem_framing" for p in evidence]
    problem_type = detect_problem_type([p.text for p in evidence], framing) if is_design else ""
    for criterion_id in not_applicable(problem_type) & set(judgements):
        judgements[criterion_id].status = "n/a"
        judgements[criterion_id].evidence, judgements[criterion_id].phrases = "", []
    missing_criteria = [c for _, c in index.criteria if judgements[c.id].status == "missing"]
    refs = references_for(missing_criteria, rubric.corpus_dir, retriever)

    body_words = sum(p.words for p in passages if not p.is_heading) or 1
    stages: list[StageReport] = []
    for stage in rubric.stages:
        results = []
        for c in stage.criteria:
            j = judgements[c.id]
            results.append(
                CriterionResult(
                    id=c.id,
                    status=j.status,
                    evidence=j.evidence,
                    description=c.description,
                    expected=level_applies(c, level),
                    similarity=j.similarity,
                    phrases=j.phrases,
                    follow_up=c.follow_up if j.status in ("partial", "missing") else "",
                    reference=refs.get(c.id) if j.status == "missing" else None,
                )
            )
        flags = [
            RedFlagResult(
                id=f.id,
                description=f.description,
                evidence=fired[f.id].evidence,
                penalty=f.penalty,
                teaches=f.teaches,
            )
            for f in stage.red_flags
            if f.id in fired
        ]
        words = sum(p.words for p in evidence if p.stage == stage.id)
        stages.append(
            StageReport(
                id=stage.id,
                name=stage.name,
                score=_stage_score(results, flags) if is_design else 0,
                time_budget_min=stage.time_budget_min,
                share_of_design=round(words / body_words, 3),
                criteria=results,
                missing=[r.id for r in results if r.status == "missing"],
                red_flags=[f.id for f in flags],
                references=_unique_refs(r.reference for r in results if r.status == "missing"),
                budget_share=round(stage.time_budget_min / rubric.interview_minutes, 3),
                weight=stage.weight[level],
                words=words,
                expectation=stage.expectations[level],
                red_flag_details=flags,
            )
        )
    overall = _overall(stages) if is_design else 0
    report = CritiqueReport(
        overall=overall,
        is_design=is_design,
        level=level,
        stages=stages,
        summary="",
        notices=notices,
        ignored_instructions=ignored,
        words=total_words,
        graded_words=count_words(text),
        truncated=truncated,
        rubric_version=rubric.version,
        problem_type=problem_type,
    )
    report.summary = summarize(report, why_not)
    return report


def _in_context(text: str, evidence: list[Passage], vectors, desc, sims, index, embedder):
    """(vectors, desc, sims) as the evidence model reads them: a short bullet embedded after
    its heading and parent line (`evidence.context_strings`); only those are encoded again.
    Cells the design negates stay blocked."""
    read = context_strings(evidence, text)
    redo = [i for i, p in enumerate(evidence) if read[i] != p.text]
    if not redo:
        return vectors, desc, sims
    vectors = vectors.copy()
    batch = [read[i] for i in redo]
    vectors[redo] = np.asarray(embedder.encode(batch, batch_size=ENCODE_BATCH), dtype=np.float32)
    rdesc, rsims = index.similarity(vectors)
    blocked = desc <= -1.0
    return vectors, np.where(blocked, -1.0, rdesc), np.where(blocked, -1.0, rsims)


def _label_keywords(rubric: Rubric) -> tuple[str, ...]:
    """The words that name a stage's topic: its name, its heading keywords and the phrases of
    its absence red flags ("rollback", "canary"), word by word."""
    words = set()
    for stage in rubric.stages:
        texts = [stage.name, *stage.heading_keywords]
        for flag in stage.red_flags:
            if flag.detect.kind == "absent":
                texts.extend(flag.detect.phrases)
        words.update(w for text in texts for w in normalize(text).split() if len(w) > 2)
    return tuple(sorted(words))


def _stage_score(results: list[CriterionResult], flags: list[RedFlagResult]) -> int:
    """Share of the expected criteria evidenced (bonus criteria top it up), scaled down by
    each red flag's penalty (a percentage, so evidence always keeps some credit)."""
    results = [r for r in results if r.status != "n/a"]  # cannot apply: not scored
    expected = [r for r in results if r.expected]
    earned = sum(CREDIT[r.status] for r in expected)
    earned += BONUS_CREDIT * sum(CREDIT[r.status] for r in results if not r.expected)
    score = 100.0 * min(1.0, earned / max(len(expected), 1))
    for flag in flags:
        score *= 1.0 - flag.penalty / 100.0
    return int(round(score))


def _overall(stages: list[StageReport]) -> int:
    total = sum(s.weight for s in stages) or 1.0
    return int(round(sum(s.weight * s.score for s in stages) / total))


def _unique_refs(refs) -> list[Reference]:
    seen, out = set(), []
    for ref in refs:
        if ref is not None and (ref.source, ref.section) not in seen:
            seen.add((ref.source, ref.section))
            out.append(ref)
    return out


def _design_check(
    evidence: list[Passage], judgements: dict, sims: np.ndarray, rubric: Rubric
) -> tuple[bool, str]:
    """Whether the text is an ML system design at all, and if not, why (for the summary)."""
    words = sum(p.words for p in evidence)
    if words < MIN_DESIGN_WORDS:
        return False, f"it has only {words} words of content outside headings and instructions"
    joined = "".join(p.norm for p in evidence)
    terms = len(find_phrases(joined, rubric.design_terms))
    evidenced = sum(1 for j in judgements.values() if j.status != "missing")
    best = np.sort(sims.max(axis=1))[::-1][:5] if len(sims) else np.zeros(1)
    affinity = float(best.mean())
    log.debug(
        "design check: words=%d terms=%d evidenced=%d affinity=%.3f",
        words,
        terms,
        evidenced,
        affinity,
    )
    if terms < MIN_DESIGN_TERMS or evidenced < MIN_EVIDENCED_CRITERIA or affinity < MIN_AFFINITY:
        return False, (
            f"it uses {terms} ML design terms and gives evidence for {evidenced} of "
            f"{len(judgements)} rubric criteria"
        )
    return True, ""


def critique_design(deps, design: str, level: str = "senior") -> CritiqueReport:
    """Grade a pasted ML system design against the interview rubric.

    Returns per-stage scores (0-100), met / partial / missing criteria with verbatim evidence,
    red flags, links to the corpus section that teaches each missing criterion, a time plan
    (budget minutes versus share of the design) and an overall score for the level.
    Raises InputError for an empty design.

    Args:
        design: the full text of the design (markdown or plain text).
        level: the candidate's target level: mid, senior (default) or staff.
    """
    return grade_design(
        design,
        level,
        rubric=deps.rubric,
        embedder=deps.embedder,
        retriever=deps.retriever,
        max_words=deps.settings.max_design_words,
        cache_dir=deps.settings.model_cache_dir,
    )
