"""The safe YAML reader: positions, YAML 1.2 scalars, and refusals within fixed budgets."""

from __future__ import annotations

import math
import time

import pytest
import yaml

from archcalc.errors import SpecError
from archcalc.yaml_source import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_INT_DIGITS,
    MAX_NODES,
    Mark,
    SourceDict,
    SourceList,
    parse_yaml,
    read_text,
)


def parse(text: str):
    return parse_yaml(text, "t.yaml")


def error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse(text)
    return info.value.message


# --- positions -----------------------------------------------------------------------------


def test_marks_of_mappings_keys_and_items():
    data = parse("name: n\nlayers:\n  - {type: relu, name: r}\n  - type: flatten\n")
    assert isinstance(data, SourceDict) and data.mark == Mark(1, 1)
    assert data.key_marks == {"name": Mark(1, 1), "layers": Mark(2, 1)}
    layers = data["layers"]
    assert isinstance(layers, SourceList)
    assert layers.item_marks == [Mark(3, 5), Mark(4, 5)]
    assert layers[0].key_marks["name"] == Mark(3, 18)
    assert layers[1].mark == Mark(4, 5)


def test_empty_document_is_none():
    assert parse("") is None
    assert parse("# only a comment\n") is None


# --- YAML 1.2 scalars: no YAML 1.1 surprises ---------------------------------------------------


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "y", "n", "On", "NO", "Yes"])
def test_yaml11_booleans_stay_words(word):
    data = parse(f"{word}: {word}\n")
    assert data == {word: word}
    assert True not in data and False not in data


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("True", True), ("FALSE", False),
    ("~", None), ("null", None), ("", None),
    ("3", 3), ("-3", -3), ("+3", 3), ("0", 0), ("1_000", 1000),
    ("1e-5", 1e-5), ("1E3", 1000.0), ("-1e-05", -1e-05), ("2.5", 2.5), (".5", 0.5),
    ("1.", 1.0), ("6.02e+23", 6.02e23),
    ("'3'", "3"), ('"true"', "true"), ("conv2d", "conv2d"), ("2024-01-01", "2024-01-01"),
    ("1:30", "1:30"), ("0x1F", "0x1F"), ("017", "017"),
])
def test_scalars(text, value):
    got = parse(f"v: {text}\n")["v"]
    assert got == value and type(got) is type(value)


def test_special_floats():
    assert parse("v: .inf\n")["v"] == math.inf
    assert parse("v: -.inf\n")["v"] == -math.inf
    assert math.isnan(parse("v: .nan\n")["v"])


# YAML 1.2 core schema, 10.3.2: [-+]? ( \.inf | \.Inf | \.INF ) and \.nan | \.NaN | \.NAN
@pytest.mark.parametrize(("text", "value"), [
    (".inf", math.inf), (".Inf", math.inf), (".INF", math.inf),
    ("+.inf", math.inf), ("+.Inf", math.inf), ("+.INF", math.inf),
    ("-.inf", -math.inf), ("-.Inf", -math.inf), ("-.INF", -math.inf),
])
def test_every_spelling_of_infinity(text, value):
    assert parse(f"v: {text}\n")["v"] == value
    assert parse(f"v: !!float {text}\n")["v"] == value


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_every_spelling_of_nan(text):
    assert math.isnan(parse(f"v: {text}\n")["v"])


@pytest.mark.parametrize("text", [".INFINITY", "inf", "nan", "+.nan", ".iNf"])
def test_other_spellings_are_words(text):
    assert parse(f"v: {text}\n")["v"] == text


def test_a_hundred_digits_are_exact_and_more_are_refused():
    big = "9" * MAX_INT_DIGITS
    assert parse(f"v: {big}\n")["v"] == 10**MAX_INT_DIGITS - 1
    assert error(f"v: 1{big}\n") == ("t.yaml:1:4: a number of 101 digits is too long; archcalc "
                                     "reads numbers of up to 100 digits. Fix: check the value.")


# --- refusals --------------------------------------------------------------------------------


def test_duplicate_keys_are_refused_not_silently_merged():
    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}  # what PyYAML alone would do
    assert error("a: 1\nb: 2\na: 3\n") == ("t.yaml:3:1: duplicate key 'a' (first given at line "
                                           "1). Fix: keep one of them; YAML would silently keep "
                                           "only the last.")


def test_duplicate_keys_inside_a_layer_name_it():
    message = error("layers:\n  - {type: relu, name: r1, inplace: true, inplace: false}\n")
    assert message.startswith("t.yaml:2:43 layer 'r1' (relu): duplicate key 'inplace'")


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system", "!!python/name:os.system", "!!python/object:object",
    "!!binary", "!!set", "!!omap", "!custom",
])
def test_object_tags_are_refused(tag, tmp_path):
    marker = tmp_path / "pwned"
    message = error(f"name: {tag} [\"touch {marker}\"]\n")
    assert message == (f"t.yaml:1:7: YAML tag '{tag}' is not allowed. "
                       "Fix: remove the tag; specs hold only plain values.")
    assert not marker.exists()


