"""Hash functions written as programs: a small instruction set over 64-bit registers.

A *program* is a loop body, run once per 8-byte chunk of the word, and a finaliser, run
once per word -- the shape of FNV-1a, wyhash and xxHash. It is what
``hash_envs/HashProgram-v0`` has an agent write (:mod:`hash_envs.envs.hash_program`), and
:class:`ProgramHash` makes any program a :class:`~hash_envs.hashing.HashFunction`.

**Machine.** Two 64-bit registers, arithmetic modulo ``2**64``:

* ``h``, the state, starts as ``len(data) * K0`` where ``data`` is the word's UTF-8 bytes
  (:func:`hash_envs.encoding.utf8`, lone surrogates passed through) and ``K0`` is
  :data:`CONSTANTS` [0]: the length is folded in, so ``"a"`` and ``"a\\x00"`` (the same
  zero-padded chunk) start apart, and the empty word (no chunk at all) hashes too;
* ``m``, the chunk: before each run of the body it is loaded with the next 8 bytes of
  ``data``, little-endian, the last chunk zero-padded.

The body runs ``ceil(len(data) / 8)`` times (never for the empty word); then the
finaliser runs once, and the hash value is ``h``. A :class:`ProgramHash` of ``n_bins``
bins maps a word to ``h % n_bins``, like every classical contender.

**Instructions** (:data:`INSTRUCTIONS`; ``id`` is the observation code, ``id - 1`` the
env's action):

========================  =================================  ==========================
name                      effect                             where
========================  =================================  ==========================
``xor_chunk``             ``h ^= m``                         body (a *combine*)
``add_chunk``             ``h += m``                         body (a *combine*)
``mul_chunk_k{i}``        ``m *= K[i]``                      body, before a combine
``mul_k{i}``              ``h *= K[i]``                      body and finaliser
``xorshift_{r}``          ``h ^= h >> r``                    body and finaliser
``rotl_{r}``              ``h = (h << r | h >> (64 - r))``   body and finaliser
``end_body``              ends the body                      once, after a combine
``end``                   ends the program                   once, last
========================  =================================  ==========================

with ``K`` = :data:`CONSTANTS` (four odd 64-bit multipliers: the golden ratio, SplitMix64's
two and MurmurHash3's first), ``r`` in :data:`SHIFTS` (xorshift) and :data:`ROTATIONS`.

**Legal programs** (:func:`check_program`; a violation raises ``ValueError`` naming it):
at least ``xor_chunk``/``add_chunk`` once in the body (so the hash reads the word), no
``mul_chunk`` after the body's last combine (it would be dead), chunk instructions only in
the body, exactly one ``end_body``, ``end`` last and only there, at most
:data:`MAX_PROGRAM_LENGTH` instructions in all (markers included). :func:`legal_actions`
gives the moves that keep a program under construction completable within a length limit
-- the env's ``action_masks()``.

**Three evaluators, one semantics**: :func:`interpret` (plain Python ints, one word: the
reference), :class:`EncodedWords` (numpy ``uint64`` over words encoded once: the env's
evaluator) and :meth:`ProgramHash.hash_many` (numpy over fresh strings, the bytes of all
words encoded with one join). :meth:`Program.to_python` prints a program as a
self-contained Python function of the same semantics. Tests hold all four equal.

**Files.** :meth:`Program.save` writes a small text file (suffix ``.hprog``: a format line,
``body``, one instruction per line, ``finaliser``, ..., ``end``; ``#`` comments);
:func:`load_program` reads it back and raises :class:`~hash_envs.hashing.ArtifactError`
naming the file for anything else. ``make_hash_function("rl-program", n)`` is the program
committed in ``hash_envs/data/rl_program.hprog``.

**Search** lives in :mod:`hash_envs.program_search` (it steps the env, which reads this
module): random, evolutionary and sb3-contrib ``MaskablePPO`` search on the env's reward.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hash_envs.encoding import utf8, utf8_batch
from hash_envs.hashing import ArtifactError, HashFunction

__all__ = [
    "CONSTANTS",
    "FILE_SUFFIX",
    "INSTRUCTIONS",
    "MAX_PROGRAM_LENGTH",
    "ROTATIONS",
    "SHIFTS",
    "EncodedWords",
    "Instruction",
    "Program",
    "ProgramHash",
    "check_program",
    "interpret",
    "legal_actions",
    "load_program",
    "load_program_hash",
    "rl_program",
]

MASK64 = (1 << 64) - 1
#: ``K0 .. K3``: odd 64-bit multipliers (golden ratio; SplitMix64's two; MurmurHash3's first).
CONSTANTS = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xFF51AFD7ED558CCD)
#: Right shifts of ``xorshift_r``.
SHIFTS = (13, 23, 29, 33)
#: Left rotations of ``rotl_r``.
ROTATIONS = (11, 23, 27, 31)
#: The most instructions a program may have, markers included.
MAX_PROGRAM_LENGTH = 64
FILE_SUFFIX = ".hprog"
FORMAT_LINE = "format hash-envs-program/1"
_U64 = np.uint64
_K = tuple(_U64(k) for k in CONSTANTS)


@dataclass(frozen=True)
class Instruction:
    """One instruction: its ``name``, observation ``id`` (1-based; 0 pads the observation),
    ``op`` (``xor_chunk``, ``add_chunk``, ``mul_chunk``, ``mul``, ``xorshift``, ``rotl``,
    ``end_body``, ``end``) and ``arg`` (constant index, shift or rotation; 0 if none)."""

    name: str
    id: int
    op: str
    arg: int = 0

    @property
    def body_only(self) -> bool:
        return self.op in ("xor_chunk", "add_chunk", "mul_chunk")

    @property
    def is_marker(self) -> bool:
        return self.op in ("end_body", "end")

    @property
    def is_combine(self) -> bool:
        return self.op in ("xor_chunk", "add_chunk")


def _instruction_table() -> tuple[Instruction, ...]:
    spec: list[tuple[str, str, int]] = [
        ("xor_chunk", "xor_chunk", 0),
        ("add_chunk", "add_chunk", 0),
    ]
    spec += [(f"mul_chunk_k{i}", "mul_chunk", i) for i in range(len(CONSTANTS))]
    spec += [(f"mul_k{i}", "mul", i) for i in range(len(CONSTANTS))]
    spec += [(f"xorshift_{r}", "xorshift", r) for r in SHIFTS]
    spec += [(f"rotl_{r}", "rotl", r) for r in ROTATIONS]
    spec += [("end_body", "end_body", 0), ("end", "end", 0)]
    return tuple(Instruction(name, i + 1, op, arg) for i, (name, op, arg) in enumerate(spec))


#: Every instruction, in id order (``INSTRUCTIONS[a]`` is the env's action ``a``).
INSTRUCTIONS = _instruction_table()
BY_NAME = {ins.name: ins for ins in INSTRUCTIONS}
N_INSTRUCTIONS = len(INSTRUCTIONS)
END_BODY = BY_NAME["end_body"]
END = BY_NAME["end"]


# ------------------------------------------------------------------------------ legality


def check_program(names: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first problem of a complete program (see the module
    docstring's rules); return ``None`` for a legal one."""
    if isinstance(names, str):
        raise TypeError("a program is a sequence of instruction names, not one string")
    names = list(names)
    if not names:
        raise ValueError("the program is empty: it needs a body, end_body and end")
    if len(names) > MAX_PROGRAM_LENGTH:
        raise ValueError(
            f"the program has {len(names)} instructions, more than {MAX_PROGRAM_LENGTH}"
        )
    for i, name in enumerate(names):
        if name not in BY_NAME:
            raise ValueError(f"unknown instruction {name!r} at position {i}")
    if names.count("end_body") != 1:
        raise ValueError(f"the program needs exactly one end_body, has {names.count('end_body')}")
    if names[-1] != "end" or names.count("end") != 1:
        raise ValueError("the program must end with end, and only there")
    split = names.index("end_body")
    body, finaliser = names[:split], names[split + 1 : -1]
    combines = [i for i, n in enumerate(body) if BY_NAME[n].is_combine]
    if not combines:
        raise ValueError("the body has no xor_chunk or add_chunk: the hash would not read the word")
    for i, name in enumerate(body):
        if BY_NAME[name].op == "mul_chunk" and i > combines[-1]:
            raise ValueError(f"{name} at position {i} comes after the body's last combine (dead)")
    for i, name in enumerate(finaliser, start=split + 1):
        if BY_NAME[name].body_only:
            raise ValueError(f"{name} at position {i} reads the chunk, but is in the finaliser")


