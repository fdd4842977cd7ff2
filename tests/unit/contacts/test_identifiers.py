"""NHS number and Unique Pupil Number checks."""

from __future__ import annotations

import pytest

from mash_hub.contacts.identifiers import (
    UPN_ALPHABET,
    format_nhs_number,
    nhs_check_digit,
    nhs_number_valid,
    normalise_nhs_number,
    normalise_upn,
    upn_check_letter,
    upn_valid,
)

# The widely published example: 9x10 + 4x9 + 3x8 + 4x7 + 7x6 + 6x5 + 5x4 + 9x3 + 1x2 = 299;
# 299 mod 11 = 2; 11 - 2 = 9, the last digit.
GOOD_NHS = "9434765919"


def _first_prefix(remainder: int) -> str:
    """A nine-digit prefix in the 999 test range whose weighted sum has this remainder."""
    for n in range(1_000_000):
        prefix = f"999{n:06d}"
        total = sum(int(d) * w for d, w in zip(prefix, range(10, 1, -1), strict=True))
        if total % 11 == remainder:
            return prefix
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- NHS number


def test_published_example_is_valid_in_both_forms() -> None:
    assert nhs_number_valid(GOOD_NHS)
    assert nhs_number_valid("943 476 5919")
    assert nhs_number_valid("  943 476 5919\n")
    assert normalise_nhs_number(" 943 476 5919 ") == GOOD_NHS
    assert format_nhs_number(GOOD_NHS) == "943 476 5919"


def test_check_digit_is_computed_by_modulus_11() -> None:
    assert nhs_check_digit(GOOD_NHS[:9]) == 9


@pytest.mark.parametrize("position", range(10))
def test_changing_any_one_digit_makes_it_invalid(position: int) -> None:
    for digit in "0123456789":
        if digit == GOOD_NHS[position]:
            continue
        changed = GOOD_NHS[:position] + digit + GOOD_NHS[position + 1 :]
        assert not nhs_number_valid(changed), changed


def test_swapping_adjacent_different_digits_makes_it_invalid() -> None:
    for i in range(9):
        a, b = GOOD_NHS[i], GOOD_NHS[i + 1]
        if a != b:
            swapped = GOOD_NHS[:i] + b + a + GOOD_NHS[i + 2 :]
            assert not nhs_number_valid(swapped), swapped


def test_a_computed_check_digit_of_10_means_no_valid_number() -> None:
    prefix = _first_prefix(1)  # 11 - 1 = 10
    assert nhs_check_digit(prefix) is None
    assert not any(nhs_number_valid(prefix + d) for d in "0123456789")


def test_a_computed_check_digit_of_11_means_0() -> None:
    prefix = _first_prefix(0)  # 11 - 0 = 11
    assert nhs_check_digit(prefix) == 0
    assert nhs_number_valid(prefix + "0")
    assert not nhs_number_valid(prefix + "1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "943476591",  # nine digits
        "94347659190",  # eleven
        "943-476-5919",  # hyphens
        "9434 765 919",  # wrong grouping
        "943  476 5919",  # double space
        "943 4765919",  # half spaced
        "943\t476\t5919",
        "94347659I9",  # a letter
        "\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669",  # Arabic-Indic digits
        "9" * 100_000,
    ],
)
def test_malformed_text_is_invalid(text: str) -> None:
    assert not nhs_number_valid(text)
    assert normalise_nhs_number(text) is None


@pytest.mark.parametrize("value", [None, 9434765919, b"9434765919", ["9434765919"]])
def test_non_strings_are_invalid(value: object) -> None:
    assert not nhs_number_valid(value)
    assert format_nhs_number(value) is None


# --------------------------------------------------------------------------- UPN


def test_published_upn_example() -> None:
    # python-stdnum's documented example of a valid UPN, and the same with a wrong letter.
    assert upn_valid("B801200005001")
    assert not upn_valid("A801200005001")


def test_check_letter_by_hand() -> None:
    # 1x2 + 2x3 + 3x4 + 4x5 + 5x6 + 6x7 + 7x8 + 8x9 + 9x10 + 0x11 + 1x12 + 2x13 = 368
    # = 16 x 23, remainder 0 -> A.
    assert upn_check_letter("123456789012") == "A"
    assert upn_valid("A123456789012")
    # Temporary UPN: the final letter counts by its place in the alphabet (A = 0):
    # 2 + 6 + 12 + 20 + 30 + 42 + 56 + 72 + 90 + 0 + 12 + 0 = 342; 342 mod 23 = 20 -> X.
    assert upn_check_letter("12345678901A") == "X"
    assert upn_valid("X12345678901A")


def test_check_alphabet_skips_i_o_and_s() -> None:
    assert len(UPN_ALPHABET) == 23
    assert not set("IOS") & set(UPN_ALPHABET)


def test_lower_case_and_surrounding_space_are_forgiven() -> None:
    assert normalise_upn("  a123456789012 ") == "A123456789012"
    assert upn_valid("x12345678901a")


@pytest.mark.parametrize("position", range(1, 13))
def test_changing_any_one_digit_of_a_upn_makes_it_invalid(position: int) -> None:
    good = "A123456789012"
    for digit in "0123456789":
        if digit != good[position]:
            assert not upn_valid(good[:position] + digit + good[position + 1 :])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "A12345678901",  # twelve characters
        "A1234567890123",  # fourteen
        "123456789012A",  # no check letter in front
        "A1234567890A2",  # a letter inside the digits
        "I123456789012",  # I is never a check letter
        "X12345678901I",  # nor the final letter of a temporary UPN
        "A 123456789012",
        "A12345678901\u0662",  # a non-ASCII digit
        "A" * 100_000,
    ],
)
def test_malformed_upns_are_invalid(text: str) -> None:
    assert not upn_valid(text)
    assert normalise_upn(text) is None


@pytest.mark.parametrize("value", [None, 1234567890123, b"A123456789012"])
def test_non_string_upns_are_invalid(value: object) -> None:
    assert not upn_valid(value)
