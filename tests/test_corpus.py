"""Tests for hash_envs.corpus: resolution order, parsing, the download path, splits.

No test touches the internet or ~/.cache: downloads go to a loopback HTTP server and
every cache directory lives under tmp_path.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import random
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hash_envs import corpus
from hash_envs.corpus import CorpusError

SHARED_MOBY = os.environ.get(corpus.MOBY_ENV_VAR)
needs_shared_moby = pytest.mark.skipif(
    not (SHARED_MOBY and Path(SHARED_MOBY).is_file()),
    reason=f"{corpus.MOBY_ENV_VAR} does not point at the shared Moby words.zip",
)

SMALL_WORDS = ["apple", "banana", "cherry", "date", "elderberry"]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Unset the Moby variable and point the cache at tmp_path for every test."""
    cache = tmp_path / "cache"
    monkeypatch.delenv(corpus.MOBY_ENV_VAR, raising=False)
    monkeypatch.setenv(corpus.CACHE_ENV_VAR, str(cache))
    return cache


def make_zip(path: Path, members: dict[str, str], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def put_in_cache(cache: Path, text: str) -> Path:
    (cache / "moby").mkdir(parents=True)
    return make_zip(cache / "moby" / "words.zip", {"words.txt": text})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class LoopbackServer:
    """Serves ``routes`` (URL path -> bytes) on 127.0.0.1; anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.stall: set[str] = set()
        self.requests: list[str] = []
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
                    if self.path in server.stall:  # send half, then hang past the timeout
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        time.sleep(1.0)
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def small_zip(tmp_path: Path) -> bytes:
    path = make_zip(tmp_path / "small.zip", {"words.txt": "\n".join(SMALL_WORDS) + "\n"})
    return path.read_bytes()


# --- cache_dir ---------------------------------------------------------------------------


def test_cache_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert corpus.cache_dir(tmp_path / "x") == tmp_path / "x"
    assert corpus.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(corpus.CACHE_ENV_VAR)
    assert corpus.cache_dir() == Path.home() / ".cache" / "hash_envs"


# --- resolution order --------------------------------------------------------------------


def test_explicit_path_beats_env_var_beats_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_env: Path
) -> None:
    explicit = tmp_path / "explicit.txt"
    explicit.write_text("explicit\n")
    from_env = tmp_path / "env.txt"
    from_env.write_text("env\n")
    cached = put_in_cache(isolated_env, "cached\n")
    monkeypatch.setenv(corpus.MOBY_ENV_VAR, str(from_env))

    assert corpus.moby_path(explicit, download=False) == explicit
    assert corpus.moby_path(download=False) == from_env
    assert corpus.load("moby", download=False) == ["env"]
    monkeypatch.delenv(corpus.MOBY_ENV_VAR)
    assert corpus.moby_path(download=False) == cached
    assert corpus.load("moby", download=False) == ["cached"]


def test_cache_dir_argument_overrides_env(tmp_path: Path) -> None:
    other = tmp_path / "other"
    cached = put_in_cache(other, "x\n")
    assert corpus.moby_path(cache_dir=other, download=False) == cached
    assert not corpus.moby_available()
    assert corpus.moby_available(cache_dir=other)


def test_env_var_pointing_nowhere_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_env: Path
) -> None:
    # A valid cached copy must not hide the misconfigured variable.
    put_in_cache(isolated_env, "cached\n")
    missing = tmp_path / "nope" / "words.zip"
    monkeypatch.setenv(corpus.MOBY_ENV_VAR, str(missing))
    with pytest.raises(CorpusError, match=corpus.MOBY_ENV_VAR) as info:
        corpus.moby_path(download=False)
    assert str(missing) in str(info.value)
    with pytest.raises(CorpusError):
        corpus.load("moby", download=False)
    assert not corpus.moby_available()


def test_explicit_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        corpus.moby_path(tmp_path / "missing.zip", download=False)


def test_nothing_found_without_download_explains_how_to_supply(
    server: LoopbackServer, isolated_env: Path
) -> None:
    with pytest.raises(CorpusError) as info:
        corpus.moby_path(download=False, url=server.url("/words.zip"))
    message = str(info.value)
    for hint in (corpus.MOBY_ENV_VAR, "web2", str(isolated_env / "moby")):
        assert hint in message
    assert server.requests == []
    assert not isolated_env.exists()
    assert not corpus.moby_available()
    assert corpus.default_corpus_name() == "web2"


def test_default_corpus_name_prefers_moby(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("a\n")
    monkeypatch.setenv(corpus.MOBY_ENV_VAR, str(words))
    assert corpus.moby_available()
    assert corpus.default_corpus_name() == "moby"


# --- reading files -----------------------------------------------------------------------


def test_text_file_normalised(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_bytes(b"pear\r\n\r\napple\r\n  pear  \n\nZebra\nbanana\r\n\n")
    assert corpus.load(path) == ["Zebra", "apple", "banana", "pear"]
    assert corpus.load(str(path)) == ["Zebra", "apple", "banana", "pear"]


def test_text_file_utf8(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("\ufeffcafé\nnaïve\ncafe\n", encoding="utf-8")
    assert corpus.load(path) == ["cafe", "café", "naïve"]
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(CorpusError, match="UTF-8"):
        corpus.load(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("\n \r\n")
    with pytest.raises(CorpusError, match="no words"):
        corpus.load(path)


def test_zip_reads_words_txt(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "w.zip",
        {"README.txt": "not words\n", "words.txt": "b\r\na\nb\n", "LICENSE": "x"},
    )
    assert corpus.load(path) == ["a", "b"]
    nested = make_zip(tmp_path / "nested.zip", {"dir/list.txt": "y\nx\n", "dir/": ""})
    assert corpus.load(nested) == ["x", "y"]


def test_zip_without_txt_member(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "w.zip", {"words.csv": "a\nb\n"})
    with pytest.raises(CorpusError, match=r"words\.txt"):
        corpus.load(path)


def test_zip_with_ambiguous_txt_members(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "w.zip", {"a.txt": "a\n", "b.txt": "b\n"})
    with pytest.raises(CorpusError, match="exactly one"):
        corpus.load(path)


def test_corrupt_zip(tmp_path: Path) -> None:
    path = tmp_path / "words.zip"
    path.write_bytes(b"this is not a zip file at all\n")
    with pytest.raises(CorpusError, match="not a valid zip"):
        corpus.load(path)
    # Truncated: the central directory is gone.
    good = make_zip(tmp_path / "good.zip", {"words.txt": "a\n" * 1000}).read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorpusError, match="not a valid zip"):
        corpus.load(path)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_with_damaged_member(tmp_path: Path, compression: int) -> None:
    text = "".join(f"word{i}\n" for i in range(200))
    data = bytearray(make_zip(tmp_path / "w.zip", {"words.txt": text}, compression).read_bytes())
    data[45] ^= 0xFF  # inside the member data: the local header + name end at byte 39
    path = tmp_path / "bad.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(CorpusError):
        corpus.load(path)


def test_unknown_name_is_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name_or_path") as info:
        corpus.load("mob")
    assert "'moby'" in str(info.value) and "'web2'" in str(info.value)
    assert not isinstance(info.value, CorpusError)
    with pytest.raises(ValueError, match="name_or_path"):
        corpus.load(tmp_path)  # a directory is not a word file


def test_load_returns_fresh_copy(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("b\na\n")
    first = corpus.load(path)
    first.append("zzz")
    first.reverse()
    second = corpus.load(path)
    assert second == ["a", "b"]
    assert second is not corpus.load(path)
    web2 = corpus.load("web2")
    web2.clear()
    assert len(corpus.load("web2")) == corpus.WEB2_N_WORDS


def test_changed_file_is_reparsed(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("a\nb\n")
    assert corpus.load(path) == ["a", "b"]
    path.write_text("c\nd\ne\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert corpus.load(path) == ["c", "d", "e"]


def test_web2() -> None:
    words = corpus.load("web2")
    assert len(words) == corpus.WEB2_N_WORDS == 235970
    assert words == sorted(set(words))
    assert all(w and w == w.strip() for w in words)
    assert words[:3] == ["A", "Aani", "Aaron"]


# --- downloading -------------------------------------------------------------------------


def test_download_once_into_cache(
    server: LoopbackServer, small_zip: bytes, isolated_env: Path
) -> None:
    server.routes["/words.zip"] = small_zip
    url, digest = server.url("/words.zip"), sha256(small_zip)

    path = corpus.moby_path(url=url, sha256=digest)
    assert path == isolated_env / "moby" / "words.zip"
    assert path.read_bytes() == small_zip
    assert files_under(isolated_env) == [path]
    assert corpus.load("moby", url=url, sha256=digest) == SMALL_WORDS
    assert corpus.moby_available()
    assert server.requests == ["/words.zip"]  # the second resolution used the cache


def test_download_via_load_with_cache_dir_argument(
    server: LoopbackServer, small_zip: bytes, tmp_path: Path, isolated_env: Path
) -> None:
    server.routes["/w.zip"] = small_zip
    other = tmp_path / "elsewhere"
    words = corpus.load(
        "moby", cache_dir=other, url=server.url("/w.zip"), sha256=sha256(small_zip).upper()
    )
    assert words == SMALL_WORDS
    assert files_under(other) == [other / "moby" / "words.zip"]
    assert not isolated_env.exists()


def test_download_checksum_mismatch_leaves_nothing(
    server: LoopbackServer, small_zip: bytes, isolated_env: Path
) -> None:
    corrupted = bytearray(small_zip)
    corrupted[len(corrupted) // 2] ^= 0xFF
    server.routes["/words.zip"] = bytes(corrupted)
    with pytest.raises(CorpusError, match="[Cc]hecksum mismatch") as info:
        corpus.moby_path(url=server.url("/words.zip"), sha256=sha256(small_zip))
    assert corpus.MOBY_ENV_VAR in str(info.value)
    assert files_under(isolated_env) == []
    assert not corpus.moby_available()


def test_download_of_corrupt_zip_with_matching_checksum(
    server: LoopbackServer, isolated_env: Path
) -> None:
    body = b"PK\x03\x04 definitely not a complete zip archive"
    server.routes["/words.zip"] = body
    with pytest.raises(CorpusError, match="not a usable word-list zip"):
        corpus.moby_path(url=server.url("/words.zip"), sha256=sha256(body))
    assert files_under(isolated_env) == []


def test_download_404(server: LoopbackServer, isolated_env: Path) -> None:
    with pytest.raises(CorpusError, match="404") as info:
        corpus.load("moby", url=server.url("/missing.zip"))
    assert "web2" in str(info.value)
    assert server.requests == ["/missing.zip"]
    assert files_under(isolated_env) == []


def test_download_without_server(isolated_env: Path) -> None:
    with socket.socket() as sock:  # reserve a free port, then close it: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CorpusError, match="Could not download") as info:
        corpus.moby_path(url=f"http://127.0.0.1:{port}/words.zip", timeout=5)
    message = str(info.value)
    for hint in (corpus.MOBY_ENV_VAR, "web2", "words.zip", str(isolated_env / "moby")):
        assert hint in message
    assert files_under(isolated_env) == []


def test_download_timeout_mid_transfer(
    server: LoopbackServer, small_zip: bytes, isolated_env: Path
) -> None:
    server.routes["/words.zip"] = small_zip
    server.stall.add("/words.zip")
    with pytest.raises(CorpusError, match="Could not download"):
        corpus.moby_path(url=server.url("/words.zip"), sha256=sha256(small_zip), timeout=0.2)
    assert files_under(isolated_env) == []


# --- the real Moby list (shared copy) ----------------------------------------------------


@needs_shared_moby
def test_real_moby_download_path(server: LoopbackServer, tmp_path: Path) -> None:
    assert SHARED_MOBY is not None
    server.routes["/dwyl/words.zip"] = Path(SHARED_MOBY).read_bytes()
    cache = tmp_path / "real-cache"
    path = corpus.moby_path(cache_dir=cache, url=server.url("/dwyl/words.zip"))
    assert path == cache / "moby" / "words.zip"
    assert sha256(path.read_bytes()) == corpus.MOBY_SHA256
    assert files_under(cache) == [path]
    words = corpus.load("moby", cache_dir=cache, download=False)
    assert len(words) == corpus.MOBY_N_WORDS


@needs_shared_moby
def test_real_moby_load(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SHARED_MOBY is not None
    monkeypatch.setenv(corpus.MOBY_ENV_VAR, SHARED_MOBY)
    start = time.perf_counter()
    words = corpus.load("moby", download=False)
    elapsed = time.perf_counter() - start
    assert len(words) == corpus.MOBY_N_WORDS == 466551
    assert words == sorted(set(words))
    assert max(map(len, words)) == 45
    assert all(w and w == w.strip() for w in words)
    assert elapsed < 5.0, f"loading Moby took {elapsed:.2f}s"
    start = time.perf_counter()
    assert corpus.load("moby", download=False) == words
    assert time.perf_counter() - start < 0.5  # parsed once per process


# --- subsets and splits ------------------------------------------------------------------

WORDS = [f"w{i:04d}" for i in range(1000)]


def test_subset_indices_pinned() -> None:
    # The memorize-K track and the environments' pools depend on these exact values.
    assert corpus.subset_indices(10, 3, seed=0).tolist() == [5, 6, 9]
    assert corpus.subset_indices(466551, 5, seed=0).tolist() == [
        125868,
        143618,
        238470,
        297173,
        396856,
    ]


def test_subset_reproducible_sorted_distinct() -> None:
    a = corpus.subset(WORDS, 100, seed=7)
    np.random.seed(123)
    random.seed(123)
    np.random.rand(10)
    b = corpus.subset(WORDS, 100, seed=7)
    assert a == b
    assert len(a) == len(set(a)) == 100
    assert a == sorted(a)
    assert set(a) <= set(WORDS)
    assert corpus.subset(WORDS, 100, seed=8) != a
    idx = corpus.subset_indices(len(WORDS), 100, seed=7)
    assert [WORDS[i] for i in idx] == a
    assert np.all(np.diff(idx) > 0)


def test_subset_keeps_corpus_order_and_full_size() -> None:
    unsorted = ["c", "a", "b"]
    assert corpus.subset(unsorted, 3, seed=0) == unsorted
    assert corpus.subset(WORDS, len(WORDS), seed=3) == WORDS


@pytest.mark.parametrize("k", [0, -1, 1001])
def test_subset_bad_k(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        corpus.subset(WORDS, k)
    with pytest.raises(ValueError, match="k must be"):
        corpus.subset_indices(len(WORDS), k)


def test_split_disjoint_and_reproducible() -> None:
    train, test = corpus.split(WORDS, 300, 200, seed=5)
    assert len(train) == 300 and len(test) == 200
    assert not set(train) & set(test)
    assert train == sorted(train) and test == sorted(test)
    assert train == corpus.subset(WORDS, 300, seed=5)
    assert corpus.split(WORDS, 300, 200, seed=5) == (train, test)
    assert corpus.split(WORDS, 300, 200, seed=6) != (train, test)
    all_train, no_test = corpus.split(WORDS, 600, 400, seed=1)
    assert sorted(all_train + no_test) == WORDS
    assert corpus.split(WORDS, 10, 0)[1] == []


@pytest.mark.parametrize(("n_train", "n_test"), [(900, 101), (0, 10), (10, -1)])
def test_split_bad_sizes(n_train: int, n_test: int) -> None:
    with pytest.raises(ValueError, match="n_train"):
        corpus.split(WORDS, n_train, n_test)
