"""Fictional people for matching tests and benchmarks: deterministic for a seed.

Everyone here is invented: names are drawn from short lists of common English given
names and surnames (plus invented place-like surnames), addresses are built from invented
street and town names, postcodes use the areas XA-XH (no such UK postcode areas) and NHS
numbers come from the 999 range, which is used for test data and not issued to patients.

People come in households: one or two adults and up to four children sharing an address,
a postcode and usually a surname, with occasional twins (same surname, birth date and
address, different given name). Those are the hard cases for matching.

`variant(person)` gives the same person as another agency might record them: typos,
nicknames, swapped day and month, a one-digit date typo, a new address after a move, no
NHS number, a double-barrelled surname, case and spacing noise.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from mash_hub.contacts.identifiers import nhs_check_digit
from mash_hub.contacts.matching import (
    PersonRecord,
    formal_names,
    name_tokens,
    names_related,
    nicknames_of,
)

TODAY = date(2026, 6, 1)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_NAMES = _words(
    "Olivia Amelia Isla Ava Mia Isabella Sophia Grace Lily Freya Emily Ivy Ella Rosie "
    "Evie Florence Poppy Charlotte Willow Sophie Elizabeth Isabelle Daisy Alice Sienna "
    "Matilda Evelyn Phoebe Harper Ruby Eleanor Jessica Chloe Hannah Lucy Emma Holly "
    "Megan Katherine Catherine Rebecca Samantha Victoria Abigail Alexandra Margaret Mary "
    "Susan Deborah Jennifer Patricia Christina Frances Josephine Jacqueline Dorothy "
    "Gabriella Laura Rachel Amy Zara Aisha Maryam Fatima Hollie Leah Niamh Erin Esme "
    "Imogen Maisie Layla Nancy Beatrice Harriet Scarlett Thea Aria Luna Zoe Naomi"
)

MALE_NAMES = _words(
    "Oliver George Noah Arthur Harry Leo Muhammad Jack Charlie Oscar Jacob Henry Thomas "
    "Freddie Alfie Theo William Theodore Archie Joshua Alexander James Isaac Edward Lucas "
    "Samuel Daniel Joseph Benjamin Michael Matthew Christopher Andrew David Richard "
    "Robert Anthony Nicholas Jonathan Patrick Stephen Peter Timothy Kenneth Ronald "
    "Dominic Frederick Lawrence Leonard Zachary Gregory Francis Albert Maximilian Ethan "
    "Mason Logan Dylan Reuben Finley Harrison Sebastian Elijah Louis Toby Ryan Callum "
    "Kai Adam Owen Ibrahim Yusuf Jayden Tyler Connor Liam Nathan Aaron Jamal Luca"
)

SURNAMES = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson "
    "Evans Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James "
    "Phillips Mason Mitchell Rose Davis Rodriguez Cox Alexander Morgan Moore Mills King "
    "Hughes Turner Campbell Lee Scott Harris Clark Cooper Ward Morris Baker Bennett "
    "Edwards Hill Murphy Kelly Price Young Allen Carter Anderson Shaw Bailey Marshall "
    "Richardson Ali Hussain Begum Ahmed Chapman Ellis Fletcher Reid Graham Holmes "
    "Kennedy Murray Owen Webb Barnes Knight Fisher Dixon Palmer Hunt Lawson Stevens "
    "Butler Russell Grant Harvey Lloyd Watson Gibson Ryan Foster Pearce Burke O'Brien "
    "O'Connor McDonald MacLeod Nowak Kowalski Okafor Mensah Singh Kaur Nguyen"
)

_PLACE_START = _words(
    "Ash Black Brad Brook Cald Craw Dun Fair Green Hal Hart Kings Lang Mar New Old "
    "Pen Red Rad Stan Thorn Wake West Whit Wood Holt Clay Crom Elm Fern"
)
_PLACE_MIDDLE = ("", "ing", "er", "en", "s")
_PLACE_END = _words(
    "ley ton ford field wood worth by well ham more cliffe shaw stone bridge dale "
    "combe hurst lake wick"
)

STREET_NAMES = _words(
    "Oak Elm Ash Birch Beech Cedar Willow Hazel Maple Rowan Holly Laurel Juniper Alder "
    "Chestnut Poplar Linden Heather Bramble Thistle Clover Meadow Orchard Mill Church "
    "Station Park Victoria Albert Queens Kings Castle Bridge River Brook Spring Green "
    "Windmill Highfield Westfield Northgate Southgate Stonehill Redhill Foxglove Kestrel "
    "Sparrow Wren Heron Lark Swallow Falcon Badger Otter Primrose Bluebell Daffodil"
)
STREET_TYPES = _words(
    "Road Street Avenue Lane Close Drive Gardens Grove Crescent Way Place Terrace Court"
)
_SHORT_STREET_TYPES = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Lane": "Ln",
    "Close": "Cl",
    "Drive": "Dr",
    "Gardens": "Gdns",
    "Crescent": "Cres",
    "Place": "Pl",
    "Terrace": "Terr",
    "Court": "Ct",
}
TOWNS = _words(
    "Ashbury Millbrook Fernley Hollowmere Kingsford Stonebridge Westcombe Larkhill Redwick Oakhurst"
)
_POSTCODE_AREAS = ("XA", "XB", "XC", "XD", "XE", "XF", "XG", "XH")
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# In the order they are applied (a typo after a nickname, not before).
VARIANT_KINDS = (
    "nickname",
    "double_barrelled",
    "dob_transposed",
    "dob_typo",
    "given_typo",
    "family_typo",
    "moved",
    "nhs_missing",
    "noise",
)

_KEYBOARD_NEIGHBOURS = {
    "a": "qswz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}


def _zipf_weights(n: int, exponent: float = 1.0, offset: float = 3.0) -> list[float]:
    return [1.0 / (rank + offset) ** exponent for rank in range(n)]


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass(frozen=True)
class Variant:
    """A re-recording of `source_id`'s person, and the kinds of change applied."""

    record: PersonRecord
    source_id: str
    kinds: tuple[str, ...]


