"""Tests for the weight-hash baseline (``baselines.weight_hash``)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from baselines.classical import XXH64
from baselines.weight_hash import (
    DEFAULT_CONFIG,
    WeightHash,
    WeightHashConfig,
    char_values,
    to_blocks,
    trained_weights,
    verify,
    weight_hash,
    weight_hash_many,
    weights_from_digest,
)
from hash_envs.hashing import HashFunction

DIGEST_HEX = 6 * 6 * 8 * 2  # 36 signed 64-bit integers, in hex

#: sha256 of the digests of these strings under the default configuration. A change
#: here means previously issued digests no longer verify.
PINNED = {
    "hello world": "d76a057b541a4e597d9dcf293e0efd2d",
    "a": "f0c6c832901be67f9aee654ce37a24c8",
    "Hashing with Neural Network Weights": "ec58405026ac8987436c9c9426269cfb",
    "naïve 日本語 𝄞": "bbc0591c20b3621629347408222159ee",
}


def _varied_strings(n: int, seed: int = 0) -> list[str]:
    """Strings of 1..40 characters from ASCII, Latin-1, CJK and astral planes."""
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(1, 0x250)] + list("日本語テキスト𝄞😀")
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def _reference_weights(s: str, config: WeightHashConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The method written the ordinary PyTorch way: nn.Linear, MSELoss, torch.optim.Adam."""
    rows = to_blocks(s, config.width)
    layer = torch.nn.Linear(config.width, config.width, bias=False).double()
    torch.nn.init.zeros_(layer.weight)
    optimiser = torch.optim.Adam(layer.parameters(), lr=config.lr)
    for _ in range(config.epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(torch.tanh(layer(rows)), config.target(rows))
        loss.backward()
        optimiser.step()
    return layer.weight.detach().numpy()


# ----------------------------------------------------------------------------- encoding


def test_to_blocks_zero_pads_rows_of_inverse_square_roots() -> None:
    blocks = to_blocks("abcdefg")
    assert blocks.dtype == torch.float64 and blocks.shape == (2, 6)
    expected = [1 / math.sqrt(ord(c)) for c in "abcdefg"] + [0.0] * 5
    assert blocks.flatten().tolist() == expected
    assert to_blocks("abcdefg", width=4).shape == (2, 4)
    assert to_blocks("abcdef").shape == (1, 6)


@pytest.mark.parametrize("bad", ["", "\0", "ab\0cd", "\0abc"])
def test_inputs_the_formula_cannot_take_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="empty|U\\+0000"):
        char_values(bad)
    with pytest.raises(ValueError):
        weight_hash(bad)
    with pytest.raises(ValueError):
        verify(bad, "00")


@pytest.mark.parametrize("bad", [None, b"abc", 5, ["a"]])
def test_non_strings_raise_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="must be str"):
        weight_hash(bad)  # type: ignore[arg-type]


def test_batch_errors_name_the_offending_input() -> None:
    with pytest.raises(ValueError, match="input 2 "):
        weight_hash_many(["ok", "fine", "", "x"])


@pytest.mark.parametrize("s", ["日本語", "𝄞", "\ud800", "\x01", "\U0010ffff", "a" * 100])
def test_any_other_unicode_is_accepted(s: str) -> None:
    digest = weight_hash(s)
    assert len(digest) == DIGEST_HEX and int(digest, 16) >= 0
    assert verify(s, digest)


# ----------------------------------------------------------------------------- the method


@pytest.mark.parametrize("s", ["hello world", "abc", "supercalifragilistic", "x", "日本語テキスト"])
def test_training_matches_the_ordinary_pytorch_implementation(s: str) -> None:
    ours = trained_weights([s])[0]
    np.testing.assert_allclose(ours, _reference_weights(s), rtol=0, atol=1e-12)


def test_configuration_is_honoured() -> None:
    config = WeightHashConfig(width=4, epochs=30, lr=0.5, target=lambda r: 0.5 - r)
    ours = trained_weights(["configurable"], config)[0]
    assert ours.shape == (4, 4)
    np.testing.assert_allclose(ours, _reference_weights("configurable", config), atol=1e-12)
    assert len(weight_hash("configurable", config)) == 4 * 4 * 16
    assert not trained_weights(["zero"], WeightHashConfig(epochs=0)).any()
    digests = {
        weight_hash("knob", c)
        for c in (
            DEFAULT_CONFIG,
            WeightHashConfig(epochs=99),
            WeightHashConfig(lr=0.9),
            WeightHashConfig(target=lambda r: 0.9 - r),
            WeightHashConfig(fraction_bits=32),
        )
    }
    assert len(digests) == 5


