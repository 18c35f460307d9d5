SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip -q --disable-pip-version-check
QUIET := 2>&1 | grep -v "^WARNING: Location" || true

.PHONY: install build test test-slow demo serve bench gpu gpu-dry clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt setup.py settings.ini
	test -x $(BIN)/python || python3 -m venv $(VENV)
	set -o pipefail; $(PIP) install -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	set -o pipefail; $(PIP) install --no-deps --no-build-isolation --config-settings editable_mode=compat -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $@

build: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export

test: install
	$(MAKE) --no-print-directory build
	@if [ -n "$$(git status --porcelain)" ]; then git status --porcelain; echo "make build changed the files above: run 'make build' and commit notebooks and library together"; exit 1; fi
	DEEP_T2I_TINY=1 $(BIN)/nbdev_test --n_workers 2
	$(BIN)/pytest tests/ -q -p no:cacheprovider

test-slow: install
	$(BIN)/nbdev_test --flags slow --n_workers 2

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

clean:
	rm -rf runs _proc _docs build dist *.egg-info .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -exec rm -rf {} +
