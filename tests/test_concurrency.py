"""Several processes on one cache and one model-hash index at the same time.

* The Moby download: two processes resolving the corpus at once from a loopback HTTP
  server fetch it once, end with one verified ``words.zip`` and no temp file; a download
  killed halfway leaves nothing that a later run trusts or has to clean by hand.
* The model-hash index (SQLite): two processes adding to one index file lose no row,
  create and migrate it safely, and cannot mix the codes of two methods.

Each child process waits at a gate (files in a shared directory) until all are ready, so
the work overlaps however long their imports take. Nothing touches the internet or
``~/.cache``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hash_envs import corpus

CHILD_TIMEOUT_S = 240  # imports of model_hashing take a while on a loaded 2-core machine

# The gate every child passes before the work under test: all ready, then go together.
GATE = """
import sys, time
from pathlib import Path

def gate(directory, phase, me, n):
    d = Path(directory)
    (d / f"{phase}-{me}").touch()
    deadline = time.monotonic() + 200
    while len(list(d.glob(f"{phase}-*"))) < n:
        if time.monotonic() > deadline:
            sys.exit(f"gate {phase}: the other processes never arrived")
        time.sleep(0.002)
"""


def run_children(script: str, args: list[list[str]], env: dict[str, str]) -> list[dict]:
    """Run one child per ``args`` entry at once; each prints one JSON line as its result."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GATE + script, *a],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for a in args
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
        assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{err}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- the Moby download ------------------------------------------------------------------


class SlowServer:
    """Serves ``routes`` on 127.0.0.1 in small chunks, slowly enough that two downloads
    overlap; a path in ``stall`` sends half of its body, then waits for ``release``."""

    CHUNK = 16 * 1024

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.stall: set[str] = set()
        self.requests: list[str] = []
        self.half_sent = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for start in range(0, len(body), server.CHUNK):
                        if self.path in server.stall and start >= len(body) // 2:
                            self.wfile.flush()
                            server.half_sent.set()
                            server.release.wait(60)
                            return
                        self.wfile.write(body[start : start + server.CHUNK])
                        self.wfile.flush()
                        time.sleep(0.03)
                except OSError:
                    pass  # the client went away

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[SlowServer]:
    srv = SlowServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.httpd.shutdown()
        srv.httpd.server_close()


WORDS = [f"w{i:06d}" for i in range(20000)]


@pytest.fixture
def word_zip(tmp_path: Path) -> bytes:
    """A stored (uncompressed) zip of 20,000 words, about 160 KB: ten slow chunks."""
    path = tmp_path / "served.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("words.txt", "\n".join(reversed(WORDS)) + "\n")
    return path.read_bytes()


@pytest.fixture
def cache_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != corpus.MOBY_ENV_VAR}
    env[corpus.CACHE_ENV_VAR] = str(tmp_path / "cache")
    return env


RESOLVE = """
import json
from hash_envs import corpus
gate_dir, me, n, url, sha = sys.argv[1:6]
gate(gate_dir, "resolve", me, int(n))
try:
    path = corpus.moby_path(url=url, sha256=sha)
    words = corpus.load(path)
    print(json.dumps({"path": str(path), "words": len(words), "first": words[0]}))
except corpus.CorpusError as err:
    print(json.dumps({"error": str(err)}))
"""


def test_two_processes_resolving_moby_download_it_once(
    server: SlowServer, word_zip: bytes, cache_env: dict[str, str], tmp_path: Path
) -> None:
    server.routes["/words.zip"] = word_zip
    digest = hashlib.sha256(word_zip).hexdigest()
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    args = [[str(gate_dir), str(i), "2", server.url("/words.zip"), digest] for i in range(2)]

    results = run_children(RESOLVE, args, cache_env)

    cache = Path(cache_env[corpus.CACHE_ENV_VAR])
    cached = cache / "moby" / "words.zip"
    assert results == [{"path": str(cached), "words": len(WORDS), "first": WORDS[0]}] * 2
    assert files_under(cache) == ["moby/words.zip"]  # no .part file, no lock file
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest
    assert server.requests == ["/words.zip"]  # one process fetched, the other waited


def test_two_processes_with_a_bad_checksum_both_fail_and_leave_nothing(
    server: SlowServer, word_zip: bytes, cache_env: dict[str, str], tmp_path: Path
) -> None:
    server.routes["/words.zip"] = word_zip
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    wrong = hashlib.sha256(b"something else").hexdigest()
    args = [[str(gate_dir), str(i), "2", server.url("/words.zip"), wrong] for i in range(2)]

    results = run_children(RESOLVE, args, cache_env)

    assert all("Checksum mismatch" in r.get("error", "") for r in results), results
    assert files_under(Path(cache_env[corpus.CACHE_ENV_VAR])) == []
    assert server.requests == ["/words.zip"] * 2  # each tried once; neither trusted it


