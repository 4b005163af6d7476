"""Word corpora for the environments and the leaderboard, behind one entry point.

Two corpora are known by name:

* ``"moby"`` -- the Moby word list as packaged by dwyl/english-words (466,551 words), the
  list the learned-hash literature evaluates on. It is too big to ship, so
  :func:`moby_path` looks for it, first hit wins:

  1. an explicit ``path`` argument;
  2. the environment variable ``HASH_ENVS_MOBY`` (path to ``words.zip`` or ``words.txt``;
     set but pointing nowhere is an error, so a typo never silently changes the corpus);
  3. the cache file ``<cache>/moby/words.zip``, where ``<cache>`` is :func:`cache_dir`;
  4. unless ``download=False``: a one-time download of :data:`MOBY_URL`, checked against
     :data:`MOBY_SHA256` and moved into the cache atomically. Processes that ask at the
     same time download it once: one fetches, the others wait for it (``flock``).

* ``"web2"`` -- Webster's Second (235,970 words) as embedded in the ``english-words``
  package, so everything also works offline.

Any other argument to :func:`load` is a path to a ``.zip`` holding a ``.txt`` word list or
to a UTF-8 text file with one word per line. Every corpus is normalised the same way --
lines stripped, empty lines dropped, duplicates removed, sorted in Python string order --
so a corpus, and every seeded :func:`subset` of it, is the same on every machine.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import operator
import os
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock; downloads are still atomic, maybe duplicated
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MOBY_URL",
    "MOBY_SHA256",
    "MOBY_ENV_VAR",
    "CACHE_ENV_VAR",
    "MOBY_N_WORDS",
    "WEB2_N_WORDS",
    "CORPUS_NAMES",
    "CorpusError",
    "cache_dir",
    "moby_path",
    "moby_available",
    "default_corpus_name",
    "load",
    "subset_indices",
    "subset",
    "split",
]

MOBY_URL = "https://github.com/dwyl/english-words/raw/master/words.zip"
MOBY_SHA256 = "05e3d51c50d075aa33ba61877c1a6db53984d824bd32dc8ce95328b42d01ae92"
MOBY_ENV_VAR = "HASH_ENVS_MOBY"
CACHE_ENV_VAR = "HASH_ENVS_CACHE"
MOBY_N_WORDS = 466551
WEB2_N_WORDS = 235970
CORPUS_NAMES = ("moby", "web2")

_CHUNK = 1 << 20


class CorpusError(RuntimeError):
    """A corpus file cannot be found, fetched or read; the message says how to fix it."""


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Directory for downloaded data: ``override``, else ``$HASH_ENVS_CACHE``, else
    ``~/.cache/hash_envs``. Nothing is created here; the downloader creates what it needs."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hash_envs"


def _cached_zip(override: str | os.PathLike[str] | None) -> Path:
    return cache_dir(override) / "moby" / "words.zip"


def _how_to_supply(cached: Path) -> str:
    return (
        "Supply the Moby word list in one of these ways: pass its path "
        "(e.g. load('/path/to/words.zip')); set "
        f"{MOBY_ENV_VAR}=/path/to/words.zip (or words.txt); put words.zip into {cached.parent}/ "
        f"(or point {CACHE_ENV_VAR} at a cache directory holding moby/words.zip); or use the "
        f"offline corpus 'web2'. The file is {MOBY_URL} (sha256 {MOBY_SHA256})."
    )


def moby_path(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    url: str = MOBY_URL,
    sha256: str = MOBY_SHA256,
    timeout: float = 60.0,
) -> Path:
    """Locate the Moby word list (see the module docstring for the order), downloading
    ``url`` into the cache once if nothing local is found and ``download`` is true.

    ``sha256`` is the expected checksum of what ``url`` serves; both are parameters so a
    mirror (or a test server) can stand in for GitHub.
    """
    cached = _cached_zip(cache_dir)
    if path is not None:
        candidate = Path(os.path.expanduser(path))
        if not candidate.is_file():
            raise CorpusError(f"Moby word list not found at the given path {str(candidate)!r}.")
        return candidate
    env = os.environ.get(MOBY_ENV_VAR)
    if env:
        candidate = Path(os.path.expanduser(env))
        if not candidate.is_file():
            raise CorpusError(
                f"{MOBY_ENV_VAR} is set to {env!r}, but no such file exists. Point it at "
                "words.zip or words.txt, or unset it to use the cache or the download."
            )
        return candidate
    if cached.is_file():
        return cached
    if not download:
        raise CorpusError(
            f"Moby word list not found locally and download=False. {_how_to_supply(cached)}"
        )
    _download(url, cached, sha256, timeout)
    return cached


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory`` itself, so no lock file is left behind.

    The kernel drops the lock when its holder exits, even when killed. Where ``flock`` is
    missing or refused (Windows, some network file systems) this does not lock: the
    download stays atomic, only several processes may fetch the file at once.
    """
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(directory, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Download ``dest`` once, however many processes ask at the same time: one fetches
    while the others wait for it, then find the file and use it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.parent):
        if dest.is_file():  # fetched by another process while this one waited
            return
        for stale in dest.parent.glob(f".{dest.name}.*.part"):
            stale.unlink(missing_ok=True)  # left by a killed download: nobody writes it now
        _fetch(url, dest, sha256, timeout)