@dataclass(frozen=True)
class _Prefix:
    """Where a program under construction stands."""

    in_body: bool
    has_combine: bool
    pending_mul_chunk: bool
    done: bool

    @classmethod
    def of(cls, names: Sequence[str]) -> _Prefix:
        in_body, has_combine, pending, done = True, False, False, False
        for name in names:
            ins = BY_NAME[name]
            if ins.op == "end":
                done = True
            elif ins.op == "end_body":
                in_body = False
            elif ins.is_combine:
                has_combine, pending = True, False
            elif ins.op == "mul_chunk":
                pending = True
        return cls(in_body, has_combine, pending, done)

    @property
    def ready(self) -> bool:
        """The body may end here."""
        return self.has_combine and not self.pending_mul_chunk


def legal_actions(prefix: Sequence[str], max_length: int) -> np.ndarray:
    """Boolean mask over :data:`INSTRUCTIONS`: the instructions that may come next after
    ``prefix`` so that the program can still be completed legally within ``max_length``
    instructions (markers included). All ``False`` once ``prefix`` ends with ``end``."""
    state = _Prefix.of(prefix)
    mask = np.zeros(N_INSTRUCTIONS, dtype=bool)
    remaining = max_length - len(prefix)
    if state.done or remaining < 1:
        return mask
    for a, ins in enumerate(INSTRUCTIONS):
        if state.in_body:
            if ins.op == "end":
                continue
            if ins.op == "end_body":
                mask[a] = state.ready and remaining >= 2
                continue
            ready_after = ins.is_combine or (state.ready and ins.op != "mul_chunk")
            # after this one: (a combine if not ready) + end_body + end
            mask[a] = remaining - 1 >= (0 if ready_after else 1) + 2
        else:
            if ins.op == "end":
                mask[a] = True
            elif not ins.is_marker and not ins.body_only:
                mask[a] = remaining - 1 >= 1
    return mask