@pytest.mark.parametrize(
    "kwargs", [{"width": 0}, {"epochs": -1}, {"lr": 0.0}, {"fraction_bits": 53}]
)
def test_bad_configuration_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        WeightHashConfig(**kwargs)


def test_weights_too_large_for_the_digest_raise() -> None:
    with pytest.raises(OverflowError, match="fraction_bits"):
        weight_hash("overflow", WeightHashConfig(lr=1e15))


def test_digest_encodes_the_rounded_weights() -> None:
    digest = weight_hash("hello world")
    assert len(digest) == DIGEST_HEX
    rounded = np.round(trained_weights(["hello world"])[0] * 2.0**20) / 2.0**20
    np.testing.assert_array_equal(weights_from_digest(digest), rounded)


# ----------------------------------------------------------------------------- determinism


def test_digests_are_pinned() -> None:
    got = {s: hashlib.sha256(weight_hash(s).encode()).hexdigest()[:32] for s in PINNED}
    assert got == PINNED


def test_batched_equals_single_for_any_batch_size_and_thread_count() -> None:
    strings = _varied_strings(150)
    single = [weight_hash(s) for s in strings]
    assert weight_hash_many(strings) == single
    assert weight_hash_many(strings, batch_size=7) == single
    assert weight_hash_many(iter(strings)) == single
    # Intra-op threads only split element-wise loops. One batch (one row count) keeps this
    # quick even on a loaded machine, where OpenMP threads wait for each other at every op.
    short = [k for k, s in enumerate(strings) if len(s) <= 6]
    assert weight_hash_many([strings[k] for k in short], threads=2) == [single[k] for k in short]


def test_thread_setting_is_restored() -> None:
    before = torch.get_num_threads()
    weight_hash_many(["restore", "threads"], threads=before + 1)
    assert torch.get_num_threads() == before


def test_same_digests_in_two_fresh_processes() -> None:
    strings = _varied_strings(50, seed=1) + list(PINNED)
    code = (
        "import json, sys; from baselines.weight_hash import weight_hash_many; "
        "print(json.dumps(weight_hash_many(json.loads(sys.stdin.read()))))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(strings),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for _ in range(2)
    ]
    assert json.loads(runs[0]) == json.loads(runs[1]) == weight_hash_many(strings)


# ----------------------------------------------------------------------------- verify


def test_verify_accepts_the_original_and_rejects_changed_digests() -> None:
    s = "verification"
    digest = weight_hash(s)
    assert verify(s, digest)
    rejected = 0
    for i in range(len(s)):
        for c in "aeq!Z":
            changed = s[:i] + c + s[i + 1 :]
            if changed != s and weight_hash(changed) != digest:
                assert not verify(changed, digest)
                rejected += 1
    assert rejected > 0.9 * len(s) * 5
    assert not verify(s, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
    assert not verify(s, "not a digest")


def test_block_order_and_repetition_do_not_change_the_digest() -> None:
    # The loss is a mean over rows, so reordering or repeating whole 6-character rows
    # trains the same network: documented weaknesses, measured in docs/weight_hash.md.
    assert weight_hash("abcdef") == weight_hash("abcdefabcdef")
    assert verify("ghijklabcdef", weight_hash("abcdefghijkl"))


# ----------------------------------------------------------------------------- contender


def test_weight_hash_contender() -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    h = WeightHash(1000)
    assert isinstance(h, HashFunction) and h.name == "weight-hash" and h.size_bytes == 0
    bins = h.hash_many(words)
    assert bins.dtype == np.int64 and ((bins >= 0) & (bins < 1000)).all()
    assert bins.tolist() == [h(w) for w in words]
    assert bins.tolist() == XXH64(1000).hash_many(weight_hash_many(words)).tolist()
    assert WeightHash(1000, epochs=10).hash_many(words).tolist() != bins.tolist()
    assert h.hash_many([]).size == 0 and weight_hash_many([]) == []
