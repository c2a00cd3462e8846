"""The hot path's JSON codec answers exactly as the standard library does: the same documents,
the same errors, on whatever pydantic-core refuses too."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartroute_llm.providers import jsoncodec

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_round_trips_agree_with_the_standard_library(value):
    try:
        encoded = json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # lone surrogates: neither can write them as UTF-8
        with pytest.raises(UnicodeEncodeError):
            jsoncodec.dumps(value)
        return
    assert jsoncodec.loads(encoded) == json.loads(encoded)
    assert json.loads(jsoncodec.dumps(value)) == json.loads(encoded)


@pytest.mark.parametrize(
    "document",
    [
        b'{"a":"\\ud800"}',  # a lone surrogate escape: pydantic-core refuses, json parses
        '{"a":"é"}'.encode("utf-16"),  # UTF-16 with a byte order mark
        b'\xef\xbb\xbf{"a":1}',  # UTF-8 byte order mark
        b"[" * 300 + b"]" * 300,  # deeper than pydantic-core's limit
        b'{"a":NaN}',
    ],
)
def test_documents_only_the_standard_library_reads_are_read_as_it_reads_them(document):
    got, want = jsoncodec.loads(document), json.loads(document)
    assert repr(got) == repr(want)  # repr: NaN != NaN


@pytest.mark.parametrize("document", [b'{"a":1} x', b"", b"{", b"\xff", b"[" * 5000])
def test_invalid_documents_raise_the_standard_library_error(document):
    with pytest.raises((ValueError, RecursionError)) as want:
        json.loads(document)
    with pytest.raises(type(want.value)) as got:
        jsoncodec.loads(document)
    assert str(got.value) == str(want.value)


def test_the_fast_codec_is_the_one_used(monkeypatch):
    """Valid documents never reach the standard library."""

    def refuse(*a, **k):
        raise AssertionError("standard library used")

    monkeypatch.setattr(jsoncodec.json, "loads", refuse)
    monkeypatch.setattr(jsoncodec, "_STDLIB_ENCODE", refuse)
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo"}], "t": 0.5}
    assert jsoncodec.loads(jsoncodec.dumps(body)) == body
