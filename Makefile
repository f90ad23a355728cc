# mlsd-coach — the two commands: `make run` (app) and `make test` (tests). Both idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest
export ANONYMIZED_TELEMETRY := False
export RAGAS_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1

.PHONY: setup ingest run test test-slow test-all lint bench browser postgres clean

# torch is installed first and explicitly: an unpinned torch pulls gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

# Incremental: embeds only new or changed files; --prune removes only files that were under
# corpus/ or the uploads folder and are gone (a missing corpus folder removes nothing). Files
# that fail (exit 1, each listed) do not stop `make run`: the store keeps everything else.
ingest: setup
	$(BIN)/mlsd ingest --prune || { rc=$$?; [ $$rc -eq 1 ] || exit $$rc; \
		echo "make: some files were not ingested (listed above); continuing" >&2; }

# The first run embeds the whole corpus (about a minute on 2 cores; a progress bar on a
# terminal); later runs embed only new or changed files, so the app starts at once.
run: setup
	@test -e "$${MLSD_STORE_DIR:-.mlsd/store}/chroma.sqlite3" || echo "make: first run:" \
		"embedding corpus/ (about a minute on 2 cores); later starts only check for changes" >&2
	@$(MAKE) --no-print-directory ingest
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.headless true \
		--browser.gatherUsageStats false

# Debian's chromium for the browser test (Playwright drives /usr/bin/chromium directly, so no
# browser download and no chromedriver); skipped quietly if apt is absent.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null) || echo "chromium not installed: browser tests will skip"; }

# Debian's PostgreSQL server binaries for the history tests on a real server (they start a
# throwaway cluster on a loopback port; skipped quietly if apt is absent).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
		>/dev/null) || echo "postgresql not installed: PostgreSQL history tests will skip"; }

# pytest exits 5 when it collected no test; that is not a failure of the run itself.
test: setup browser postgres
	$(PYTEST) -q $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc; }

test-slow: setup browser postgres
	$(PYTEST) -q -m slow $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc; }

test-all: test test-slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: ingest
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf .mlsd .pytest_cache