@pytest.mark.parametrize(("text", "value"), [
    ('!!int "32"', 32),  # the tag wins over the quotes
    ("!!str 16", "16"),  # … and over the plain scalar's own type
    ("!!str true", "true"),
    ("!!float 3", 3.0),
    ('!!float "1e-5"', 1e-5),
    ("!!bool 'false'", False),
    ('!!null ""', None),
    ("!!timestamp 2001-12-14", "2001-12-14"),  # kept as the text written, like a plain date
    ("!!int 32", 32),  # the tag a plain scalar would get anyway
])
def test_explicit_core_tags_are_applied(text, value):
    got = parse(f"a: {text}\n")["a"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "message"), [
    ("!!int 'x'", "t.yaml:1:4: 'x' is not a valid !!int value. Fix: write the value the tag "
                  "names (e.g. !!int 32), or drop the tag."),
    ("!!int 1.5", "t.yaml:1:4: '1.5' is not a valid !!int value."),
    ("!!bool 'yes'", "t.yaml:1:4: 'yes' is not a valid !!bool value."),
    ("!!map x", "t.yaml:1:4: 'x' is not a valid !!map value. Fix: write the value the tag "
                "names (e.g. !!map {k: v}), or drop the tag."),
    ("!!merge x", "t.yaml:1:4: 'x' is not a valid !!merge value. Fix: drop the tag."),
    # a tag reads its value by the plain rules above (YAML 1.2), whatever PyYAML's YAML 1.1
    # resolver would make of it untagged: yes/on are words, 0x1F and 017 are text
    ("!!bool yes", "t.yaml:1:4: 'yes' is not a valid !!bool value. Fix: write the value the tag "
                   "names (e.g. !!bool true), or drop the tag."),
    ("!!bool on", "t.yaml:1:4: 'on' is not a valid !!bool value."),
    ("!!bool off", "t.yaml:1:4: 'off' is not a valid !!bool value."),
    ("!!int 0x1F", "t.yaml:1:4: '0x1F' is not a valid !!int value."),
    ("!!int 017", "t.yaml:1:4: '017' is not a valid !!int value."),
    ("!!int 1_0.5", "t.yaml:1:4: '1_0.5' is not a valid !!int value."),
    ("!!float 1:30", "t.yaml:1:4: '1:30' is not a valid !!float value."),
])
def test_a_value_its_tag_cannot_hold_is_refused(text, message):
    assert error(f"a: {text}\n").startswith(message)


def test_merge_keys_are_refused():
    assert error("a: &x {k: 1}\nb: {<<: *x}\n").startswith(
        "t.yaml:2:5: YAML merge keys ('<<') are not supported.")
    assert error("a: &x {k: 1}\nb: {!!merge <<: *x}\n").startswith(
        "t.yaml:2:5: YAML merge keys ('<<') are not supported.")
    assert error("b:\n  <<: {k: 1}\n").startswith(
        "t.yaml:2:3: YAML merge keys ('<<') are not supported.")
    assert parse("b: {'<<': 1}\n") == {"b": {"<<": 1}}  # quoted, it is a plain key


def test_small_aliases_are_fine():
    data = parse("a: &shape [3, 32, 32]\nb: *shape\n")
    assert data["b"] == [3, 32, 32]


def test_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()
    message = error("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 2
    # a0 holds 10 strings + the list = 11 values; a_k = 10·a_(k−1) + 1 = (10^(k+2) − 1)/9:
    # a5 = 1,111,111 fits the budget, a6 = 11,111,111 (line 7) is the innermost value over it
    assert message == (f"t.yaml:7:5: this value expands to 11,111,111 values through anchors "
                       f"and aliases, more than the {MAX_NODES:,} allowed. Fix: write the spec "
                       "without nested aliases; use blocks with repeat: instead.")


def test_value_containing_itself_is_refused():
    assert error("a: &a [1, *a]\n").startswith(
        "t.yaml:1:4: this value contains itself through an alias.")


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_without_recursion(style):
    levels = 10_000
    if style == "flow":
        text = "a: " + "[" * levels + "]" * levels + "\n"
    else:
        text = "".join(" " * i + "- \n" for i in range(levels))
    started = time.perf_counter()
    assert f"nested deeper than {MAX_DEPTH} levels" in error(text)
    assert time.perf_counter() - started < 5


def test_nesting_up_to_the_budget_is_fine():
    assert parse("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n") is not None


def test_control_characters_are_located_by_character_not_byte():
    assert error("name: café\x07\n") == ("t.yaml:1:11: control character U+0007 is not allowed "
                                          "in YAML. Fix: delete it (most editors do not show "
                                          "it).")


# --- reading files --------------------------------------------------------------------------


def test_utf8_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: ünï\n".encode())
    assert parse_yaml(read_text(path), str(path)) == {"name": "ünï"}


def test_non_utf8_is_located(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: x\ndescription: café\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        read_text(path)
    assert info.value.message == (f"{path}:2:17: not UTF-8 text (byte 0xe9). "
                                  "Fix: save the file as UTF-8.")


def test_size_limit_is_exact(tmp_path):
    path = tmp_path / "edge.yaml"
    with open(path, "wb") as handle:
        handle.write(b"#" * MAX_FILE_BYTES)  # a comment exactly at the limit is read
    assert len(read_text(path)) == MAX_FILE_BYTES
    with open(path, "ab") as handle:
        handle.write(b"#")
    with pytest.raises(SpecError, match="file is 2,097,153 bytes; specs are limited to"):
        read_text(path)