def _fetch(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Fetch ``url`` into a temp file beside ``dest``, verify it, then rename it into place,
    so an interrupted or bad download never leaves a file that later runs would trust."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:  # URLError, HTTPError, timeouts
            raise CorpusError(
                f"Could not download the Moby word list from {url}: {exc}. {_how_to_supply(dest)}"
            ) from exc
        if digest.hexdigest() != sha256.lower():
            raise CorpusError(
                f"Checksum mismatch for {url}: expected sha256 {sha256}, got "
                f"{digest.hexdigest()}; the download was discarded. {_how_to_supply(dest)}"
            )
        try:
            _read_zip(tmp)  # refuse a zip that would only fail later, at load time
        except CorpusError as exc:
            raise CorpusError(
                f"The file downloaded from {url} is not a usable word-list zip ({exc}); "
                f"it was discarded. {_how_to_supply(dest)}"
            ) from exc
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def moby_available(cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether :func:`moby_path` would succeed without the network.

    A misconfigured ``HASH_ENVS_MOBY`` counts as unavailable here; :func:`moby_path`
    raises for it with the details.
    """
    try:
        moby_path(cache_dir=cache_dir, download=False)
    except CorpusError:
        return False
    return True


def default_corpus_name(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """``"moby"`` when it is available offline, else ``"web2"``: what demos use so they
    run anywhere without a download."""
    return "moby" if moby_available(cache_dir) else "web2"


def load(
    name_or_path: str | os.PathLike[str] = "moby",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    url: str = MOBY_URL,
    sha256: str = MOBY_SHA256,
) -> list[str]:
    """Words of a corpus: ``"moby"``, ``"web2"``, or a path to a ``.txt``/``.zip`` word file.

    Parsed corpora are cached per process; each call returns a new list, so callers may
    modify it freely.
    """
    if isinstance(name_or_path, str) and name_or_path in CORPUS_NAMES:
        if name_or_path == "web2":
            return list(_web2_words())
        path = moby_path(cache_dir=cache_dir, download=download, url=url, sha256=sha256)
    else:
        # os.path.expanduser leaves an unknown "~user" as it is; Path.expanduser raises
        # RuntimeError for it, where the message below is the helpful answer.
        path = Path(os.path.expanduser(name_or_path))
        if not path.is_file():
            raise ValueError(
                f"name_or_path must be one of {', '.join(map(repr, CORPUS_NAMES))} or the path "
                f"of an existing .txt/.zip word file; got {os.fspath(name_or_path)!r}"
            )
    return list(_read_words(path))


@functools.cache
def _web2_words() -> tuple[str, ...]:
    # The package stores each list as a pickled set; asking for it without the
    # alpha/lower options returns that raw set unchanged.
    from english_words import get_english_words_set

    return _normalise(get_english_words_set(["web2"]))


def _read_words(path: Path) -> tuple[str, ...]:
    """Words of the file at ``path``, re-parsed only when the file changes."""
    resolved = path.resolve()
    st = resolved.stat()
    return _parse_file(str(resolved), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _parse_file(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """Parse ``path``; ``mtime_ns`` and ``size`` only key the cache."""
    file = Path(path)
    data = _read_zip(file) if file.suffix.lower() == ".zip" else file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text: {exc}") from exc
    words = _normalise(text.splitlines())
    if not words:
        raise CorpusError(f"{path} holds no words (expected one word per line)")
    return words


def _read_zip(path: Path) -> bytes:
    """The word list inside a zip: its ``words.txt``, else its only ``.txt`` member."""
    try:
        with zipfile.ZipFile(path) as zf:
            txt = [n for n in zf.namelist() if n.lower().endswith(".txt")]
            named = [n for n in txt if Path(n).name == "words.txt"]
            members = named or txt
            if len(members) != 1:
                found = ", ".join(zf.namelist()) or "nothing"
                raise CorpusError(
                    f"{path} must hold words.txt or exactly one .txt word list; it holds {found}"
                )
            return zf.read(members[0])
    except CorpusError:
        raise
    # A damaged header can also claim an unknown version, method or encryption
    # (NotImplementedError, RuntimeError) or a bad deflate stream (OSError).
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        OSError,
    ) as exc:
        raise CorpusError(f"{path} is not a valid zip file ({exc}); replace it") from exc


def _normalise(lines: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({s for line in lines if (s := line.strip())}))


def subset_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """``k`` distinct indices into a corpus of ``n`` words, ascending, fixed by ``seed``.

    This defines the environments' word pool and the leaderboard's memorize-K track, so
    it must not change: it uses only its own generator, never global RNG state.
    """
    n, k = operator.index(n), operator.index(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the corpus size {n}, got {k}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=k, replace=False))


def subset(words: Sequence[str], k: int, seed: int = 0) -> list[str]:
    """``k`` distinct words of ``words`` chosen by ``seed``, in corpus order."""
    return [words[i] for i in subset_indices(len(words), k, seed)]


def split(
    words: Sequence[str], n_train: int, n_test: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """A train pool and ``n_test`` held-out words, disjoint, both in corpus order.

    The train pool is exactly ``subset(words, n_train, seed)``, so a held-out evaluation
    uses the same pool as the environment built with that seed.
    """
    n_train, n_test = operator.index(n_train), operator.index(n_test)
    if n_train < 1 or n_test < 0 or n_train + n_test > len(words):
        raise ValueError(
            f"need n_train >= 1, n_test >= 0 and n_train + n_test <= the corpus size "
            f"{len(words)}; got n_train={n_train}, n_test={n_test}"
        )
    train = subset_indices(len(words), n_train, seed)
    rest = np.ones(len(words), dtype=bool)
    rest[train] = False
    test_rng = np.random.default_rng([seed, 1])  # a stream of its own, independent of train
    test = np.sort(test_rng.choice(np.flatnonzero(rest), size=n_test, replace=False))
    return [words[i] for i in train], [words[i] for i in test]
