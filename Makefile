# One task runner: `make demo` (the main job), `make test` (the suite), `make proofs` (the long
# end-to-end proofs), `make lint` (ruff, mypy, the layer contracts), `make bench`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test proofs lint bench lock system-deps clean

demo: $(STAMP)
	$(BIN)/phoihop demo

test: $(STAMP) system-deps
	$(BIN)/pytest -q --durations=15

# The long end-to-end proofs (hostile input through every surface in Chromium, the whole
# demo searched for its secrets, a worker killed mid-run, the benchmarks smoke-run):
# beyond the test suite's budget.
proofs: $(STAMP) system-deps
	$(BIN)/pytest -q -m proof

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Installs are locked: exactly the versions of requirements.lock (hashes checked), then phoihop
# itself without resolving anything. `make lock` refreshes the lock; the suite decides whether
# the new versions stay (tests/unit/test_lock.py fails when the venv drifts from the lock).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Refresh the lock to the newest versions pyproject.toml allows (then `make test` decides).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 --upgrade -o requirements.lock

# The browser tests drive Debian's Chromium; install it when we may (root, apt).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: browser tests will say so and skip"; fi; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
