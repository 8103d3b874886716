import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byo_sessions.core.tags import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Tag,
    TagFormatError,
    is_create_only,
    normalise_tags,
    parse_tag,
    tag_type,
)

TYPE_CHARS = string.ascii_lowercase + string.digits + "_-"
VALUE_CHARS = string.ascii_letters + string.digits + "._@+=/-:"

valid_types = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(string.ascii_lowercase),
    st.text(alphabet=TYPE_CHARS, max_size=31),
)
valid_values = st.text(alphabet=VALUE_CHARS, min_size=1, max_size=128)
valid_tags = st.builds(lambda t, v: f"{t}:{v}", valid_types, valid_values)


@pytest.mark.parametrize(
    ("raw", "type_", "value"),
    [
        ("org:acme", "org", "acme"),
        ("role:root", "role", "root"),
        ("login_type:sso", "login_type", "sso"),
        ("idp:urn:acme:saml", "idp", "urn:acme:saml"),
        ("email:Ann.Lee+work@example.com", "email", "Ann.Lee+work@example.com"),
        ("path:/a/b=c", "path", "/a/b=c"),
        ("x:" + "v" * 128, "x", "v" * 128),
        ("a" * 32 + ":v", "a" * 32, "v"),
        ("t-2:Z", "t-2", "Z"),
    ],
)
def test_parse_tag_accepts_valid_tags(raw: str, type_: str, value: str) -> None:
    tag = parse_tag(raw)
    assert tag == Tag(type_, value)
    assert str(tag) == raw


@pytest.mark.parametrize(
    ("raw", "reason_fragment"),
    [
        ("", "empty"),
        ("orgacme", "no ':'"),
        (":acme", "invalid type"),
        ("Org:acme", "invalid type"),
        ("1org:acme", "invalid type"),
        ("o.rg:acme", "invalid type"),
        ("a" * 33 + ":v", "invalid type"),
        ("org:", "empty value"),
        ("org:ac me", "whitespace"),
        (" org:acme", "whitespace"),
        ("org:acme\n", "whitespace"),
        ("org:ac\x00me", "control"),
        ("org:ac*me", "invalid value"),
        ("org:acmé", "invalid value"),
        ("org:" + "v" * 129, "129 characters"),
        ("x" * 32 + ":" + "v" * 129, f"limit is {MAX_TAG_LENGTH}"),
    ],
)
def test_parse_tag_rejects_with_a_reason_naming_the_tag(raw: str, reason_fragment: str) -> None:
    with pytest.raises(TagFormatError) as info:
        parse_tag(raw)
    assert info.value.tag == raw
    assert reason_fragment in info.value.reason
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("raw", [None, 42, b"org:acme", ["org:acme"], Tag("org", "acme")])
def test_parse_tag_rejects_non_strings(raw: object) -> None:
    with pytest.raises(TagFormatError) as info:
        parse_tag(raw)  # type: ignore[arg-type]
    assert "not text" in info.value.reason


@given(valid_tags)
def test_valid_tags_round_trip(raw: str) -> None:
    tag = parse_tag(raw)
    assert str(tag) == raw
    assert tag.type == raw.split(":", 1)[0]


@given(st.one_of(st.text(max_size=200), st.binary(max_size=20), st.integers(), st.none()))
def test_parse_tag_only_raises_tag_format_error(raw: object) -> None:
    pattern = re.compile(r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._@+=/:-]{1,128}")
    try:
        tag = parse_tag(raw)  # type: ignore[arg-type]
    except TagFormatError as exc:
        assert exc.reason
        assert not (isinstance(raw, str) and pattern.fullmatch(raw))
    else:
        assert isinstance(raw, str) and pattern.fullmatch(raw)
        assert str(tag) == raw


def test_normalise_tags_dedupes_keeping_first_order() -> None:
    assert normalise_tags(["role:admin", "org:acme", "role:admin", "org:Acme"]) == [
        "role:admin",
        "org:acme",
        "org:Acme",
    ]


@pytest.mark.parametrize("raw", [None, [], ()])
def test_normalise_tags_empty(raw: object) -> None:
    assert normalise_tags(raw) == []  # type: ignore[arg-type]


def test_normalise_tags_names_the_first_bad_tag() -> None:
    with pytest.raises(TagFormatError) as info:
        normalise_tags(["org:acme", "bad tag", "also bad"])
    assert info.value.tag == "bad tag"


@pytest.mark.parametrize("raw", ["org:acme", 5, b"org:acme"])
def test_normalise_tags_rejects_a_non_list(raw: object) -> None:
    with pytest.raises(TagFormatError, match="list of strings"):
        normalise_tags(raw)  # type: ignore[arg-type]


def test_normalise_tags_limits_distinct_count() -> None:
    exactly = [f"n:{i}" for i in range(MAX_TAGS)]
    assert normalise_tags(exactly + exactly) == exactly
    with pytest.raises(TagFormatError, match=f"at most {MAX_TAGS}"):
        normalise_tags([*exactly, "n:extra"])


@given(st.lists(valid_tags, max_size=MAX_TAGS + 5))
def test_normalise_tags_property(tags: list[str]) -> None:
    distinct = list(dict.fromkeys(tags))
    if len(distinct) > MAX_TAGS:
        with pytest.raises(TagFormatError):
            normalise_tags(tags)
    else:
        assert normalise_tags(tags) == distinct


@pytest.mark.parametrize(
    ("tag", "expected"), [("org:acme", "org"), ("idp:urn:x", "idp"), ("login_type:sso", "login_type")]
)
def test_tag_type(tag: str, expected: str) -> None:
    assert tag_type(tag) == expected


def test_tag_type_validates() -> None:
    with pytest.raises(TagFormatError):
        tag_type("no-colon")


@pytest.mark.parametrize(
    ("tag", "types", "expected"),
    [
        ("org:acme", ["org"], True),
        ("org:acme", ["role", "org"], True),
        ("role:root", ["org"], False),
        ("role:root", [], False),
        ("role:root", ["*"], True),
        ("org:acme", ("*",), True),
        ("organisation:x", ["org"], False),
    ],
)
def test_is_create_only(tag: str, types: list[str], expected: bool) -> None:
    assert is_create_only(tag, types) is expected
