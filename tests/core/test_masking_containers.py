"""Masking of every container type and depth, of models, URLs and secrets.

Expected texts are written by hand from the rules: an identity number keeps its date and loses
its last four digits (``811218-9876`` -> ``811218-XXXX``; 811218-987 has check digit 6), a phone
number keeps its first three digits (``070-1234567`` -> ``070-XXXXXXX``), a secret becomes
``***``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from scanner.masking import mask_data, mask_model, mask_report, mask_text, mask_url
from scanner.personal.personnummer import _candidates
from scanner.redact import forget_secrets, register_secret


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The candidates of a text are cached (``_candidates``): each test looks afresh, so no
    answer computed by another test (or another version of the code) stands in for its own."""
    _candidates.cache_clear()
    yield
    _candidates.cache_clear()


PNR, PNR_MASKED = "811218-9876", "811218-XXXX"
PHONE, PHONE_MASKED = "070-1234567", "070-XXXXXXX"
TEXT = f"id {PNR} tel {PHONE}"
TEXT_MASKED = f"id {PNR_MASKED} tel {PHONE_MASKED}"


@pytest.fixture
def secret() -> Iterator[str]:
    register_secret("hunter2!")
    try:
        yield "hunter2!"
    finally:
        forget_secrets()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("", ""),
        ("no digits here", "no digits here"),
        (PNR, PNR_MASKED),
        (TEXT, TEXT_MASKED),
        ("19811218-9876.wav", "19811218-XXXX.wav"),
        ("+46 70 123 45 67", "+46 7X XXX XX XX"),  # the first three digits: 4, 6, 7
        ("order 12345678", "order 12345678"),
        ("8112189876 and 811218-9875", "811218XXXX and 811218-XXXX"),
    ],
)
def test_mask_text_rows(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_secrets_are_masked_with_or_without_digits(secret: str) -> None:
    assert mask_text(f"password {secret} used") == "password *** used"
    assert mask_text(f"{secret} {PNR}") == f"*** {PNR_MASKED}"
    assert mask_text("ftp://anna:pw@nas/x") == "ftp://anna:***@nas/x"


CONTAINERS: list[tuple[Any, Any]] = [
    (TEXT, TEXT_MASKED),
    ([TEXT, 7, None], [TEXT_MASKED, 7, None]),
    ((TEXT, 1.5), (TEXT_MASKED, 1.5)),
    ({TEXT, "x"}, {TEXT_MASKED, "x"}),
    (frozenset({TEXT}), frozenset({TEXT_MASKED})),
    ({TEXT: TEXT, "n": 3}, {TEXT_MASKED: TEXT_MASKED, "n": 3}),
    (
        {"a": [(TEXT, frozenset({PNR})), {"b": {PHONE}}]},
        {"a": [(TEXT_MASKED, frozenset({PNR_MASKED})), {"b": {PHONE_MASKED}}]},
    ),
    (b"811218-9876", b"811218-9876"),  # bytes are not text: left as they are
    (42, 42),
    (None, None),
]


@pytest.mark.parametrize(("value", "masked"), CONTAINERS)
def test_every_container_type(value: Any, masked: Any) -> None:
    out = mask_data(value)
    assert out == masked
    assert type(out) is type(masked)


def test_nested_container_types_are_kept() -> None:
    out = mask_data([({PNR},), frozenset({(PNR,)})])
    assert out == [({PNR_MASKED},), frozenset({(PNR_MASKED,)})]
    assert type(out[0]) is tuple and type(out[0][0]) is set
    assert type(out[1]) is frozenset


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    """``leaf`` inside ``depth`` containers of ``kind`` (the outermost at depth 0)."""
    value = leaf
    for _ in range(depth):
        if kind == "list":
            value = [value]
        elif kind == "tuple":
            value = (value,)
        elif kind == "dict":
            value = {"k": value}
        else:
            value = frozenset({value})
    return value


@pytest.mark.parametrize("kind", ["list", "tuple", "dict", "frozenset"])
def test_depth_limit_edge(kind: str) -> None:
    # 33 containers: depths 0..32, all within the limit, kept and masked
    assert mask_data(_nested(33, PNR, kind)) == _nested(33, PNR_MASKED, kind)
    # 34 containers: the innermost is at depth 33, past the limit: replaced, never returned as is
    assert mask_data(_nested(34, PNR, kind)) == _nested(33, "[nested too deep]", kind)


def test_dict_keys_count_one_level_deeper() -> None:
    # a dict at depth 31: its tuple key at depth 32 is kept (masked)
    at31 = _nested(31, {(PNR,): 1}, "list")
    assert mask_data(at31) == _nested(31, {(PNR_MASKED,): 1}, "list")
    # a dict at depth 32: its tuple key at depth 33 is past the limit
    at32 = _nested(32, {(PNR,): 1}, "list")
    assert mask_data(at32) == _nested(32, {"[nested too deep]": 1}, "list")


@pytest.mark.parametrize("depth", [40, 100, 500])
def test_data_nested_deeper_than_the_limit_comes_back_masked(depth: int) -> None:
    value: Any = [PNR, {"phone": PHONE}]
    for i in range(depth):
        value = [f"level {i}: {PNR}", value] if i % 2 else {PNR: value}
    out = mask_data(value)
    assert PNR not in repr(out) and "9876" not in repr(out)
    assert "1234567" not in repr(out)
    assert PNR_MASKED in repr(out) and "[nested too deep]" in repr(out)


class Inner(BaseModel):
    name: str
    tags: list[str] = Field(default_factory=list)


class Outer(BaseModel):
    title: str
    count: int = 0
    inner: Inner | None = None
    hidden: dict[str, Any] = Field(default_factory=dict, exclude=True)


def test_models_are_masked_field_by_field() -> None:
    model = Outer(
        title=TEXT, count=3, inner=Inner(name=PNR, tags=[PHONE]), hidden={"k": (PNR,)}
    )
    out = mask_model(model)
    assert out == Outer(
        title=TEXT_MASKED,
        count=3,
        inner=Inner(name=PNR_MASKED, tags=[PHONE_MASKED]),
        hidden={"k": (PNR_MASKED,)},
    )
    assert out.hidden == {"k": (PNR_MASKED,)}  # excluded from serialisation, masked all the same
    assert model.title == TEXT  # a copy: the original is untouched
    assert mask_report(model) == out
    assert mask_data({"m": model}) == {"m": out}
    assert mask_data([model])[0].inner == Inner(name=PNR_MASKED, tags=[PHONE_MASKED])


def test_a_model_with_nothing_to_mask_is_returned_as_is() -> None:
    model = Outer(title="clean", inner=Inner(name="x"))
    assert mask_model(model) is model
    half = Outer(title="clean", inner=Inner(name=PNR))
    out = mask_model(half)
    assert out is not half and out.title == "clean" and out.inner == Inner(name=PNR_MASKED)


def test_models_nested_deeper_than_the_limit() -> None:
    value: Any = Inner(name=PNR)
    for _ in range(40):
        value = [value]
    out = mask_data(value)
    assert PNR not in repr(out) and "[nested too deep]" in repr(out)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@h/0", "redis://:***@h/0"),
        ("postgresql://u:pw@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgresql://db/x?user=u&password=pw&sslmode=require",
         "postgresql://db/x?user=u&password=***&sslmode=require"),
        ("dsn: host=db PASSWORD = pw user=u", "dsn: host=db PASSWORD = *** user=u"),
        ("password=", "password=***"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("no url", "no url"),
    ],
)  # fmt: skip
def test_mask_url_rows(url: str, masked: str) -> None:
    assert mask_url(url) == masked