# ------------------------------------------------------------------------------ programs


@dataclass(frozen=True)
class Program:
    """A legal program: instruction names, ``end_body`` and ``end`` included.

    ``Program(["xor_chunk", "mul_k0", "end_body", "xorshift_33", "end"])``; an illegal
    sequence raises ``ValueError`` naming the problem (:func:`check_program`).
    """

    instructions: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.instructions, str):
            raise TypeError("a program is a sequence of instruction names, not one string")
        object.__setattr__(self, "instructions", tuple(self.instructions))
        check_program(self.instructions)

    @classmethod
    def from_ids(cls, ids: Iterable[int]) -> Program:
        """From observation ids (1-based, see :data:`INSTRUCTIONS`); zeros are padding."""
        names = []
        for i in ids:
            i = int(i)
            if i == 0:
                continue
            if not 1 <= i <= N_INSTRUCTIONS:
                raise ValueError(f"instruction id {i} is not in 1..{N_INSTRUCTIONS}")
            names.append(INSTRUCTIONS[i - 1].name)
        return cls(tuple(names))

    @classmethod
    def from_actions(cls, actions: Iterable[int]) -> Program:
        """From env actions (0-based instruction indices)."""
        return cls.from_ids(int(a) + 1 for a in actions)

    @property
    def body(self) -> tuple[str, ...]:
        return self.instructions[: self.instructions.index("end_body")]

    @property
    def finaliser(self) -> tuple[str, ...]:
        return self.instructions[self.instructions.index("end_body") + 1 : -1]

    @property
    def ids(self) -> np.ndarray:
        return np.array([BY_NAME[n].id for n in self.instructions], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.instructions)

    def executed(self, n_chunks: np.ndarray | float) -> np.ndarray | float:
        """Instructions executed on a word of ``n_chunks`` chunks (markers not counted)."""
        return len(self.body) * n_chunks + len(self.finaliser)

    def __str__(self) -> str:
        return f"body: {' '.join(self.body)} | finaliser: {' '.join(self.finaliser) or '-'}"

    # -- text file ------------------------------------------------------------------------

    def to_text(self, comment: str = "") -> str:
        """The ``.hprog`` file text (``comment`` lines go after the format line)."""
        lines = [
            FORMAT_LINE,
            "# a word hash as a program (hash_envs.program): h = len(utf8) * K0; the body",
            "# runs once per 8-byte little-endian chunk m (zero-padded), then the finaliser",
        ]
        lines += [f"# {line}".rstrip() for line in comment.splitlines()]
        lines += ["body", *(f"  {n}" for n in self.body), "finaliser"]
        lines += [*(f"  {n}" for n in self.finaliser), "end"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> Program:
        """Parse :meth:`to_text`'s format; anything else raises ``ArtifactError`` naming
        ``source``."""
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
        if not lines or lines[0] != FORMAT_LINE:
            raise ArtifactError(
                f"{source}: not a program file (first line must be {FORMAT_LINE!r})"
            )
        if len(lines) < 2 or lines[1] != "body":
            raise ArtifactError(f"{source}: 'body' must follow the format line")
        if "finaliser" not in lines or lines[-1] != "end" or lines.count("end") != 1:
            raise ArtifactError(
                f"{source}: truncated or damaged ('finaliser' and a last 'end' needed)"
            )
        split = lines.index("finaliser")
        body, finaliser = lines[2:split], lines[split + 1 : -1]
        for name in body + finaliser:
            if name not in BY_NAME or BY_NAME[name].is_marker:
                raise ArtifactError(f"{source}: unknown instruction {name!r}")
        try:
            return cls((*body, "end_body", *finaliser, "end"))
        except ValueError as err:
            raise ArtifactError(f"{source}: illegal program: {err}") from err

    def save(self, path: str | Path, comment: str = "") -> Path:
        """Write the program as a ``.hprog`` text file; returns the path."""
        path = Path(path)
        path.write_text(self.to_text(comment), encoding="utf-8")
        return path

    # -- Python source --------------------------------------------------------------------

    def to_python(self, name: str = "program_hash") -> str:
        """The program as a self-contained Python function ``name(word, n_bins=2**64)``."""
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a Python identifier")
        lines = [
            f"def {name}(word: str, n_bins: int = 2**64) -> int:",
            f'    """{self}"""',
            "    mask = 0xFFFFFFFFFFFFFFFF",
            '    data = word.encode("utf-8", "surrogatepass")',
            f"    h = (len(data) * {CONSTANTS[0]:#x}) & mask",
            "    for i in range(0, len(data), 8):",
            '        m = int.from_bytes(data[i : i + 8], "little")',
        ]
        lines += [f"        {_python_line(n)}" for n in self.body]
        lines += [f"    {_python_line(n)}" for n in self.finaliser]
        lines += ["    return h % n_bins"]
        return "\n".join(lines) + "\n"


def _python_line(name: str) -> str:
    ins = BY_NAME[name]
    if ins.op == "xor_chunk":
        code = "h ^= m"
    elif ins.op == "add_chunk":
        code = "h = (h + m) & mask"
    elif ins.op == "mul_chunk":
        code = f"m = (m * {CONSTANTS[ins.arg]:#x}) & mask"
    elif ins.op == "mul":
        code = f"h = (h * {CONSTANTS[ins.arg]:#x}) & mask"
    elif ins.op == "xorshift":
        code = f"h ^= h >> {ins.arg}"
    else:  # rotl
        code = f"h = ((h << {ins.arg}) | (h >> {64 - ins.arg})) & mask"
    return f"{code}  # {name}"


def load_program(path: str | Path) -> Program:
    """Read a ``.hprog`` file; a missing, unreadable or damaged file raises
    :class:`~hash_envs.hashing.ArtifactError` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path}: cannot read the program file ({err})") from err
    return Program.from_text(text, source=str(path))


# ------------------------------------------------------------------------------ evaluators


def interpret(program: Program, word: str) -> int:
    """The reference: ``program``'s 64-bit value of ``word``, one word in plain Python."""
    data = utf8(word)
    h = (len(data) * CONSTANTS[0]) & MASK64
    body = [BY_NAME[n] for n in program.body]
    for i in range(0, len(data), 8):
        m = int.from_bytes(data[i : i + 8], "little")
        for ins in body:
            h, m = _step_int(ins, h, m)
    for ins in (BY_NAME[n] for n in program.finaliser):
        h, _ = _step_int(ins, h, 0)
    return h


def _step_int(ins: Instruction, h: int, m: int) -> tuple[int, int]:
    if ins.op == "xor_chunk":
        return h ^ m, m
    if ins.op == "add_chunk":
        return (h + m) & MASK64, m
    if ins.op == "mul_chunk":
        return h, (m * CONSTANTS[ins.arg]) & MASK64
    if ins.op == "mul":
        return (h * CONSTANTS[ins.arg]) & MASK64, m
    if ins.op == "xorshift":
        return h ^ (h >> ins.arg), m
    if ins.op == "rotl":
        return ((h << ins.arg) | (h >> (64 - ins.arg))) & MASK64, m
    raise ValueError(f"{ins.name} is a marker, not an operation")


def _compile(names: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """``(op, numpy constant, second constant)`` per operation, for :func:`_run_ops`."""
    out = []
    for name in names:
        ins = BY_NAME[name]
        if ins.op in ("mul", "mul_chunk"):
            out.append((ins.op, _K[ins.arg], None))
        elif ins.op == "xorshift":
            out.append((ins.op, _U64(ins.arg), None))
        elif ins.op == "rotl":
            out.append((ins.op, _U64(ins.arg), _U64(64 - ins.arg)))
        else:
            out.append((ins.op, None, None))
    return out


def _run_ops(ops: list[tuple[str, Any, Any]], h: np.ndarray, m: np.ndarray | None) -> None:
    """Apply ``ops`` to ``h`` in place (``m``: the chunks, copied before a ``mul_chunk``)."""
    owned = False
    scratch = None
    for op, a, b in ops:
        if op == "xor_chunk":
            np.bitwise_xor(h, m, out=h)
        elif op == "add_chunk":
            np.add(h, m, out=h)
        elif op == "mul":
            np.multiply(h, a, out=h)
        elif op == "xorshift":
            if scratch is None:
                scratch = np.empty_like(h)
            np.right_shift(h, a, out=scratch)
            np.bitwise_xor(h, scratch, out=h)
        elif op == "rotl":
            if scratch is None:
                scratch = np.empty_like(h)
            np.right_shift(h, b, out=scratch)
            np.left_shift(h, a, out=h)
            np.bitwise_or(h, scratch, out=h)
        elif op == "mul_chunk":
            if owned:
                np.multiply(m, a, out=m)
            else:
                m, owned = m * a, True


class EncodedWords:
    """Words encoded once for many program evaluations (the env's evaluator).

    The words are ordered by chunk count, longest first, so that the words still in the
    loop at chunk ``j`` are a prefix: chunk ``j`` of every word that has one is
    ``chunks[j]``, and the body runs on ``h[: len(chunks[j])]`` in place, with no
    gather or scatter. :meth:`run` returns the values in the input order.
    """

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        data, starts, lengths = utf8_batch(words)
        self.n = len(words)
        self.lengths = lengths
        n_chunks = (lengths + 7) >> 3
        self.n_chunks = n_chunks
        self.order = np.argsort(-n_chunks, kind="stable")
        self.inverse = np.empty_like(self.order)
        self.inverse[self.order] = np.arange(self.n)
        padded = np.zeros(data.size + 8, dtype=np.uint8)
        padded[: data.size] = data
        starts_sorted, lengths_sorted = starts[self.order], lengths[self.order]
        self.h0 = lengths_sorted.astype(np.uint64) * _K[0]
        self.chunks: list[np.ndarray] = []
        for j in range(int(n_chunks.max()) if self.n else 0):
            count = int(np.count_nonzero(n_chunks > j))
            self.chunks.append(
                _load_chunks(padded, starts_sorted[:count] + 8 * j, lengths_sorted[:count] - 8 * j)
            )

    @property
    def mean_chunks(self) -> float:
        return float(self.n_chunks.mean()) if self.n else 0.0

    def run(self, program: Program) -> np.ndarray:
        """``program``'s ``uint64`` values of the words, in input order."""
        h = self.h0.copy()
        body = _compile(program.body)
        for chunk in self.chunks:
            _run_ops(body, h[: chunk.size], chunk)
        _run_ops(_compile(program.finaliser), h, None)
        return h[self.inverse]


#: ``_TAIL_MASKS[k]`` keeps the low ``k`` bytes of a chunk (``k`` = 0 .. 8).
_TAIL_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _unaligned(padded: np.ndarray) -> np.ndarray:
    """A ``uint64`` view of ``padded`` starting at every byte (``padded`` has 8 spare
    bytes at the end): ``view[i]`` is bytes ``i .. i + 7``, little-endian."""
    return np.ndarray((padded.size - 7,), dtype="<u8", buffer=padded, strides=(1,))


def _load_chunks(padded: np.ndarray, offsets: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """8 little-endian bytes at each byte offset of ``padded`` (which has 8 spare bytes at
    the end), with the bytes past the word (``remaining`` < 8) cleared."""
    return _masked(_unaligned(padded), offsets, remaining)


def _masked(unaligned: np.ndarray, offsets: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    values = unaligned[offsets].astype(np.uint64, copy=False)  # take() is slower unaligned
    np.bitwise_and(values, _TAIL_MASKS.take(np.minimum(remaining, 8)), out=values)
    return values


def _hash_values(program: Program, words: Sequence[str]) -> np.ndarray:
    """``program``'s ``uint64`` values of fresh words (:meth:`ProgramHash.hash_many`).

    All words go through chunk 0 together; then the words longer than 8 bytes (``take``
    of their offsets, a ``put`` of their states back), and so on: one numpy call per
    instruction and chunk index, never one per word.
    """
    data, starts, lengths = utf8_batch(words)
    n = lengths.size
    h = lengths.astype(np.uint64)
    np.multiply(h, _K[0], out=h)
    if n == 0:
        return h
    padded = np.empty(data.size + 8, dtype=np.uint8)
    padded[: data.size] = data
    padded[data.size :] = 0
    view = _unaligned(padded)
    body = _compile(program.body)
    if lengths.all():  # chunk 0: every word (the empty word has no chunk)
        _run_ops(body, h, _masked(view, starts, lengths))
        active = np.flatnonzero(lengths > 8)
    else:
        active = np.flatnonzero(lengths)
        active = _step(body, h, view, active, starts.take(active), lengths.take(active))
    shift = 8
    while active.size:  # chunk k: the words longer than 8 k bytes
        offsets = starts.take(active) + shift
        remaining = lengths.take(active) - shift
        part = h.take(active)
        _run_ops(body, part, _masked(view, offsets, remaining))
        h.put(active, part)
        active = active.compress(remaining > 8)
        shift += 8
    _run_ops(_compile(program.finaliser), h, None)
    return h


def _step(body, h, view, active, offsets, remaining) -> np.ndarray:
    """One chunk for the words ``active``; returns those with more bytes left."""
    part = h.take(active)
    _run_ops(body, part, _masked(view, offsets, remaining))
    h.put(active, part)
    return active.compress(remaining > 8)


class ProgramHash(HashFunction):
    """A :class:`Program` as a hash function: word -> ``h % n_bins``.

    Total over ``str`` (UTF-8 with ``surrogatepass``; the empty word and words of any
    length hash), deterministic across processes (integer arithmetic only), vectorised
    ``hash_many`` (one join and one ``encode`` for the whole batch, chunks read from the
    byte buffer with numpy). ``program`` is a :class:`Program`, a sequence of instruction
    names, or the path of a ``.hprog`` file. ``size_bytes`` is one byte per instruction.
    """

    name = "program"

    def __init__(
        self, program: Program | Sequence[str] | str | Path, n_bins: int, name: str = "program"
    ) -> None:
        super().__init__(n_bins)
        if self.n_bins > 2**63:
            raise ValueError(f"n_bins must be at most 2**63 (bins are int64), got {self.n_bins}")
        if isinstance(program, str | Path):
            program = load_program(program)
        elif not isinstance(program, Program):
            program = Program(tuple(program))
        self.program = program
        self.name = name
        self._bins = _U64(self.n_bins)
        self._pow2 = self.n_bins & (self.n_bins - 1) == 0

    @property
    def size_bytes(self) -> int:
        return len(self.program)

    def values(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """The 64-bit values (``uint64``) of ``words``, before ``% n_bins``."""
        return _hash_values(self.program, words if isinstance(words, list) else list(words))

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        h = self.values(words)
        if self._pow2:
            np.bitwise_and(h, _U64(self.n_bins - 1), out=h)
        else:
            np.remainder(h, self._bins, out=h)
        return h.view(np.int64)

    def __call__(self, word: str) -> int:
        return interpret(self.program, word) % self.n_bins

    def save(self, path: str | Path, comment: str = "") -> Path:
        return self.program.save(path, comment)


def load_program_hash(path: str | Path, n_bins: int = 2**32) -> ProgramHash:
    """The ``hash_envs.artifact_loaders`` loader for ``.hprog`` files. A program has no bin
    count of its own, so a loaded one hashes into ``n_bins`` (default ``2**32``)."""
    return ProgramHash(load_program(path), n_bins, name=Path(path).name)


RL_PROGRAM_FILE = "rl_program.hprog"


def rl_program(n_bins: int) -> ProgramHash:
    """The leaderboard contender ``rl-program``: the committed best program found by the
    project's program search (``hash_envs/data/rl_program.hprog``; see
    ``docs/hash_program.md`` for how it was found)."""
    source = resources.files("hash_envs").joinpath("data", RL_PROGRAM_FILE)
    program = Program.from_text(
        source.read_text(encoding="utf-8"), source=f"hash_envs/data/{RL_PROGRAM_FILE}"
    )
    return ProgramHash(program, n_bins, name="rl-program")
