# Two commands do everything on a fresh machine: `make demo` and `make test`.
# `make demo` installs only the core package (no PyTorch); test, bench, lint and docs install everything.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORE_STAMP := $(VENV)/.installed-core

# Point tests and demos at the shared Moby word list when it sits beside the checkout.
MOBY_SHARED := $(abspath ../shared/data/moby/words.zip)
ifneq ($(wildcard $(MOBY_SHARED)),)
export HASH_ENVS_MOBY ?= $(MOBY_SHARED)
endif

.PHONY: install install-core test demo docs bench bench-sac lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[all,test,docs]"
	touch $(STAMP) $(CORE_STAMP)

# The core package alone: environments, tasks, classical hashes, the leaderboard.
# --no-compile halves the install's CPU time; Python compiles what it imports on first use.
install-core: $(CORE_STAMP)

$(CORE_STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-compile -c constraints.txt -e .
	touch $(CORE_STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(CORE_STAMP)
	$(VENV)/bin/hash-envs leaderboard --quick --out results/leaderboard

# The documentation site in site/: generated env and API pages, then a strict build
# (every warning is an error).
docs: $(STAMP)
	$(PY) docs/gen_env_pages.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Speed and quality benchmarks (minutes, not unit tests); each writes JSON + Markdown.
# `make bench-sac` compares our discrete SAC with Tianshou's (installs the sac-bench extra).
bench: $(STAMP)
	$(PY) bench/env_throughput.py --out results/bench
	$(PY) bench/weight_hash_throughput.py --out results/bench
	$(PY) bench/memorize.py --out results/bench
	$(PY) bench/perfect_hash.py --words 10000 100000 466551 --out results/bench
	$(PY) experiments/exp7_inference_time.py --out results/bench
	$(PY) bench/rllib_throughput.py --out results/bench
	$(VENV)/bin/hash-envs benchmark --agents random ppo pg episode-pg pilot-q \
		--tasks Memorize100 Online100 --seeds 2 --time-budget 20 --out results/benchmark

bench-sac: $(STAMP)
	$(PY) -m pip install -c constraints.txt -e ".[sac-bench]"
	$(PY) bench/sac_discrete_vs_tianshou.py --out results/bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) results .pytest_cache site docs/generated