def test_a_download_killed_halfway_leaves_nothing_behind(
    server: SlowServer, word_zip: bytes, cache_env: dict[str, str], tmp_path: Path
) -> None:
    server.routes["/words.zip"] = server.routes["/stalls.zip"] = word_zip
    server.stall.add("/stalls.zip")
    digest = hashlib.sha256(word_zip).hexdigest()
    cache = Path(cache_env[corpus.CACHE_ENV_VAR])
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()

    victim = subprocess.Popen(
        [sys.executable, "-c", GATE + RESOLVE]
        + [str(gate_dir), "0", "1", server.url("/stalls.zip"), digest],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cache_env,
    )
    try:
        assert server.half_sent.wait(CHILD_TIMEOUT_S), "the first download never started"
        deadline = time.monotonic() + 30
        while not any(name.endswith(".part") for name in files_under(cache)):
            assert time.monotonic() < deadline, "the first download wrote no temp file"
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)  # no finally block runs: the temp file stays
        assert victim.wait(30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        victim.stderr.close()
    assert [name for name in files_under(cache) if name.endswith(".part")]
    assert not (cache / "moby" / "words.zip").exists()

    args = [[str(gate_dir), "1", "1", server.url("/words.zip"), digest]]
    (result,) = run_children(RESOLVE.replace('"resolve"', '"again"'), args, cache_env)

    assert result == {"path": str(cache / "moby" / "words.zip"), "words": len(WORDS)} | {
        "first": WORDS[0]
    }
    assert files_under(cache) == ["moby/words.zip"]  # the dead process's temp file is gone


# --- the model-hash index ---------------------------------------------------------------

N_ADDS = 20
N_BITS = 64


def code_of(process: int, j: int) -> np.ndarray:
    return np.random.default_rng([process, j]).integers(0, 2, N_BITS, dtype=np.uint8)


INDEX = """
import json
import numpy as np
from model_hashing.index import ModelHashIndex
from model_hashing.methods import MethodKey
gate_dir, me, n, n_adds, n_bits, n_trials, work = sys.argv[1:8]
me, n, n_adds, n_bits, n_trials = int(me), int(n), int(n_adds), int(n_bits), int(n_trials)
work = Path(work)
out = {"old": [], "mixed": []}

def code_of(process, j):
    return np.random.default_rng([process, j]).integers(0, 2, n_bits, dtype=np.uint8)

# 1. Create one new index at once, then add codes one transaction each, reading between.
gate(gate_dir, "shared", me, n)
index = ModelHashIndex(work / "shared.sqlite")
key = MethodKey("ophist", "test", n_bits)
sizes = []
for j in range(n_adds):
    index.add(f"p{me}-m{j:02d}", code_of(me, j), {"process": me, "j": j}, key)
    sizes.append(len(index))
    index.query(code_of(me, j), top=3, key=key)
index.close()
out["sizes"] = sizes

for t in range(n_trials):  # the races below have narrow windows: try them several times
    # 2. Open an index of the old schema (no method columns) at once: both migrate it.
    gate(gate_dir, f"old{t}", me, n)
    try:
        ModelHashIndex(work / f"old{t}.sqlite").close()
        out["old"].append("ok")
    except ValueError as err:
        out["old"].append(str(err))

    # 3. Each process adds codes of its own method to one empty index.
    gate(gate_dir, f"mixed{t}", me, n)
    index = ModelHashIndex(work / f"mixed{t}.sqlite")
    mine = MethodKey(f"method{me}", "test", n_bits)
    outcomes = []
    for j in range(n_adds):
        try:
            index.add(f"p{me}-m{j:02d}", code_of(me, j), {}, mine)
            outcomes.append("added")
        except ValueError as err:
            outcomes.append("refused" if "refusing to add" in str(err) else str(err))
    index.close()
    out["mixed"].append(outcomes)
print(json.dumps(out))
"""


def make_old_index(path: Path) -> None:
    """An index as written before codes recorded their method: no method/version columns."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE models (name TEXT PRIMARY KEY, n_bits INTEGER NOT NULL, "
            "code TEXT NOT NULL, meta TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO models VALUES ('old', 16, 'abcd', '{}')")
    conn.close()


def test_two_processes_adding_to_one_index_lose_nothing(tmp_path: Path) -> None:
    from model_hashing.index import ModelHashIndex, hex_to_code
    from model_hashing.methods import MethodKey

    n_procs, n_trials = 2, 10
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    for t in range(n_trials):
        make_old_index(tmp_path / f"old{t}.sqlite")
    common = [str(N_ADDS), str(N_BITS), str(n_trials), str(tmp_path)]
    args = [[str(gate_dir), str(i), str(n_procs), *common] for i in range(n_procs)]

    results = run_children(INDEX, args, dict(os.environ))

    # 1. Every add of every process is there, with its own code; sizes only grew.
    index = ModelHashIndex(tmp_path / "shared.sqlite")
    try:
        assert len(index) == n_procs * N_ADDS
        assert index.method_key() == MethodKey("ophist", "test", N_BITS)
        stored = dict(index.conn.execute("SELECT name, code FROM models"))
        expected = {f"p{p}-m{j:02d}": (p, j) for p in range(n_procs) for j in range(N_ADDS)}
        assert set(stored) == set(expected)
        for name, (p, j) in expected.items():
            np.testing.assert_array_equal(hex_to_code(stored[name], N_BITS), code_of(p, j))
    finally:
        index.close()
    for r in results:
        sizes = r["sizes"]
        assert sizes == sorted(sizes) and len(set(sizes)) == N_ADDS  # each add seen at once
        assert 1 <= sizes[0] and N_ADDS <= sizes[-1] <= n_procs * N_ADDS

    for t in range(n_trials):
        # 2. Both opened the old index; it was migrated once and kept its row.
        assert [r["old"][t] for r in results] == ["ok"] * n_procs, t
        with sqlite3.connect(tmp_path / f"old{t}.sqlite") as conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(models)")]
            rows = conn.execute("SELECT name, method, version FROM models").fetchall()
        conn.close()
        assert columns == ["name", "n_bits", "code", "meta", "method", "version"]
        assert rows == [("old", "hnn", "unknown")]

        # 3. One method won the empty index; the other process was refused every time.
        outcomes = [r["mixed"][t] for r in results]
        winners = [p for p, o in enumerate(outcomes) if o == ["added"] * N_ADDS]
        assert len(winners) == 1, (t, outcomes)
        assert all(o == ["refused"] * N_ADDS for p, o in enumerate(outcomes) if p != winners[0])
        index = ModelHashIndex(tmp_path / f"mixed{t}.sqlite")
        try:
            assert index.method_key() == MethodKey(f"method{winners[0]}", "test", N_BITS)
            assert len(index) == N_ADDS
        finally:
            index.close()


def test_method_check_and_insert_are_one_transaction(tmp_path: Path) -> None:
    """A deterministic replay of the race above: A has checked that the empty index takes
    its method and pauses before inserting; B adds codes of another method meanwhile.
    B must wait for A's transaction and then be refused, not slip in between."""
    from model_hashing.index import ModelHashIndex
    from model_hashing.methods import MethodKey

    path = tmp_path / "race.sqlite"
    index_a = ModelHashIndex(path)
    key_a, key_b = (MethodKey(m, "test", N_BITS) for m in ("method-a", "method-b"))
    a_checked, b_done = threading.Event(), threading.Event()
    check = index_a.check_method

    def check_then_pause(key: MethodKey, what: str = "compare") -> None:
        check(key, what)
        a_checked.set()
        b_done.wait(1.0)  # B gets a second to slip in; with the fix it cannot

    index_a.check_method = check_then_pause  # type: ignore[method-assign]
    outcome_b: list[object] = []

    def add_b() -> None:  # its own connection, as another process would have
        index_b = ModelHashIndex(path)
        a_checked.wait(30)
        try:
            index_b.add("b", code_of(1, 0), {}, key_b)
            outcome_b.append("added")
        except ValueError as err:
            outcome_b.append(str(err))
        finally:
            b_done.set()
        outcome_b.append((index_b.method_key(), len(index_b)))
        index_b.close()

    thread = threading.Thread(target=add_b)
    thread.start()
    try:
        index_a.add("a", code_of(0, 0), {}, key_a)
    finally:
        thread.join(60)
    try:
        assert len(outcome_b) == 2 and "refusing to add" in str(outcome_b[0]), outcome_b
        assert outcome_b[1] == (key_a, 1)
        assert index_a.method_key() == key_a and len(index_a) == 1
    finally:
        index_a.close()
