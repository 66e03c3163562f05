"""scanner.catchall: the random name, the guesses a catch-all server leaves, its evidence."""

from __future__ import annotations

import re

import pytest

from scanner.catchall import NOT_ASKED, NOTE, CatchAllCheck, ask_random, random_name


def test_random_name_shape() -> None:
    name = random_name()
    assert re.fullmatch(r"nasscan-[0-9a-f]{16}", name)
    assert re.fullmatch(r"x[0-9a-f]{16}\.txt", random_name("x", ".txt"))
    assert re.fullmatch(r"[0-9a-f]{16}", random_name(""))
    assert len({random_name() for _ in range(50)}) == 50


def test_guesses_of_a_normal_server() -> None:
    check = CatchAllCheck("nasscan-0", False)
    assert check.guesses(["a", "b", "c"], ["b"]) == ["a", "c"]
    assert check.guesses(["a", "b"]) == ["a", "b"]
    assert check.guesses(iter(["a", "a"]), iter(["z"])) == ["a", "a"]
    assert check.evidence() == {}


def test_a_catch_all_server_leaves_no_guess() -> None:
    check = CatchAllCheck("nasscan-1", True)
    assert check.guesses(["a", "b"], []) == []
    assert check.evidence() == {
        "accepts_any_name": True,
        "random_name_accepted": "nasscan-1",
        "catch_all": "the server accepts any name (a random one too): guessed names disregarded",
    }
    assert check.evidence()["catch_all"] == NOTE


def test_not_asked() -> None:
    assert CatchAllCheck("", False) == NOT_ASKED
    assert NOT_ASKED.guesses(["a"]) == ["a"] and NOT_ASKED.evidence() == {}


async def test_ask_random_answers() -> None:
    asked: list[str] = []

    async def yes(name: str) -> bool:
        asked.append(name)
        return True

    check = await ask_random(yes, prefix="p-", suffix="-s")
    assert check.accepted is True and check.name == asked[0]
    assert re.fullmatch(r"p-[0-9a-f]{16}-s", check.name)

    async def truthy(name: str) -> object:
        return 200  # not a bool: made one

    got = await ask_random(truthy)  # type: ignore[arg-type]
    assert got.accepted is True and re.fullmatch(r"nasscan-[0-9a-f]{16}", got.name)

    async def empty(name: str) -> object:
        return ""

    assert (await ask_random(empty)).accepted is False  # type: ignore[arg-type]


async def test_ask_random_errors() -> None:
    async def refuses(name: str) -> bool:
        raise ConnectionResetError("reset")

    got = await ask_random(refuses, errors=(OSError,))
    assert got.accepted is False and got.name.startswith("nasscan-")
    with pytest.raises(ConnectionResetError):
        await ask_random(refuses)  # an error not named is not an answer
    with pytest.raises(ConnectionResetError):
        await ask_random(refuses, errors=(ValueError,))
