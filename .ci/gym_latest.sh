#!/usr/bin/env bash
# Second CI stage: the environment tests under the newest gymnasium 1.x.
#
# `make test` runs everything with gymnasium 1.2.2, the version RLlib pins. The package
# itself promises gymnasium>=1.2.2,<2, so this stage installs the core package alone (no
# torch, no Ray, no extras but the test tools) with the newest gymnasium 1.x the index
# offers, into its own venv, and runs the tests that need nothing else.
#
# Environment: PYTHON (default python3.11), GYM_LATEST_VENV (default .venv-gym-latest;
# reused between runs, gymnasium upgraded each time).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${GYM_LATEST_VENV:-.venv-gym-latest}
GYM_SPEC="gymnasium>=1.2.2,<2"
# Tests that import only the core package (hash_envs, gymnasium, numpy, scipy, the stdlib).
TESTS=(
    tests/test_envs.py
    tests/test_encoding.py
    tests/test_rewards.py
    tests/test_hashing.py
    tests/test_metrics.py
    tests/test_corpus.py
    tests/test_leaderboard.py
)

start=$SECONDS
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
echo '*' >"$VENV/.gitignore" # keep the venv out of `git status`

# The project's constraints minus any gymnasium pin: this stage is about gymnasium.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
grep -viE '^[[:space:]]*gymnasium([^a-z0-9_-]|$)' constraints.txt >"$constraints" || true

# --upgrade moves gymnasium to the newest allowed release; other dependencies only move
# when they must (pip's default upgrade strategy), so one resolver pass does both.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -c "$constraints" \
    --upgrade -e ".[test]" "$GYM_SPEC"

"$VENV/bin/python" - <<'EOF'
import importlib.util
import gymnasium
for heavy in ("torch", "ray"):
    if importlib.util.find_spec(heavy) is not None:
        raise SystemExit(f"{heavy} is installed in the gymnasium-latest venv: not core-only")
print(f"gym-latest stage: gymnasium {gymnasium.__version__} (core package only)")
EOF

# Like the Makefile: use the shared Moby word list when it sits beside the checkout.
shared_moby="$(cd .. && pwd)/shared/data/moby/words.zip"
if [ -z "${HASH_ENVS_MOBY:-}" ] && [ -f "$shared_moby" ]; then
    export HASH_ENVS_MOBY="$shared_moby"
fi

"$VENV/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
echo "gym-latest stage: $((SECONDS - start)) s"
