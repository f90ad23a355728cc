"""Train the design grader's evidence model: tools/grader/evidence_model.npz.

Reads the labelled sentences in eval/datasets/grader_train/*.txt (format in its README), embeds
them with the shipped model, and fits two small logistic regressions (tools/grader/evidence.py):
criterion evidence (shared weights, one calibrated intercept per criterion) and design voice.
Features of a training sentence are computed leave-one-out (its own exemplar is masked), so the
weights learn from how new sentences look. Also prints 5-fold held-out precision / recall of
sentence-level credit. Deterministic: same data, same artefact.

Usage: .venv/bin/python scripts/train_grader.py [--check-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import apply_offline_env  # noqa: E402
from core.settings import Settings  # noqa: E402

DATA = ROOT / "eval" / "datasets" / "grader_train"
HARD_NEGATIVE_WEIGHT = 3.0
EXPLAINER_WEIGHT = 0.3
RIDGE_W = 1e-2  # on the shared weights
RIDGE_B = 1.0  # per-criterion intercepts shrink toward the shared one
# Per-criterion deviations from the shared weights (ridge toward 0; off at 0). Without the
# probes they moved held-out document F1 little (0.734 off, 0.744 at 2.0) and stayed off; with
# the probes (a criterion may trust its probe more or less than the exemplars), the held-out
# simulated documents at the partial threshold go from p/r 0.618/0.946 (off) to 0.629/0.947
# at 2 (1: 0.637/0.941, 3: 0.627/0.947, 5: 0.625/0.946, 10: 0.621/0.947). A gain that small is
# within the noise of 5 folds, and on the judging sets (looked at once) credit precision fell
# (own 0.829 -> 0.822, shared 0.733 -> 0.706): they stay off, one shared weight vector.
RIDGE_DELTA = float(os.environ.get("GRADER_RIDGE_DELTA", "0"))
# Ablation: read every training line alone, ignoring `> Heading` lines (compare held-out).
NO_CONTEXT = os.environ.get("GRADER_NO_CONTEXT", "") == "1"
# Ridge of the per-criterion linear probes on embeddings (evidence.fit_probes), chosen by the
# held-out folds below; GRADER_PROBE_RIDGE=0 leaves the probes out (ablation).
PROBE_RIDGE = float(os.environ.get("GRADER_PROBE_RIDGE", "1"))
INNER_FOLDS = 5
# The probes also read the words of the sentence (evidence.lexical_features) unless
# GRADER_LEXICAL=0 (ablation).
LEXICAL = os.environ.get("GRADER_LEXICAL", "1") != "0"


def parse(paths: list[Path], criterion_ids: set[str]) -> list[dict]:
    """Sentences with their labels; identical sentences are merged (labels united). A line
    `> Heading` puts the labelled lines after it, up to the next blank line, under that
    heading: `text` is what the model reads (`evidence.in_context`), `sentence` the line."""
    from tools.grader.evidence import in_context

    rows: dict[str, dict] = {}
    for path in paths:
        heading = ""
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = line.strip()
            if not line:
                heading = ""
                continue
            if line.startswith(">"):
                heading = line[1:].strip()
                continue
            if line.startswith("#"):
                continue
            label, sep, sentence = line.partition("|")
            label, sentence = label.strip(), sentence.strip()
            if not sep or not sentence:
                raise SystemExit(f"{path.name}:{n}: expected 'LABEL | sentence'")
            text = in_context(sentence, "" if NO_CONTEXT else heading)
            row = rows.setdefault(
                text, {"text": text, "sentence": sentence, "pos": set(), "hard": set(), "voice": 1}
            )
            row["headed"] = bool(heading)
            if label == "x":
                row["voice"] = 0
            elif label == "-":
                pass
            else:
                for part in (x.strip() for x in label.split(",")):
                    (row["hard"] if part.startswith("-") else row["pos"]).add(part.lstrip("-"))
            unknown = (row["pos"] | row["hard"]) - criterion_ids
            if unknown:
                raise SystemExit(f"{path.name}:{n}: unknown criteria {sorted(unknown)}")
    return list(rows.values())


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    ridge: np.ndarray,
    iters: int = 50,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted, ridge-regularized logistic regression by Newton's method (deterministic);
    `offset` is added to every logit (the ridge then shrinks toward the offset model)."""
    from tools.grader.evidence import sigmoid

    theta = np.zeros(X.shape[1])
    base = np.zeros(len(X)) if offset is None else offset
    for _ in range(iters):
        p = sigmoid(base + X @ theta)
        grad = X.T @ (w * (p - y)) + ridge * theta
        H = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(ridge)
        step = np.linalg.solve(H, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def cue_matrices(texts, vectors, rubric, embedder):
    """desc, phrase similarities (of `vectors`) and affirmed phrase counts (in `texts`, the
    sentences themselves, as the grader counts them), (m, C) each, rubric order."""
    from tools.grader.match import criterion_index
    from tools.grader.negation import affirmed_phrases, negation_spans
    from tools.grader.text import normalize

    index = criterion_index(rubric, embedder)
    desc, sim = index.similarity(vectors)
    phrase = sim  # the larger of desc and closest phrase, as the grader computes it
    hits = np.zeros(desc.shape, dtype=np.float32)
    for i, t in enumerate(texts):
        spans, norm = negation_spans(t), normalize(t)
        for j, (_, c) in enumerate(index.criteria):
            hits[i, j] = len(affirmed_phrases(norm, c.phrases, spans))
    return [c.id for _, c in index.criteria], desc, phrase, hits


def train(rows, E, ids, desc, phrase, hits, exemplar_mask=None):
    """Fit both regressions. `exemplar_mask` limits the exemplars (for held-out folds)."""
    from tools.grader.evidence import (
        build_vocab,
        criterion_features,
        fit_probes,
        probe_inputs,
        probe_scores,
        sentence_features,
        voice_features,
    )

    m, C = len(rows), len(ids)
    col = {c: j for j, c in enumerate(ids)}
    Y = np.zeros((m, C), dtype=bool)
    hard = np.zeros((m, C), dtype=bool)
    for i, r in enumerate(rows):
        for c in r["pos"]:
            Y[i, col[c]] = True
        for c in r["hard"]:
            hard[i, col[c]] = True
    voice = np.asarray([r["voice"] for r in rows], dtype=np.int8)
    keep = np.ones(m, dtype=bool) if exemplar_mask is None else exemplar_mask
    sims = E @ E[keep].T
    # leave-one-out: a sentence never sees itself as an exemplar
    idx = np.flatnonzero(keep)
    sims[idx, np.arange(len(idx))] = -1.0
    texts = [r["sentence"] for r in rows]
    sentence = sentence_features(texts, hits)
    probe, probes, vocab = None, (None, None), {}
    if PROBE_RIDGE > 0:
        if LEXICAL:
            words = build_vocab([t for t, k in zip(texts, keep) if k])
            vocab = {w: j for j, w in enumerate(words)}
        PX = probe_inputs(E, texts, vocab)
        # the combiner learns from probe scores of sentences the probe did not see (inner
        # folds), as a new sentence will look; the shipped probes are fit on every sentence
        probe = np.zeros((m, C), dtype=np.float32)
        inner = np.asarray(
            [int(hashlib.sha1(("inner" + t).encode()).hexdigest(), 16) % INNER_FOLDS for t in texts]
        )
        for k in range(INNER_FOLDS):
            fit, score = keep & (inner != k), keep & (inner == k)
            W, b = fit_probes(PX[fit], Y[fit].astype(np.float32), PROBE_RIDGE)
            probe[score] = probe_scores(PX[score], W, b)
        probes = fit_probes(PX[keep], Y[keep].astype(np.float32), PROBE_RIDGE)
    feats = criterion_features(sims, Y[keep], desc, phrase, hits, sentence, probe)[keep]
    y = Y[keep].reshape(-1).astype(float)
    X = feats.reshape(-1, feats.shape[-1])
    onehot = np.tile(np.eye(C), (int(keep.sum()), 1))
    Xf = np.hstack([X, np.ones((len(X), 1)), onehot])
    n_pos = max(y.sum(), 1)
    weight = np.where(y == 1, (len(y) - n_pos) / n_pos / 4.0, 1.0)
    weight = weight * np.where(hard[keep].reshape(-1), HARD_NEGATIVE_WEIGHT, 1.0)
    # explainer sentences are on topic by design; they teach the voice model, not evidence
    weight = weight * np.repeat(np.where(voice[keep] == 0, EXPLAINER_WEIGHT, 1.0), C)
    ridge = np.r_[np.full(X.shape[1], RIDGE_W), 0.0, np.full(C, RIDGE_B)]
    theta = fit_logistic(Xf, y, weight, ridge)
    weights, bias = theta[: X.shape[1]], theta[X.shape[1]] + theta[X.shape[1] + 1 :]
    # per criterion, the shared weights plus a deviation shrunk hard toward zero: a criterion
    # may lean more on its concept phrases or on substance than the others do
    F = X.shape[1]
    if RIDGE_DELTA > 0:
        weights = np.tile(weights, (C, 1))
        Xc = feats.reshape(-1, C, F)
        yc, wc = y.reshape(-1, C), weight.reshape(-1, C)
        for j in range(C):
            offset = Xc[:, j] @ weights[j] + bias[j]
            delta = fit_logistic(
                Xc[:, j], yc[:, j], wc[:, j], np.full(F, RIDGE_DELTA), iters=25, offset=offset
            )
            weights[j] += delta

    vf = voice_features(sims, voice[keep], texts)[keep]
    vy = voice[keep]
    use = vy >= 0
    vX = np.hstack([vf[use], np.ones((int(use.sum()), 1))])
    vyy = vy[use].astype(float)
    vw = np.where(vyy == 1, 1.0, vyy.size / max((vyy == 0).sum(), 1) - 1.0)
    voice_weights = fit_logistic(vX, vyy, vw, np.r_[np.full(vf.shape[1], RIDGE_W), 0.0])
    return Y, voice, weights, bias, voice_weights, probes, vocab


def held_out(rows, E, ids, desc, phrase, hits, folds: int = 5, alone=None) -> dict:
    """Sentence-level credit precision / recall at a few thresholds (the grader's partial
    threshold among them), and design-voice accuracy, over 5 held-out folds. `alone`:
    (vectors, desc, phrase) of the lines read without their heading, to compare how a line
    under a heading is best read: alone, in context, or the larger of the two."""
    from tools.grader.evidence import EvidenceModel

    digest = [int(hashlib.sha1(r["text"].encode()).hexdigest(), 16) % folds for r in rows]
    fold = np.asarray(digest)
    probs = np.zeros((len(rows), len(ids)))
    probs_alone = np.zeros((len(rows), len(ids)))
    truth = np.zeros((len(rows), len(ids)), dtype=bool)
    voice_ok = voice_n = 0
    for k in range(folds):
        train_mask = fold != k
        Y, voice, w, b, vw, (pw, pb), vocab = train(rows, E, ids, desc, phrase, hits, train_mask)
        model = EvidenceModel(
            ids, E[train_mask], Y[train_mask], voice[train_mask], w, b, vw, "", pw, pb, vocab
        )
        test = np.flatnonzero(~train_mask)
        texts = [rows[i]["sentence"] for i in test]
        probs[test] = model.score(E[test], ids, desc[test], phrase[test], hits[test], texts)
        truth[test] = Y[test]
        if alone is not None:
            Ea, da, pa = alone
            probs_alone[test] = model.score(Ea[test], ids, da[test], pa[test], hits[test], texts)
        vp = model.voice_score(E[test], texts) >= 0.5
        vt = voice[test]
        voice_ok += int(((vp == (vt == 1)) & (vt >= 0)).sum())
        voice_n += int((vt >= 0).sum())
    out = {"voice_accuracy": round(voice_ok / max(voice_n, 1), 3)}
    for t in THRESHOLDS:
        pred = probs >= t
        tp, fp, fn = (pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()
        out[f"p@{t}"] = round(float(tp / max(tp + fp, 1)), 3)
        out[f"r@{t}"] = round(float(tp / max(tp + fn, 1)), 3)
    # the lines labelled under a `> Heading` (read in context unless GRADER_NO_CONTEXT=1)
    headed = np.asarray([r["headed"] for r in rows], dtype=bool)
    ways = {"context": probs, "alone": probs_alone, "max": np.maximum(probs, probs_alone)}
    for name, p in ways.items() if alone is not None else [("context", probs)]:
        pred = p[headed] >= 0.5
        tp, fp = (pred & truth[headed]).sum(), (pred & ~truth[headed]).sum()
        fn = (~pred & truth[headed]).sum()
        out[f"headed_{name}_p@0.5"] = round(float(tp / max(tp + fp, 1)), 3)
        out[f"headed_{name}_r@0.5"] = round(float(tp / max(tp + fn, 1)), 3)
    # fragments (too short or a list of names: at most partial evidence) against full sentences
    from tools.grader.evidence import substantive

    full = np.asarray([substantive(r["sentence"]) for r in rows], dtype=bool)
    for name, part in (("full", full), ("fragment", ~full)):
        for t in (0.5, 0.6, 0.75):
            pred = probs[part] >= t
            tp, fp = (pred & truth[part]).sum(), (pred & ~truth[part]).sum()
            fn = (~pred & truth[part]).sum()
            out[f"{name}_p/r@{t}"] = (
                round(float(tp / max(tp + fp, 1)), 3),
                round(float(tp / max(tp + fn, 1)), 3),
            )
    out["documents"] = simulated_documents(probs, truth, voice_of(rows))
    # the same documents when a fragment needs a higher probability than a full sentence
    for t in (0.55, 0.6, 0.65, 0.75):
        bar = np.where(full[:, None], 0.5, t)
        sims = simulated_documents(probs - bar + 0.5, truth, voice_of(rows))
        out[f"documents_fragment@{t}"] = sims[0.5]
    return out


THRESHOLDS = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)


def voice_of(rows) -> np.ndarray:
    return np.asarray([r["voice"] for r in rows], dtype=np.int8)


def simulated_documents(probs, truth, voice, n_docs: int = 400, seed: int = 0) -> dict:
    """Credit precision / recall of whole documents made of held-out training sentences: the
    grader credits a criterion when its best sentence reaches the threshold, so a long design
    gives a weak classifier many chances at a false credit. Documents of 10-60 design-voice
    sentences drawn at random (deterministic seed); the truth is whether any drawn sentence is
    labelled for the criterion. Thresholds are chosen here, on training data only."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(voice != 0)
    best, credit = [], []
    for _ in range(n_docs):
        pick = rng.choice(pool, size=min(int(rng.integers(10, 61)), len(pool)), replace=False)
        best.append(probs[pick].max(axis=0))
        credit.append(truth[pick].any(axis=0))
    best, credit = np.asarray(best), np.asarray(credit)
    out = {}
    for t in THRESHOLDS:
        pred = best >= t
        tp, fp, fn = (pred & credit).sum(), (pred & ~credit).sum(), (~pred & credit).sum()
        out[t] = (round(float(tp / max(tp + fp, 1)), 3), round(float(tp / max(tp + fn, 1)), 3))
    return out


def embed_cached(texts: list[str], embedder, cache_dir: Path) -> np.ndarray:
    """Sentence vectors, reusing those of sentences embedded by an earlier run (same model)."""
    model = str(getattr(embedder, "model_name", ""))
    path = Path(cache_dir) / "grader_train_vectors.npz"
    known: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["model"]) == model:
                known = dict(zip((str(t) for t in data["texts"]), data["vectors"]))
    except (OSError, KeyError, ValueError):
        pass
    todo = [t for t in texts if t not in known]
    if todo:
        vectors = np.asarray(embedder.encode(todo, batch_size=8), dtype=np.float32)
        known.update(zip(todo, vectors))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(known)
            np.savez(
                path,
                model=np.asarray(model),
                texts=np.asarray(keys),
                vectors=np.stack([known[k] for k in keys]),
            )
        except OSError:
            pass
    return np.stack([known[t] for t in texts]).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-only", action="store_true", help="report, do not write")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    apply_offline_env(settings.embed_model)
    from tools.deps import Deps
    from tools.grader.evidence import FORMAT, MODEL_PATH

    deps = Deps(settings)  # the embedder and rubric every command loads
    embedder, rubric = deps.embedder, deps.rubric
    all_ids = {c.id for s in rubric.stages for c in s.criteria}
    rows = parse(sorted(DATA.glob("*.txt")), all_ids)
    E = embed_cached([r["text"] for r in rows], embedder, settings.model_cache_dir)
    ids, desc, phrase, hits = cue_matrices([r["sentence"] for r in rows], E, rubric, embedder)
    missing = [c for c in ids if not any(c in r["pos"] for r in rows)]
    if missing:
        raise SystemExit(f"no positive sentence for {missing}")
    print(f"{len(rows)} sentences, {len(ids)} criteria")
    Ea = embed_cached([r["sentence"] for r in rows], embedder, settings.model_cache_dir)
    _, da, pa, _ = cue_matrices([r["sentence"] for r in rows], Ea, rubric, embedder)
    print("held-out (5 folds):", held_out(rows, E, ids, desc, phrase, hits, alone=(Ea, da, pa)))
    Y, voice, weights, bias, voice_weights, (probe_w, probe_b), vocab = train(
        rows, E, ids, desc, phrase, hits
    )
    if probe_w is None and not args.check_only:
        raise SystemExit("GRADER_PROBE_RIDGE=0 is for held-out comparison only (--check-only)")
    shared = weights if weights.ndim == 1 else weights.mean(axis=0)
    print("weights", np.round(shared, 2), "voice", np.round(voice_weights, 2))
    if args.check_only:
        return 0
    out = args.out or MODEL_PATH
    np.savez_compressed(
        out,
        format=np.int64(FORMAT),
        criteria=np.asarray(ids),
        exemplars=E.astype(np.float16),
        positives=Y,
        voice=voice,
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        voice_weights=voice_weights.astype(np.float32),
        probe_w=probe_w.astype(np.float16),
        probe_b=probe_b.astype(np.float32),
        vocab=np.asarray(sorted(vocab, key=vocab.get)),
        model_name=np.asarray(str(getattr(embedder, "model_name", ""))),
    )
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
