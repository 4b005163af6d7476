"""Tests for hash_envs.encoding: the one word -> array encoding every component shares."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from hash_envs import corpus as corpus_lib
from hash_envs.encoding import (
    ENCODINGS,
    WordEncoder,
    encode_bytes,
    encoded_lengths,
    max_encoded_len,
    utf8,
)

INV_255 = np.float32(1.0 / 255.0)


def test_encode_bytes_pads_with_zeros() -> None:
    out = encode_bytes(["ab", "", "xyz"], max_len=5)
    assert out.dtype == np.uint8 and out.shape == (3, 5)
    np.testing.assert_array_equal(
        out,
        [[97, 98, 0, 0, 0], [0, 0, 0, 0, 0], [120, 121, 122, 0, 0]],
    )


def test_encode_bytes_default_max_len_is_the_longest_word() -> None:
    out = encode_bytes(["a", "abcd", "ab"])
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out[1], list(b"abcd"))
    assert encode_bytes([]).shape == (0, 1)
    assert encode_bytes([], max_len=7).shape == (0, 7)
    assert encode_bytes([""]).shape == (1, 1)


def test_non_ascii_words_are_utf8_bytes() -> None:
    out = encode_bytes(["café", "naïve", "日本"])
    assert out.shape == (3, 6)
    np.testing.assert_array_equal(out[0], [*"café".encode(), 0])
    assert list(out[0][:5]) == [99, 97, 102, 0xC3, 0xA9]
    np.testing.assert_array_equal(out[1], [*"naïve".encode()])
    np.testing.assert_array_equal(out[2], [*"日本".encode()])
    np.testing.assert_array_equal(encoded_lengths(["café", "naïve", "日本", ""]), [5, 6, 6, 0])
    assert encoded_lengths(["x"]).dtype == np.int64
    assert max_encoded_len(["café", "ab"]) == 5


def test_too_long_word_raises() -> None:
    with pytest.raises(ValueError, match=r"'café' is 5 UTF-8 bytes long, longer than max_len=4"):
        encode_bytes(["ab", "café"], max_len=4)
    encode_bytes(["ab", "café"], max_len=5)  # exactly long enough
    with pytest.raises(ValueError, match="longer than max_len=3"):
        WordEncoder("bytes", 3).encode(["abcd"])
    with pytest.raises(ValueError, match="longer than max_len=2"):
        WordEncoder("codepoints", 2)("abc")


def test_non_str_words_raise_type_error() -> None:
    for bad in (b"bytes", 3, None):
        with pytest.raises(TypeError, match="words must be str"):
            encode_bytes(["ok", bad])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="words must be str, got int"):
        WordEncoder()(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="words must be str"):
        encoded_lengths([1.5])  # type: ignore[list-item]


def test_bad_encoder_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"encoding must be one of .*'ascii'"):
        WordEncoder("ascii")  # type: ignore[arg-type]
    for max_len in (0, -1):
        with pytest.raises(ValueError, match="max_len must be >= 1"):
            WordEncoder("codepoints", max_len)
        with pytest.raises(ValueError, match="max_len must be >= 1"):
            encode_bytes(["a"], max_len=max_len)
    with pytest.raises(ValueError, match="empty word list"):
        max_encoded_len([])
    with pytest.raises(ValueError, match="empty word list"):
        WordEncoder.for_words([])


def test_codepoints_encoding(words: list[str]) -> None:
    encoder = WordEncoder.for_words(words, "codepoints")
    assert encoder.max_len == max(len(w.encode()) for w in words)
    assert encoder.dtype is np.float32
    assert encoder.space == spaces.Box(0.0, 1.0, (encoder.max_len,), np.float32)
    obs = encoder.encode(words)
    assert obs.dtype == np.float32 and obs.shape == (len(words), encoder.max_len)
    assert obs.min() >= 0.0 and obs.max() <= 1.0
    # Exactly byte * float32(1/255), the value exported hash functions reproduce.
    raw = encode_bytes(words, encoder.max_len)
    np.testing.assert_array_equal(obs, raw.astype(np.float32) * INV_255)
    np.testing.assert_array_equal(encoder("ab")[:3], np.float32([97, 98, 0]) * INV_255)
    for row in obs[:50]:
        assert encoder.space.contains(row)


def test_codepoints_every_byte_value_stays_in_the_box() -> None:
    encoder = WordEncoder("codepoints", 256)
    obs = encoder.from_bytes(np.arange(256, dtype=np.uint8)[None, :])[0]
    assert obs[0] == 0.0 and obs[255] == 1.0
    assert np.all(np.diff(obs) > 0)
    assert encoder.space.contains(obs)


def test_bytes_encoding(words: list[str]) -> None:
    encoder = WordEncoder.for_words(words, "bytes", max_len=20)
    assert encoder.max_len == 20
    assert encoder.dtype is np.int64
    assert encoder.space == spaces.MultiDiscrete(np.full(20, 256, dtype=np.int64))
    obs = encoder.encode(words)
    assert obs.dtype == np.int64 and obs.shape == (len(words), 20)
    np.testing.assert_array_equal(obs, encode_bytes(words, 20))
    np.testing.assert_array_equal(encoder("café")[:6], [99, 97, 102, 0xC3, 0xA9, 0])
    for row in obs[:50]:
        assert encoder.space.contains(row)


@pytest.mark.parametrize("kind", ENCODINGS)
def test_from_bytes_of_encode_bytes_is_encode(kind: str, words: list[str]) -> None:
    encoder = WordEncoder.for_words(words, kind)  # type: ignore[arg-type]
    raw = encode_bytes(words, encoder.max_len)
    expected = encoder.encode(words)
    got = encoder.from_bytes(raw)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert raw.dtype == np.uint8  # from_bytes did not convert its input in place
    for i in (0, 17, len(words) - 1):
        np.testing.assert_array_equal(encoder(words[i]), expected[i])
        assert encoder(words[i]).shape == (encoder.max_len,)


def test_for_words_explicit_max_len_wins(words: list[str]) -> None:
    assert WordEncoder.for_words(words, "bytes", max_len=40).max_len == 40
    assert WordEncoder.for_words(["a", "abc"]).max_len == 3
    assert WordEncoder.for_words(["a", "café"]) == WordEncoder("codepoints", 5)
    assert WordEncoder() == WordEncoder("codepoints", 45)


def test_large_batch() -> None:
    words = [f"word{i}" for i in range(200_000)]
    out = WordEncoder("codepoints", 10).encode(words)
    assert out.shape == (200_000, 10)
    np.testing.assert_array_equal(out[123], np.float32([*b"word123", 0, 0, 0]) * INV_255)


@pytest.mark.moby
def test_moby_default_max_len_is_45() -> None:
    words = corpus_lib.load("moby")
    assert max_encoded_len(words) == 45
    encoder = WordEncoder.for_words(words)
    assert encoder == WordEncoder("codepoints", 45)
    longest = max(words, key=lambda w: len(w.encode()))
    obs = encoder(longest)
    assert np.all(obs > 0)  # fills every position
    assert encoder.space.contains(obs)


def test_fold_xors_the_bytes_beyond_max_len_onto_the_positions() -> None:
    out = encode_bytes(["abcdefg", "ab", "", "abcd" * 3], max_len=4, overflow="fold")
    a, b, c, d, e, f, g = b"abcdefg"
    np.testing.assert_array_equal(out[0], [a ^ e, b ^ f, c ^ g, d])
    np.testing.assert_array_equal(out[1], [a, b, 0, 0])  # words that fit are unchanged
    np.testing.assert_array_equal(out[2], [0, 0, 0, 0])
    np.testing.assert_array_equal(out[3], [*b"abcd"])  # three equal rows XOR to one
    fits = ["café", "naïve", "x"]
    np.testing.assert_array_equal(encode_bytes(fits, 8, overflow="fold"), encode_bytes(fits, 8))
    obs = WordEncoder("codepoints", 4).encode(["abcdefg"], overflow="fold")
    np.testing.assert_array_equal(obs, WordEncoder("codepoints", 4).from_bytes(out[:1]))
    with pytest.raises(ValueError, match="overflow must be"):
        encode_bytes(["abc"], 2, overflow="truncate")  # type: ignore[arg-type]


def test_lone_surrogates_are_encoded_with_surrogatepass() -> None:
    assert utf8("\ud800") == b"\xed\xa0\x80"
    assert utf8("café") == "café".encode()
    np.testing.assert_array_equal(encode_bytes(["a\udfff"]), [[97, 0xED, 0xBF, 0xBF]])
    np.testing.assert_array_equal(encoded_lengths(["\ud800", "\U0001f600"]), [3, 4])
    with pytest.raises(TypeError, match="words must be str"):
        utf8(b"x")  # type: ignore[arg-type]
