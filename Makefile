# medae: `make train` builds the environment when it is missing and runs the default job; `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.medae-installed
ARGS ?=
# test workers (pytest-xdist): one per core; the files of the suite are shared out, each whole to one worker
TEST_WORKERS ?= auto
# Hydra plugins whose releases pin dependencies older than the rest of the stack (see pyproject.toml)
NO_DEPS_PLUGINS := hydra-optuna-sweeper==1.3.0 hydra-ray-launcher==1.2.2

.PHONY: setup train test test-fast sweep variants bench experiments notebooks ui server lint types docs format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first: a bare requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,docs,sweep,server,cluster,ui,export]"
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS_PLUGINS)
	touch $(STAMP)

setup: $(STAMP)

train: setup
	$(BIN)/medae train $(ARGS)

# lint, types and the docs site first: a minute, where the suite takes half an hour
test: setup lint types docs
	$(BIN)/python -m pytest -m "slow or not slow" -n $(TEST_WORKERS) --dist loadfile --durations=25 $(ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(ARGS)

sweep: setup
	$(BIN)/medae train -m hparams_search=lr_latent $(ARGS)

variants: setup
	$(BIN)/python experiments/compare_variants.py $(ARGS)

bench: setup
	$(BIN)/python -m medae.benchmarks --output bench $(ARGS)

experiments: setup
	$(BIN)/python experiments/run_applications.py $(ARGS)

# re-execute the notebooks on small settings and keep their outputs (committed, so code hosts show the figures)
notebooks: setup
	$(BIN)/python notebooks/execute.py $(ARGS)

ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

# the team tracking server on PostgreSQL: MLFLOW_AUTH_ADMIN_PASSWORD=... make server [ARGS="--port 5000"]
server: setup
	$(BIN)/python -m medae.server --postgres $(ARGS)

lint: setup
	$(BIN)/ruff check medae tests experiments
	$(BIN)/ruff format --check medae tests experiments

# all of medae, as [tool.mypy] in pyproject.toml says (strict for config, security and tracking)
types: setup
	$(BIN)/mypy

# the documentation site in site/; --strict: a broken link or a docstring that does not fit fails
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

format: setup
	$(BIN)/ruff format medae tests experiments
	$(BIN)/ruff check --fix medae tests experiments

clean:
	rm -rf outputs multirun lightning_logs .pytest_cache site