class PeopleGenerator:
    """Deterministic fictional people. Each call draws from one seeded random stream, so
    the same seed and the same sequence of calls give the same people."""

    def __init__(self, seed: int = 0, *, today: date = TODAY, nhs_share: float = 0.6) -> None:
        self._rng = random.Random(seed)
        self._today = today
        self._nhs_share = nhs_share
        self._next_id = 1
        self._nhs_counter = seed % 1_000_000
        self._nhs_issued = 0
        self._postcodes: list[tuple[str, str, str]] = []  # postcode, street, town
        self._postcode_seen: set[str] = set()
        self._houses: dict[str, int] = {}
        # Invented place-like surnames (Ashingley, Thornerford...): a long tail of rarer
        # names, so that the common ones hold about a quarter of people, as in England.
        place_surnames = [
            a + m + b for a in _PLACE_START for m in _PLACE_MIDDLE for b in _PLACE_END
        ]
        self._surnames = list(SURNAMES) + place_surnames
        self._surname_weights = _cumulative(
            _zipf_weights(len(SURNAMES), 1.0, 8.0) + [0.003] * len(place_surnames)
        )
        self._female_weights = _cumulative(_zipf_weights(len(FEMALE_NAMES), 0.9, 8.0))
        self._male_weights = _cumulative(_zipf_weights(len(MALE_NAMES), 0.9, 8.0))

    # ------------------------------------------------------------------ building blocks

    def _new_id(self) -> str:
        value = f"P{self._next_id:07d}"
        self._next_id += 1
        return value

    def _nhs_number(self) -> str | None:
        """A fresh, never repeated, valid NHS number from the 999 test range."""
        while self._nhs_issued < 1_000_000:
            self._nhs_issued += 1
            self._nhs_counter = (self._nhs_counter + 7919) % 1_000_000
            first_nine = f"999{self._nhs_counter:06d}"
            check = nhs_check_digit(first_nine)
            if check is not None:
                return f"{first_nine}{check}"
        return None  # the test range is used up: later people have none

    def _maybe_nhs(self) -> str | None:
        return self._nhs_number() if self._rng.random() < self._nhs_share else None

    def _surname(self) -> str:
        return self._rng.choices(self._surnames, cum_weights=self._surname_weights)[0]

    def _given(self, female: bool) -> str:
        if female:
            return self._rng.choices(FEMALE_NAMES, cum_weights=self._female_weights)[0]
        return self._rng.choices(MALE_NAMES, cum_weights=self._male_weights)[0]

    def _date_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self._rng.randrange((end - start).days + 1))

    def _fresh_postcode(self) -> tuple[str, str, str]:
        rng = self._rng
        while True:
            area = rng.choice(_POSTCODE_AREAS)
            code = (
                f"{area}{rng.randint(1, 39)} {rng.randint(0, 9)}"
                f"{rng.choice(_UNIT_LETTERS)}{rng.choice(_UNIT_LETTERS)}"
            )
            if code not in self._postcode_seen:
                self._postcode_seen.add(code)
                street = f"{rng.choice(STREET_NAMES)} {rng.choice(STREET_TYPES)}"
                return code, street, rng.choice(TOWNS)

    def _home(self) -> tuple[str, str]:
        """An address and postcode; a postcode is shared by about eight households, and
        neighbouring households (generated one after another) share postcodes."""
        rng = self._rng
        if not self._postcodes or rng.random() < 0.12:
            self._postcodes.append(self._fresh_postcode())
        postcode, street, town = rng.choice(self._postcodes[-40:])
        number = self._houses.get(postcode, rng.randint(1, 40)) + rng.randint(1, 3)
        self._houses[postcode] = number
        if rng.random() < 0.15:
            return f"Flat {rng.randint(1, 12)}, {number} {street}, {town}", postcode
        return f"{number} {street}, {town}", postcode

    def _other_home(self, postcode: str | None) -> tuple[str, str]:
        while True:
            code, street, town = self._fresh_postcode()
            if code != postcode:
                return f"{self._rng.randint(1, 120)} {street}, {town}", code

    # ------------------------------------------------------------------ people

    def people(self, n: int) -> list[PersonRecord]:
        """`n` fictional people in households (the last household may be cut short)."""
        out: list[PersonRecord] = []
        while len(out) < n:
            out.extend(self._household())
        return out[:n]

    def _household(self) -> list[PersonRecord]:
        rng = self._rng
        today = self._today
        address, postcode = self._home()
        family = self._surname()
        if rng.random() < 0.06:
            family = f"{family}-{self._surname()}"
        members: list[PersonRecord] = []

        def person(given: str, surname: str, dob: date) -> PersonRecord:
            return PersonRecord(
                id=self._new_id(),
                given_name=given,
                family_name=surname,
                date_of_birth=dob,
                address=address,
                postcode=postcode,
                nhs_number=self._maybe_nhs(),
            )

        first_adult_female = rng.random() < 0.7
        oldest = self._date_between(date(today.year - 62, 1, 1), date(today.year - 19, 12, 31))
        members.append(person(self._given(first_adult_female), family, oldest))
        if rng.random() < 0.6:
            surname = family if rng.random() < 0.7 else self._surname()
            dob = self._date_between(oldest - timedelta(days=2500), oldest + timedelta(days=2500))
            dob = min(dob, date(today.year - 18, 1, 1))
            members.append(person(self._given(not first_adult_female), surname, dob))
        earliest_child = max(oldest + timedelta(days=18 * 365), date(today.year - 17, 1, 1))
        latest_child = min(oldest + timedelta(days=45 * 365), today)
        children = rng.choices((0, 1, 2, 3, 4), (20, 30, 30, 14, 6))[0]
        if (latest_child - earliest_child).days < 2 * 365:
            children = 0
        used_names = {m.given_name for m in members}
        for _ in range(children):
            dob = self._date_between(earliest_child, latest_child)
            births = 2 if rng.random() < 0.03 else 1
            for _twin in range(births):
                given = self._sibling_name(used_names)
                used_names.add(given)
                members.append(person(given, family, dob))
        return members

    def _sibling_name(self, used: set[str]) -> str:
        """A given name unlike any already in the household (no shared nickname)."""
        while True:
            given = self._given(self._rng.random() < 0.5)
            if not any(names_related(given, u) for u in used):
                return given

    # ------------------------------------------------------------------ hard negatives

    def namesake(self, person: PersonRecord) -> PersonRecord:
        """Another person with the same names: different birth date (not near) and home."""
        assert person.date_of_birth is not None
        address, postcode = self._other_home(person.postcode)
        while True:
            delta = self._rng.randint(400, 9000) * self._rng.choice((-1, 1))
            dob = person.date_of_birth + timedelta(days=delta)
            if dob <= self._today and not _near_dates(dob, person.date_of_birth):
                break
        return PersonRecord(
            id=self._new_id(),
            given_name=person.given_name,
            family_name=person.family_name,
            date_of_birth=dob,
            address=address,
            postcode=postcode,
            nhs_number=self._maybe_nhs(),
        )

    def twin(self, person: PersonRecord) -> PersonRecord:
        """A twin: same family name, birth date and home; a different given name."""
        given = self._sibling_name({person.given_name})
        return replace(person, id=self._new_id(), given_name=given, nhs_number=self._maybe_nhs())

    def birthday_twin(self, person: PersonRecord) -> PersonRecord:
        """A stranger with the same given name and birth date, elsewhere."""
        address, postcode = self._other_home(person.postcode)
        while True:
            family = self._surname()
            if not set(name_tokens(family)) & set(name_tokens(person.family_name)):
                break
        return PersonRecord(
            id=self._new_id(),
            given_name=person.given_name,
            family_name=family,
            date_of_birth=person.date_of_birth,
            address=address,
            postcode=postcode,
            nhs_number=self._maybe_nhs(),
        )

    # ------------------------------------------------------------------ variants

    def applicable_kinds(self, person: PersonRecord) -> tuple[str, ...]:
        """The variant kinds that can change this person."""
        kinds = []
        for kind in VARIANT_KINDS:
            if kind == "nickname" and not self._nickname_options(person.given_name):
                continue
            if kind == "dob_transposed":
                dob = person.date_of_birth
                if dob is None or dob.day > 12 or dob.day == dob.month:
                    continue
            if kind == "dob_typo" and person.date_of_birth is None:
                continue
            if kind == "nhs_missing" and person.nhs_number is None:
                continue
            kinds.append(kind)
        return tuple(kinds)

    def variant(
        self,
        person: PersonRecord,
        kinds: Sequence[str] | None = None,
        *,
        drop_nhs: float = 0.7,
    ) -> Variant:
        """The person as recorded again elsewhere. With `kinds` None, one to three
        applicable kinds are picked at random; in addition the NHS number is dropped with
        probability `drop_nhs` (most contacts arrive without one)."""
        rng = self._rng
        if kinds is None:
            options = [k for k in self.applicable_kinds(person) if k != "nhs_missing"]
            count = rng.choices((1, 2, 3), (55, 35, 10))[0]
            chosen = rng.sample(options, min(count, len(options)))
            if "dob_transposed" in chosen and "dob_typo" in chosen:
                chosen.remove(rng.choice(("dob_transposed", "dob_typo")))  # one date error
            if person.nhs_number is not None and rng.random() < drop_nhs:
                chosen.append("nhs_missing")
            kinds = chosen
        kinds = sorted(kinds, key=VARIANT_KINDS.index)
        record = replace(person, id=f"{person.id}-v{self._next_id}")
        self._next_id += 1
        for kind in kinds:
            record = self._apply(kind, record)
        return Variant(record, person.id, tuple(kinds))

    def _apply(self, kind: str, record: PersonRecord) -> PersonRecord:
        rng = self._rng
        if kind == "given_typo":
            return replace(record, given_name=self._typo(record.given_name))
        if kind == "family_typo":
            return replace(record, family_name=self._typo(record.family_name))
        if kind == "nickname":
            options = self._nickname_options(record.given_name)
            if not options:
                raise ValueError(f"no nickname for {record.given_name!r}")
            return replace(record, given_name=rng.choice(options).title())
        if kind == "dob_transposed":
            dob = record.date_of_birth
            if dob is None or dob.day > 12 or dob.day == dob.month:
                raise ValueError("day and month cannot be swapped")
            return replace(record, date_of_birth=date(dob.year, dob.day, dob.month))
        if kind == "dob_typo":
            if record.date_of_birth is None:
                raise ValueError("no date of birth")
            return replace(record, date_of_birth=self._dob_typo(record.date_of_birth))
        if kind == "moved":
            address, postcode = self._other_home(record.postcode)
            return replace(record, address=address, postcode=postcode)
        if kind == "nhs_missing":
            return replace(record, nhs_number=None)
        if kind == "double_barrelled":
            return replace(record, family_name=self._double_barrelled(record.family_name))
        if kind == "noise":
            return self._noise(record)
        raise ValueError(f"unknown variant kind {kind!r}")

    def _nickname_options(self, given_name: str) -> list[str]:
        tokens = name_tokens(given_name)
        if not tokens:
            return []
        first = tokens[0]
        options = set(nicknames_of(first))
        options.update(f for f in formal_names(first) if f != first)
        return sorted(o for o in options if o != first)

    def _typo(self, name: str) -> str:
        """One insertion, deletion, substitution or adjacent transposition in a letter."""
        rng = self._rng
        letters = list(name)
        positions = [i for i, c in enumerate(letters) if c.isalpha()]
        while True:
            operation = rng.choice(("insert", "delete", "substitute", "transpose"))
            i = rng.choice(positions)
            candidate = letters.copy()
            char = letters[i].lower()
            if operation == "insert":
                candidate.insert(i + 1, rng.choice(_KEYBOARD_NEIGHBOURS.get(char, char) + char))
            elif operation == "delete" and len(positions) > 3:
                del candidate[i]
            elif operation == "substitute":
                candidate[i] = rng.choice(_KEYBOARD_NEIGHBOURS.get(char, "e"))
            elif operation == "transpose" and i + 1 < len(letters) and letters[i + 1].isalpha():
                candidate[i], candidate[i + 1] = candidate[i + 1], candidate[i]
            result = "".join(candidate)
            if result.lower() != name.lower():
                return result

    def _dob_typo(self, dob: date) -> date:
        """The date with one digit of YYYYMMDD changed, still a valid date and not future."""
        rng = self._rng
        text = dob.strftime("%Y%m%d")
        while True:
            i = rng.choice((2, 3, 4, 5, 6, 7))
            digit = rng.choice([d for d in "0123456789" if d != text[i]])
            changed = text[:i] + digit + text[i + 1 :]
            try:
                result = date(int(changed[:4]), int(changed[4:6]), int(changed[6:]))
            except ValueError:
                continue
            if result <= self._today and result != dob:
                return result

    def _double_barrelled(self, family_name: str) -> str:
        rng = self._rng
        tokens = family_name.replace("-", " ").split()
        if len(tokens) > 1:
            return rng.choice(tokens)
        other = self._surname()
        while other == family_name:
            other = self._surname()
        joiner = rng.choice(("-", "-", " "))
        return joiner.join([family_name, other] if rng.random() < 0.6 else [other, family_name])

    def _noise(self, record: PersonRecord) -> PersonRecord:
        """Case and spacing noise; abbreviated street types; a postcode without its space."""
        rng = self._rng

        def noisy(text: str) -> str:
            choice = rng.randrange(4)
            if choice == 0:
                text = text.upper()
            elif choice == 1:
                text = text.lower()
            elif choice == 2:
                text = "".join(c.upper() if rng.random() < 0.3 else c.lower() for c in text)
            pad = rng.choice(("", " ", "  "))
            return f"{pad}{text.replace(' ', '  ') if rng.random() < 0.3 else text}{pad}"

        address = record.address
        if address is not None:
            for long, short in _SHORT_STREET_TYPES.items():
                if f" {long}" in address and rng.random() < 0.7:
                    address = address.replace(f" {long}", f" {short}")
            address = noisy(address)
        postcode = record.postcode
        if postcode is not None:
            postcode = rng.choice((postcode.replace(" ", ""), postcode.lower(), postcode))
        return replace(
            record,
            given_name=noisy(record.given_name),
            family_name=noisy(record.family_name),
            address=address,
            postcode=postcode,
        )


def _near_dates(a: date, b: date) -> bool:
    """Whether two dates are ones matching forgives (same, swapped or one digit apart)."""
    if a == b or (a.year == b.year and a.day == b.month and a.month == b.day):
        return True
    sa, sb = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    return sum(x != y for x, y in zip(sa, sb, strict=True)) <= 1
