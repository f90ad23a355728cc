"""Library page: what the store holds, a passage viewer, uploads and re-indexing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import MlsdError
from ui import render, resources, state

log = logging.getLogger(__name__)

UPLOAD_TYPES = ["md", "markdown", "txt", "pdf", "html", "htm"]


def safe_filename(name: str) -> str:
    """A file name that cannot leave the uploads folder or hide itself."""
    base = Path(name.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot:
        return (cleaned or "upload")[:100]
    return f"{(stem or 'upload')[:90]}.{suffix[:10]}"


def save_uploads(files: list, uploads_dir: Path, max_mb: float) -> tuple[list[Path], list[dict]]:
    """Write uploads into `uploads_dir`; (saved paths, [{"path", "reason"}] for refused ones)."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    saved, refused = [], []
    for file in files:
        data = file.getvalue()
        if len(data) > max_mb * 1024 * 1024:
            size_mb = len(data) / 2**20  # the limit is in binary MB, like the ingest check
            reason = f"too large ({size_mb:.1f} MB > limit {max_mb:g} MB, MLSD_MAX_FILE_MB)"
            refused.append({"path": file.name, "reason": reason})
            continue
        target = uploads_dir / safe_filename(file.name)
        target.write_bytes(data)
        saved.append(target)
    return saved, refused


def _passage_viewer() -> None:
    source = st.query_params.get("source")
    if not source:
        return
    section = st.query_params.get("section", "")
    with st.container(border=True):
        st.subheader(render.inline(f"{source} — {section}" if section else source, 160))
        try:
            found = resources.passages(state.tab_deps(), source, section)
        except MlsdError as exc:
            st.error(render.inline(str(exc), 300))
            found = []
        if not found and section:
            st.caption("That section is not stored; showing the whole document.")
            found = resources.passages(state.tab_deps(), source)
        if not found:
            st.warning("No stored passage comes from that document. Re-index the library.")
        for passage in found:
            st.markdown(f"**{render.inline(passage['section'], 200)}**")
            st.markdown(render.sanitize_markdown(render.demote_headings(passage["text"])))
        if st.button("Close passage", icon=":material/close:"):
            st.query_params.clear()
            st.rerun()


def _overview() -> None:
    try:
        stats = resources.store_stats()
    except MlsdError as exc:
        st.error(render.inline(str(exc), 300))
        return
    cols = st.columns(4)
    cols[0].metric("Files", stats.get("sources", 0))
    cols[1].metric("Chunks", stats.get("chunks", 0))
    cols[2].metric("Document types", len(stats.get("doc_types") or {}))
    cols[3].metric("Dimension", stats.get("dimension") or "–")
    model = f"{stats.get('model') or '–'} ({stats.get('backend') or '–'})"
    st.caption(
        f"Store: {render.inline(str(stats.get('store', '')), 200)} · embedding model "
        f"{render.inline(model, 100)}"
    )
    files = stats.get("files") or {}
    if not files:
        st.info("The store is empty: re-index below to ingest the study material.")
        return
    frame = pd.DataFrame(
        [
            {"source": src, "title": info.get("title"), "type": info.get("doc_type"), **info}
            for src, info in files.items()
        ]
    )[["source", "title", "type", "chunks"]]
    left, right = st.columns([3, 1])
    with right:
        st.markdown("**Files by type**")
        st.bar_chart(frame.groupby("type").size().rename("files"), height=220)
    with left:
        needle = st.text_input("Filter files", placeholder="e.g. fraud, concepts/")
        if needle:
            mask = frame.apply(lambda r: needle.lower() in " ".join(map(str, r)).lower(), axis=1)
            frame = frame[mask]
        st.dataframe(frame, hide_index=True, width="stretch", height=260)


def _show_ingest_result(result: dict) -> None:
    st.success(
        f"{result['files_seen']} files: {result['ingested']} ingested, "
        f"{result['unchanged']} unchanged, {len(result['failed'])} failed; chunks "
        f"+{result['chunks_added']} −{result['chunks_deleted']}, {result['chunks_total']} in "
        f"the store ({result['seconds']:.1f} s)."
    )
    if result["failed"]:
        st.error("Some files were not added:")
        st.dataframe(pd.DataFrame(result["failed"]), hide_index=True, width="stretch")
    for path in result.get("skipped", []):
        st.warning(f"Skipped (unsupported type): {render.inline(path, 200)}")
    for warning in result.get("warnings", []):
        st.warning(render.inline(warning, 300))


def _ingest(paths: list[Path] | None, prune: bool, refused: list[dict] | None = None) -> None:
    """Ingest `paths` (None: re-index the corpus and all uploads) and keep the result."""
    try:
        with st.spinner("Reading, chunking and embedding…", show_time=True):
            result = None if paths == [] else resources.ingest(paths, prune=prune)
    except Exception as exc:  # the run stopped: keep no upload of it for later re-indexes
        _discard_uploads(paths or [])
        if not isinstance(exc, MlsdError):
            log.exception("ingest failed")
        message = str(exc) if isinstance(exc, MlsdError) else f"Ingest failed ({exc!r})"
        st.error(render.inline(message, 300))
        return
    if result is None:
        result = {
            "files_seen": 0, "ingested": 0, "unchanged": 0, "failed": [], "chunks_added": 0,
            "chunks_deleted": 0, "chunks_total": resources.store_stats().get("chunks", 0),
            "seconds": 0.0, "skipped": [], "warnings": [],
        }  # fmt: skip
    result["failed"] = (refused or []) + result["failed"]
    # A file that failed is not kept: it would fail again at every re-index.
    _discard_uploads([Path(item["path"]) for item in result["failed"]])
    st.session_state.library_result = result


def _discard_uploads(paths: list[Path]) -> None:
    """Delete these files if they are in the uploads folder (and nothing else)."""
    uploads = resources.get_settings().uploads_dir.resolve()
    for path in paths:
        try:
            if path.resolve().parent == uploads and path.is_file():
                path.unlink()
        except OSError as exc:
            log.warning("could not remove the failed upload %s: %s", path, exc)


def _upload_section() -> None:
    settings = resources.get_settings()
    st.subheader("Add documents")
    st.caption(
        f"Markdown, text, PDF or HTML, up to {settings.max_file_mb:g} MB each. Files are kept "
        f"in {render.inline(str(settings.uploads_dir), 200)} and searched with the study "
        "material."
    )
    files = st.file_uploader(
        "Files to add", type=UPLOAD_TYPES, accept_multiple_files=True, key="library_upload"
    )
    if st.button("Add to the library", type="primary", disabled=not files):
        saved, refused = save_uploads(files, settings.uploads_dir, settings.max_file_mb)
        _ingest(saved, prune=False, refused=refused)


def _reindex_section() -> None:
    st.subheader("Re-index")
    st.caption(
        "Re-reads the study material and your added files: new or changed files are embedded, "
        "deleted ones are removed, unchanged ones are skipped."
    )
    if st.button("Re-index", icon=":material/sync:"):
        _ingest(None, prune=True)


def page() -> None:
    st.title("Library")
    _passage_viewer()
    _overview()
    st.divider()
    _upload_section()
    _reindex_section()
    if st.session_state.library_result:
        _show_ingest_result(st.session_state.library_result)


if __name__ == "__main__":
    page()
