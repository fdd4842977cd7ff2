"""The register's search index: keyed hashes of the blocking keys, nothing in clear."""

from __future__ import annotations

from datetime import date

from mash_hub.people.services import hashed_keys, person_record, postcode_in

CHILD = person_record(
    "p1", "William", "Thornbury", date(2015, 4, 2), "12 Oak Road, Brent NW10 4AB", "9434765919"
)


def test_the_postcode_is_read_from_the_address_line():
    assert postcode_in("12 Oak Road, Brent NW10 4AB") == "NW10 4AB"
    assert postcode_in("Flat 2, 9 Elm Close, ha11aa") == "ha11aa"
    assert postcode_in("No fixed abode") is None
    assert postcode_in(None) is None


def test_keys_are_stable_under_one_secret_and_unrelated_under_another():
    first = hashed_keys(CHILD, b"a" * 32)
    assert first == hashed_keys(CHILD, b"a" * 32)
    assert all(len(key) == 16 for key in first)
    assert set(first).isdisjoint(hashed_keys(CHILD, b"b" * 32))


def test_a_nickname_with_a_swapped_date_still_shares_keys():
    variant = person_record("p2", "Bill", "Thornbury", date(2015, 2, 4), None, None)
    assert set(hashed_keys(CHILD, b"a" * 32)) & set(hashed_keys(variant, b"a" * 32))
