"""Checks for the identifiers a contact's subjects may carry: NHS number and school UPN.

Pure functions: no database, no Flask. Every function accepts any object and answers
False / None for anything that is not a well-formed identifier, so a form or API layer
can pass user input straight in.

NHS number: 10 digits, the last a modulus-11 check digit over the first nine (weights
10 down to 2; check = 11 - sum mod 11; 11 means 0; 10 means the number is invalid).
Written either as 10 digits or in the 3-3-4 form with single spaces ("943 476 5919").

Unique Pupil Number (DfE): 13 characters. Position 1 is a check letter; positions 2-12
are digits; position 13 is a digit (permanent UPN) or a letter (temporary UPN). The check
letter is the sum over positions 2-13 of value x position, modulo 23, read through the
alphabet A-Z without I, O and S (A=0 ... Z=22); a letter in position 13 takes its value
from the same alphabet. The local-authority code in positions 2-4 is not checked against
the DfE's list of codes (the list changes; a later layer may add it).
"""

from __future__ import annotations

import re

_NHS_FORMAT = re.compile(r"[0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4}")
_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)

# The UPN check alphabet: 23 letters, A-Z less I, O and S.
UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_FORMAT = re.compile(rf"[{UPN_ALPHABET}][0-9]{{11}}[0-9{UPN_ALPHABET}]")

# Far longer than any identifier with its spacing; anything longer is refused unread.
_MAX_INPUT = 32


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit for nine digits, or None when none exists (a result
    of 10: no NHS number starts with these nine digits) or the input is not nine digits."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        return None
    total = sum(int(d) * w for d, w in zip(first_nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def normalise_nhs_number(text: object) -> str | None:
    """The 10-digit form of a valid NHS number ("9434765919"), or None if `text` is not one.

    Accepts 10 digits or the 3-3-4 form with single spaces, with surrounding whitespace."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    stripped = text.strip()
    if not _NHS_FORMAT.fullmatch(stripped):
        return None
    digits = stripped.replace(" ", "")
    if nhs_check_digit(digits[:9]) != int(digits[9]):
        return None
    return digits


def nhs_number_valid(text: object) -> bool:
    """True when `text` is a well-formed NHS number whose check digit is right."""
    return normalise_nhs_number(text) is not None


def format_nhs_number(text: object) -> str | None:
    """A valid NHS number in the 3-3-4 display form ("943 476 5919"), else None."""
    digits = normalise_nhs_number(text)
    if digits is None:
        return None
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def upn_check_letter(last_twelve: str) -> str | None:
    """The check letter for positions 2-13 of a UPN, or None if they are malformed."""
    if len(last_twelve) != 12 or not last_twelve[:11].isascii() or not last_twelve[:11].isdigit():
        return None
    total = 0
    for position, char in enumerate(last_twelve, start=2):
        if char.isascii() and char.isdigit():
            value = int(char)
        elif position == 13 and char in UPN_ALPHABET:
            value = UPN_ALPHABET.index(char)
        else:
            return None
        total += value * position
    return UPN_ALPHABET[total % 23]


def normalise_upn(text: object) -> str | None:
    """The upper-case 13-character form of a valid UPN, or None if `text` is not one.

    Surrounding whitespace and lower case are forgiven; inner spaces are not."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    upn = text.strip().upper()
    if not _UPN_FORMAT.fullmatch(upn):
        return None
    if upn_check_letter(upn[1:]) != upn[0]:
        return None
    return upn


def upn_valid(text: object) -> bool:
    """True when `text` is a well-formed UPN (permanent or temporary) with the right
    check letter."""
    return normalise_upn(text) is not None
