"""The offline agent (default, no key): cited extractive answers, critiques, solutions.

Every sentence of an answer is quoted from a retrieved passage (see `agents.compose`), so
it cannot state anything the material does not say. A question the material does not
cover (see `agents.scope`: weak passages, meaning carried by words or names the passages
never use, or nothing quotable about its subject) is declined with the nearest topics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from agents.base import Answered, as_messages, finish, replay, split_turn
from agents.compose import SentenceVectors, chunk_edges, compose
from agents.critique import run_critique
from agents.events import Event, Final, Message, TextDelta, ToolCall, ToolResult
from agents.router import FollowUp, Route, about, follow_up, last_topic, route
from agents.scope import IN_SCOPE, Scope, check_answer, check_question
from tools.deps import Deps
from tools.search import Hit

log = logging.getLogger(__name__)

EXTRA_PASSAGES = 3
MAX_ASPECT_SECTIONS = 4  # a follow-up's aspect sections of the earlier topic's documents


class OfflineAgent:
    """Answers from the corpus alone. Thread-safe; build once per Deps and share."""

    mode = "offline"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._vectors: SentenceVectors | None = None
        self._edges: tuple[object, dict] = (None, {})  # (chunk table, its chunk edges)

    @property
    def settings(self):
        return self.deps.settings

    def vectors(self) -> SentenceVectors:
        """Sentence vectors for answer composition (cached per process)."""
        if self._vectors is None:
            self._vectors = SentenceVectors(self._scoring_embedder())
        return self._vectors

    def edges(self, corpus) -> dict[str, tuple[bool, bool]]:
        """Which chunks of the chunk table the chunker cut mid-section (computed once)."""
        if self._edges[0] is not corpus:
            self._edges = (corpus, chunk_edges(corpus.ids, corpus.metas))
        return self._edges[1]

    def _scoring_embedder(self):
        """The store's model, as its int8 twin when the store uses ONNX: about twice as fast,
        and ranking a few sentences tolerates its tiny numeric differences. These vectors
        never meet the store's, so precision compatibility does not apply."""
        store_embedder = self.deps.retriever.embedder()
        if store_embedder.backend != "onnx":
            return store_embedder
        from ingest.embeddings import load_embedder

        s = self.settings
        try:
            fast = load_embedder(s.embed_model, "onnx-int8", str(s.model_cache_dir))
        except Exception as exc:  # no int8 build here: the store's model works, just slower
            log.info("int8 sentence scoring unavailable: %s", type(exc).__name__)
            return store_embedder
        return fast if fast.backend == "onnx-int8" else store_embedder

    # -- the interface -------------------------------------------------------------------
    def respond(self, messages: list[Message]) -> Iterator[Event]:
        """Stream one turn: tool events, the answer text, citations, then the Final."""
        start = time.perf_counter()
        text, history = split_turn(messages, self._max_chars())
        turn = route(text, history)
        for event in self._route(turn, history):
            if isinstance(event, Final):
                event.seconds = round(time.perf_counter() - start, 3)
            yield event

    def answer(
        self,
        question: str,
        history: Sequence[Message | dict] | None = None,
        k: int | None = None,
        mode: str | None = None,
    ) -> Answered:
        """Answer one question from the material (no routing) with the hits it used."""
        start = time.perf_counter()
        hits: list[Hit] = []
        events = self._question(question.strip(), as_messages(history), k, mode, hits)
        _, final = replay(events)
        final.seconds = round(time.perf_counter() - start, 3)
        return Answered(final=final, hits=hits)

    # -- routes --------------------------------------------------------------------------
    def _max_chars(self) -> int:
        return max(self.settings.max_question_chars, self.settings.max_design_words * 12)

    def _route(self, turn: Route, history: list[Message]) -> Iterator[Event]:
        if turn.kind == "critique":
            yield from self._critique(turn)
        elif turn.kind == "solution":
            yield from self._solution(turn)
        elif turn.kind == "interview":
            from agents.interview_chat import chat_turn

            answer, data = chat_turn(self.deps, turn.text, history, level=turn.level)
            yield TextDelta(text=answer)
            yield Final(answer=answer, route="interview", data=data)
        else:
            yield from self._question(turn.text, history, None, None, [])

    def _question(
        self, question: str, history: list[Message], k: int | None, mode: str | None, out: list
    ) -> Iterator[Event]:
        found = follow_up(question, history)
        query = found.query if found else question
        # A few passages beyond k: the section that answers a follow-up ("monitor it") often
        # ranks just below the topic's general sections; unit selection then picks it.
        pool = (k or self.settings.top_k) + EXTRA_PASSAGES
        hits = yield from self._search(query, pool, mode)
        # one look at the chunk table per question: each asks the store whether it changed
        corpus = self.deps.retriever.corpus()
        query_vec = self.vectors().encode([query])[0]
        composed, note, asked = None, "", query
        if found and found.aspect:
            hits, note, asked = yield from self._aspect_hits(found, history, hits, pool, mode)
            query_vec = self.vectors().encode([asked])[0]
        scope = self._scope(asked, query_vec, hits, corpus.bm25)
        # a short follow-up embeds weakly; passages on its aspect were chosen by their headings
        on_aspect = bool(found and hits and about(hits[0], found.aspect, 1))
        if on_aspect and scope.reason == "low_similarity":
            scope = IN_SCOPE
        if scope.ok:
            composed = compose(
                query,
                query_vec,
                hits,
                self.vectors(),
                self.settings.answer_max_sentences,
                idf=corpus.bm25.idf,
                terms_text=" ".join(found.aspect) if found and found.aspect else None,
                edges=self.edges(corpus),
            )
            # the best of every unit considered: one chosen for its key terms or its
            # passage's rank may embed less like the question than one left out
            sentences = composed.considered or [sentence for sentence, _ in composed.sentences]
            scope = check_answer(
                query_vec, sentences, self.vectors().encode, composed.headings, scope
            )
            scope = IN_SCOPE if on_aspect and sentences else scope
        if not scope.ok or composed is None or not composed.answer:
            log.debug("declined (%s %s): %s", scope.reason, scope.detail, query[:80])
            out.extend(hits)  # declined: the nearest passages are what it was based on
            yield from self._decline(hits, scope)
            return
        by_id = {h.chunk_id: h for h in hits}
        out.extend(by_id[c.chunk_id] for c in composed.citations)  # the passages quoted
        answer = f"{note}\n\n{composed.answer}" if note else composed.answer
        for paragraph in answer.split("\n\n"):
            yield TextDelta(text=paragraph + "\n\n")
        yield from finish(Final(answer=answer, citations=composed.citations, route="question"))

    def _search(self, query: str, k: int, mode: str | None):
        args = {"query": query, "k": k} | ({"mode": mode} if mode else {})
        yield ToolCall(name="search", args=args)
        hits = self.deps.retriever.search(query, k=k, mode=mode)
        best = hits[0] if hits else None
        summary = f"{len(hits)} passages" + (f"; best: {best.source}" if best else "")
        yield ToolResult(name="search", summary=summary, ok=bool(hits))
        return hits

    def _aspect_hits(
        self, found: FollowUp, history: list[Message], hits: list[Hit], pool: int, mode: str | None
    ):
        """The passages a follow-up is answered from, a note saying which, and the question
        they answer (units are scored against it). The new ask drives, in this order: the
        earlier topic's sections named after the aspect; the topic's retrieved passages that
        mention it; the material's general sections on the aspect; the retrieved passages."""
        read_as = f"Follow-up read as: {found.query}"
        topic_hits = self.deps.retriever.search(last_topic(history), k=3, mode=mode)
        sources = {h.source for h in topic_hits}
        named = [h for h in hits if h.source in sources and about(h, found.aspect)]
        named += [h for h in self._sections_about(sources, found.aspect) if h not in named]
        if named:
            return named, read_as, found.query
        touched = [h for h in hits if h.source in sources and about(h, found.aspect, 1)]
        if touched:
            return touched, read_as, found.query
        general = yield from self._search(found.ask, pool, mode)
        focused = [h for h in general if about(h, found.aspect, 2)]
        if not focused:
            return hits, read_as, found.query
        aspect = " ".join(found.aspect)
        note = (
            f"{read_as} The material has nothing on {aspect} for {found.topic} specifically, "
            f'so this is its general material on "{aspect}".'
        )
        return focused, note, found.ask

    def _sections_about(self, sources: set[str], aspect: tuple[str, ...]) -> list[Hit]:
        """Chunks of the given documents whose heading path names the aspect, in order."""
        corpus = self.deps.retriever.corpus()
        out = []
        for cid, doc, meta in zip(corpus.ids, corpus.docs, corpus.metas):
            if meta.get("source") in sources:
                hit = Hit(
                    text=doc,
                    source=meta.get("source", ""),
                    section=meta.get("section", ""),
                    title=meta.get("title", ""),
                    doc_type=meta.get("doc_type", ""),
                    chunk_id=cid,
                    score=0.0,
                    rank=len(out) + 1,
                )
                if about(hit, aspect):
                    out.append(hit)
        return out[:MAX_ASPECT_SECTIONS]

    def _scope(self, query: str, query_vec, hits: list[Hit], bm25) -> Scope:
        dense = [h.dense_score for h in hits if h.dense_score is not None]
        if hits and not dense:  # BM25-only search: ask the dense index for its best cosine
            dense = [score for _, score in self.deps.retriever.dense(query, 1)]
        return check_question(
            query,
            query_vec,
            hits,
            float(max(dense, default=0.0)),
            bm25,
            self.vectors().encode,
            self.settings.answer_min_similarity,
        )

    def _decline(self, hits: list[Hit], scope: Scope) -> Iterator[Event]:
        topics: list[str] = []
        for hit in hits:
            topic = f"{hit.section} ({hit.source})"
            if topic not in topics and not any(hit.source in t for t in topics):
                topics.append(topic)
        answer = "The study material does not cover this"
        if scope.reason == "unmatched_name":
            answer += f" (it never mentions {scope.detail})"
        answer += ", so I will not guess an answer."
        if topics:
            answer += " The nearest topics it does cover:\n" + "\n".join(
                f"- {t}" for t in topics[:3]
            )
        # a blank line ends the list: otherwise markdown runs the next sentence into its last item
        answer += "\n\nAsk about one of these, or rephrase the question in ML system design terms."
        yield TextDelta(text=answer)
        yield Final(answer=answer, route="out_of_scope")

    def _critique(self, turn: Route) -> Iterator[Event]:
        yield ToolCall(name="critique_design", args={"level": turn.level or "senior"})
        critique = run_critique(self.deps, turn.text, turn.level)
        summary = f"overall {critique.report['overall']}/100" if critique.report else "unavailable"
        yield ToolResult(name="critique_design", summary=summary, ok=critique.ok)
        yield TextDelta(text=critique.markdown)
        yield from finish(
            Final(
                answer=critique.markdown,
                citations=critique.citations,
                route="critique",
                data=critique.report,
            )
        )

    def _solution(self, turn: Route) -> Iterator[Event]:
        from agents.events import Citation
        from tools.solutions import ToolError, get_example_solution, list_example_solutions

        if not turn.text:
            yield ToolCall(name="list_example_solutions", args={})
            items = list_example_solutions(self.deps)
            yield ToolResult(name="list_example_solutions", summary=f"{len(items)} solutions")
            answer = "Worked example solutions in the material:\n" + "\n".join(
                f"- `{s.id}`: {s.question}" for s in items
            )
            yield TextDelta(text=answer)
            yield Final(answer=answer, route="solution")
            return
        args = {"name": turn.text} | ({"stage": turn.stage} if turn.stage else {})
        yield ToolCall(name="get_example_solution", args=args)
        result = get_example_solution(self.deps, turn.text, turn.stage)
        if not isinstance(result, ToolError):
            yield ToolResult(name="get_example_solution", summary=result.id)
            answer = f"From `{result.source}`:\n\n{result.markdown()}"
            cite = Citation(n=1, source=result.source, section=result.title, chunk_id="")
            yield TextDelta(text=answer)
            yield from finish(Final(answer=answer, citations=[cite], route="solution"))
            return
        yield ToolResult(name="get_example_solution", summary=result.error, ok=False)
        answer = f"{result.error} Available solutions: {', '.join(result.suggestions)}."
        yield TextDelta(text=answer)
        yield Final(answer=answer, route="solution")
