"""runtype_provider.client.redaction.

The API key is replaced in every form it can come back in: raw, repr-, URL- and JSON-escaped."""

from __future__ import annotations

import json
import tempfile
from urllib.parse import quote, quote_plus

import hypothesis.configuration
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtype_provider.client.redaction import may_contain, redact, redact_body, redact_json

# A key (printable ASCII, as the connection accepts) with characters every escaping changes.
# Hypothesis keeps caches on disk; keep them out of the checkout.
hypothesis.configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="runtype-hypothesis-"))

ODD_KEY = "rt_test_a/b+c'd\"e\\f%g&h=i"
PLAIN_KEY = "rt_test_fake_redaction_key_0123456789"


@pytest.mark.parametrize(
    "form",
    [
        ODD_KEY,
        repr(ODD_KEY)[1:-1],
        repr(f"Bearer {ODD_KEY}'x"),
        repr(ODD_KEY.encode()),
        quote(ODD_KEY, safe=""),
        quote(ODD_KEY, safe="").lower(),
        quote(ODD_KEY),
        quote_plus(ODD_KEY),
        json.dumps(ODD_KEY),
        json.dumps(ODD_KEY).replace("/", "\\/"),
    ],
    ids=["raw", "repr", "repr-in-text", "bytes-repr", "url", "url-lower", "url-path", "url-plus", "json", "json-slash"],
)
def test_every_escaped_form_of_the_key_is_redacted(form):
    text = redact(f"error: {form} (end)", ODD_KEY)
    assert "***" in text
    assert 'd\\"e' not in text and "%27d" not in text.upper() and "b+c" not in text and "a/b" not in text


def test_redact_leaves_other_text_alone():
    assert redact("nothing to hide", PLAIN_KEY) == "nothing to hide"
    assert redact("", PLAIN_KEY) == ""
    assert redact(f"x {PLAIN_KEY} y", None) == f"x {PLAIN_KEY} y"


def test_redact_json_walks_keys_and_values_iteratively():
    deep: object = PLAIN_KEY
    for _ in range(50_000):  # far deeper than Python's recursion limit
        deep = [deep]
    value = {PLAIN_KEY: {"a": [deep, f"k={PLAIN_KEY}"]}, "n": 1}
    redacted = redact_json(value, PLAIN_KEY)
    assert list(redacted) == ["***", "n"]
    assert redacted["***"]["a"][1] == "k=***"
    node = redacted["***"]["a"][0]
    while isinstance(node, list):
        node = node[0]
    assert node == "***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": "plain"}', False),
        (f'{{"a": "{PLAIN_KEY}"}}', True),
        ('{"a": "\\u0072t_test"}', True),  # \u escapes can spell the key: walk
        ('{"a": "line\\nbreak"}', False),  # \n cannot be part of a key without one
    ],
)
def test_may_contain_is_cheap_but_never_a_false_no(text, expected):
    assert may_contain(text, PLAIN_KEY) is expected


def test_a_json_escape_that_spells_the_key_is_caught():
    escaped = "".join(f"\\u{ord(c):04x}" for c in PLAIN_KEY)
    text = f'{{"error": "bad key {escaped}"}}'
    assert redact_body(text, json.loads(text), PLAIN_KEY) == {"error": "bad key ***"}


# Printable ASCII like the connection accepts, minus "*" (a key of asterisks could be spelled by the mask).
KEY_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="*")
KEYS = st.text(KEY_CHARS, min_size=8, max_size=40).map(lambda s: "rt_" + s)


@settings(max_examples=200, deadline=None, database=None)
@given(key=KEYS, before=st.text(max_size=30), after=st.text(max_size=30), ensure_ascii=st.booleans())
def test_no_json_encoding_of_the_key_survives_decoding_and_redaction(key, before, after, ensure_ascii):
    text = json.dumps({"error": before + key + after, key: [before, key]}, ensure_ascii=ensure_ascii)
    redacted = redact_body(text, json.loads(text), key)
    assert key not in json.dumps(redacted, ensure_ascii=False)
