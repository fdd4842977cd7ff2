"""Person matching: is a contact's subject someone the hub already knows?

Pure functions over `PersonRecord`s; no database, no Flask. A database-backed register
stores `blocking_keys(person)` for every known person in an indexed table, looks up the
subject's own keys to fetch a few candidates, and ranks them with `candidates` / `score`.
Nothing here merges or links anyone: a score is a suggestion for a screener.

How a pair is scored (see `score`):

- An exact NHS number match is decisive (1.0). Two different valid NHS numbers cap the
  score at 0.5: they are almost certainly two people.
- Otherwise four fields each give a similarity in 0..1 with a reason, combined with the
  weights in `WEIGHTS`: given name (exact, nickname, phonetic, one-edit typo, initial),
  family name (exact, one part of a double-barrelled name, phonetic, typo), date of birth
  (exact, day and month transposed, one digit wrong) and address (postcode, else the
  address line). A missing date of birth or address counts as weak, neutral evidence.
- Clear disagreements cap the score below the default threshold whatever else agrees:
  a different given name (siblings and twins share everything else) or a date of birth
  that is not even near (a parent and child with the same name at the same address).

Blocking keys (see `blocking_keys`) are short strings, one per way of finding a person:

    nhs:<10 digits>                        the NHS number
    fy:<family phonetic>:<birth year>      survives given-name changes, day/month errors,
                                           moves
    fd:<family phonetic>:<day-month pair>  survives given-name changes, year typos, moves
    gd:<given phonetic>:<day-month pair>   survives family-name changes, year typos, moves;
                                           day and month are sorted, so a transposed date
                                           keeps the key; given names are also keyed by
                                           their formal forms (Bill -> William)
    py:<postcode>:<birth year>             survives typos in both names
    fg:<family phonetic>:<given phonetic>  survives a missing or doubly wrong birth date

Each realistic single change (a typo, nickname, transposed or mistyped date, move,
missing NHS number, double-barrelled surname) leaves most keys intact. If the key scheme
changes, stored keys must be rebuilt: `BLOCKING_SCHEME` names the scheme in force.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from mash_hub.contacts.identifiers import normalise_nhs_number

BLOCKING_SCHEME = "v1"

# Scores at or above this are shown to a screener as possible matches.
DEFAULT_THRESHOLD = 0.7

# Field weights; they sum to 1.
WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"given_name": 0.3, "family_name": 0.3, "dob": 0.3, "address": 0.1}
)

# Values that stand in for a field one side does not have.
_MISSING_DOB = 0.4
_MISSING_ADDRESS = 0.4

# Caps for clear disagreements (all below DEFAULT_THRESHOLD).
_CAP_NHS_DIFFERS = 0.5
_CAP_GIVEN_DIFFERS = 0.55
_CAP_DOB_DIFFERS = 0.6
_GIVEN_DIFFERS_BELOW = 0.5

# Names and addresses longer than this are cut before comparison (forms refuse far less).
_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """What matching needs to know about a person (or a contact's subject)."""

    id: str
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    address: str | None = None
    postcode: str | None = None
    nhs_number: str | None = None


@dataclass(frozen=True, slots=True)
class MatchScore:
    """How alike two records are: `value` in 0..1 and the reasons behind it.

    `decisive` is set when an identifier (the NHS number) settles the match."""

    value: float
    reasons: tuple[str, ...]
    decisive: bool = False


# --------------------------------------------------------------------------- names

_APOSTROPHES = "'\u2019\u2018\u02bc`\u00b4"
_APOSTROPHE_TABLE = str.maketrans("", "", _APOSTROPHES)


def _cut(text: str | None) -> str | None:
    """At most _MAX_TEXT characters: bounds the work and the memo caches' memory."""
    return text[:_MAX_TEXT] if text is not None else None


def normalise_name(text: str) -> str:
    """Lower case, accents removed, apostrophes dropped, hyphens and other punctuation as
    spaces, whitespace collapsed: "  O'Brien-SMITH " -> "obrien smith", "Zoë" -> "zoe"."""
    return _normalise_name(text[:_MAX_TEXT])


@lru_cache(maxsize=65536)
def _normalise_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = stripped.casefold().translate(_APOSTROPHE_TABLE)
    return " ".join("".join(c if c.isalpha() else " " for c in folded).split())


def name_tokens(text: str) -> tuple[str, ...]:
    """The words of a name after `normalise_name`."""
    return tuple(normalise_name(text).split())


@lru_cache(maxsize=65536)
def phonetic_key(token: str) -> str:
    """A Metaphone key for one normalised name word ("smyth" -> "SM0"); for words with
    letters Metaphone does not know, the word itself."""
    if not token:
        return ""
    if not token.isascii():
        return token.upper()
    return jellyfish.metaphone(token)


# Formal name -> its common short forms and alternative spellings. A name may sit under
# more than one formal name (Alex: Alexander and Alexandra); two names are related when
# their formal names overlap.
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie", "gail"),
    "albert": ("al", "bert", "bertie"),
    "alexander": ("alex", "alec", "sandy", "xander", "lex"),
    "alexandra": ("alex", "alexa", "lexi", "sandy", "sasha"),
    "alfred": ("alf", "alfie", "fred"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "ant", "antony"),
    "archibald": ("archie", "archy"),
    "benjamin": ("ben", "benji", "benny"),
    "catherine": ("katherine", "kathryn", "katharine", "cathy", "cath", "kate", "katie"),
    "charles": ("charlie", "chas", "chuck"),
    "charlotte": ("charlie", "lottie", "lotte"),
    "christina": ("christine", "chris", "tina", "chrissie", "kirsty"),
    "christopher": ("chris", "kit", "topher"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy", "davey"),
    "deborah": ("debbie", "debra", "deb", "debs"),
    "dominic": ("dom", "dominik"),
    "dorothy": ("dot", "dotty", "dolly"),
    "edward": ("ed", "eddie", "ted", "teddy", "ned"),
    "eleanor": ("ellie", "elle", "nell", "nellie", "elinor"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby", "bess", "elisabeth"),
    "emily": ("em", "emmy", "millie"),
    "florence": ("flo", "florrie", "flossie"),
    "frances": ("fran", "frankie"),
    "francis": ("frank", "frankie"),
    "frederick": ("fred", "freddie", "freddy", "frederic"),
    "gabriel": ("gabe",),
    "gabriella": ("gabby", "gabrielle", "ella"),
    "gregory": ("greg",),
    "henry": ("harry", "hal", "hank"),
    "harold": ("harry", "hal"),
    "isabella": ("isabel", "isabelle", "isobel", "bella", "izzy", "issy"),
    "jacob": ("jake", "jakob"),
    "jacqueline": ("jackie", "jacqui"),
    "james": ("jim", "jimmy", "jamie", "jem"),
    "jennifer": ("jen", "jenny", "jenna"),
    "jessica": ("jess", "jessie"),
    "john": ("jack", "johnny", "jon", "jonny"),
    "jonathan": ("jon", "jonny", "johnathan", "jonathon"),
    "joseph": ("joe", "joey"),
    "josephine": ("jo", "josie"),
    "joshua": ("josh",),
    "kenneth": ("ken", "kenny"),
    "lawrence": ("laurence", "larry", "laurie"),
    "leonard": ("len", "lenny", "leo"),
    "margaret": ("maggie", "meg", "peggy", "madge", "greta"),
    "mary": ("molly", "polly", "mae"),
    "matthew": ("matt", "matty"),
    "maximilian": ("max", "maxim"),
    "michael": ("mike", "mick", "mikey", "micky"),
    "mohammed": ("mohammad", "muhammad", "mohamed", "mo"),
    "nathaniel": ("nathan", "nat", "nate"),
    "nicholas": ("nick", "nicky", "nico"),
    "oliver": ("ollie", "olly"),
    "olivia": ("liv", "livvy", "ollie"),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "rebecca": ("becky", "becca", "bex"),
    "richard": ("rich", "richie", "rick", "ricky", "dick"),
    "robert": ("rob", "robbie", "bob", "bobby", "bert"),
    "ronald": ("ron", "ronnie"),
    "samantha": ("sam", "sammy", "sammie"),
    "samuel": ("sam", "sammy"),
    "sophia": ("sophie", "sofia"),
    "stephen": ("steven", "steve", "stevie"),
    "susan": ("sue", "susie", "suzy"),
    "theodore": ("theo", "ted", "teddy"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "vicki", "tori"),
    "william": ("will", "bill", "billy", "liam", "willie"),
    "zachary": ("zach", "zack"),
}


def _formal_names() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for formal, others in _NICKNAMES.items():
        table.setdefault(formal, set()).add(formal)
        for other in others:
            table.setdefault(other, set()).add(formal)
    return {name: frozenset(formals) for name, formals in table.items()}


_FORMAL = _formal_names()


def nickname_pairs() -> frozenset[tuple[str, str]]:
    """Every (formal name, short form or variant spelling) pair the table knows."""
    return frozenset((f, o) for f, others in _NICKNAMES.items() for o in others)


def nicknames_of(name: str) -> tuple[str, ...]:
    """The short forms and spellings listed for a formal name ("william" -> "will", ...)."""
    return _NICKNAMES.get(normalise_name(name), ())


def formal_names(token: str) -> frozenset[str]:
    """The name itself and the formal names it may stand for ("bill" -> bill, william)."""
    return _FORMAL.get(token, frozenset()) | {token}


def names_related(a: str, b: str) -> bool:
    """True when two given names are nickname or spelling variants of one formal name."""
    ta, tb = normalise_name(a), normalise_name(b)
    if ta == tb:
        return True
    fa, fb = _FORMAL.get(ta), _FORMAL.get(tb)
    return fa is not None and fb is not None and not fa.isdisjoint(fb)


@lru_cache(maxsize=65536)
def _formal_names_near(token: str) -> frozenset[str]:
    """Formal names for a name the table does not know but that is one typo away from
    names it does ("tomm" -> thomas, "olie" -> oliver, olivia); empty if none."""
    if token in _FORMAL or len(token) < 4:
        return frozenset()
    found: set[str] = set()
    for known, formals in _FORMAL.items():
        if abs(len(known) - len(token)) <= 1 and _one_edit(known, token):
            found.update(formals)
    return frozenset(found)


def _one_edit(a: str, b: str) -> bool:
    """At most one insertion, deletion, substitution or adjacent transposition apart."""
    return OSA.distance(a, b, score_cutoff=1) <= 1


def _fallback(a: str, b: str) -> float:
    """A weak similarity for names that meet no rule: Jaro-Winkler from 0.8 up to 0.7."""
    jw = JaroWinkler.similarity(a, b)
    return max(0.0, (jw - 0.8) / 0.2) * 0.7


def given_name_similarity(a: str, b: str) -> tuple[float, str]:
    """Similarity of two given names in 0..1 with its reason."""
    return _given_name_similarity(a[:_MAX_TEXT], b[:_MAX_TEXT])


@lru_cache(maxsize=65536)
def _given_name_similarity(a: str, b: str) -> tuple[float, str]:
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0, "given_name_missing"
    first_a, first_b = ta[0], tb[0]
    if first_a == first_b or "".join(ta) == "".join(tb):
        return 1.0, "given_name"
    if names_related(first_a, first_b):
        return 0.92, "nickname"
    if len(first_a) > 1 and len(first_b) > 1:
        if set(ta) & set(tb):
            return 0.85, "given_name_middle"
        if phonetic_key(first_a) == phonetic_key(first_b) and first_a[0] == first_b[0]:
            return 0.88, "given_name_phonetic"
        if len(first_a) >= 3 and len(first_b) >= 3 and _one_edit(first_a, first_b):
            return 0.85, "given_name_typo"
        near_a = _formal_names_near(first_a) or _FORMAL.get(first_a, frozenset())
        near_b = _formal_names_near(first_b) or _FORMAL.get(first_b, frozenset())
        if not near_a.isdisjoint(near_b):
            return 0.8, "nickname_typo"
    elif first_a[0] == first_b[0]:
        return 0.6, "given_initial"
    value = _fallback(first_a, first_b)
    return value, "given_name_similar" if value >= _GIVEN_DIFFERS_BELOW else "given_name_differs"


def family_name_similarity(a: str, b: str) -> tuple[float, str]:
    """Similarity of two family names in 0..1 with its reason. One part of a
    double-barrelled or hyphenated name matching the other name counts as partial."""
    return _family_name_similarity(a[:_MAX_TEXT], b[:_MAX_TEXT])


@lru_cache(maxsize=65536)
def _family_name_similarity(a: str, b: str) -> tuple[float, str]:
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0, "family_name_missing"
    ja, jb = "".join(ta), "".join(tb)
    if ja == jb:
        return 1.0, "family_name"
    if set(ta) & set(tb):
        return 0.9, "family_name_partial"
    if phonetic_key(ja) == phonetic_key(jb) and ja[0] == jb[0]:
        return 0.88, "family_name_phonetic"
    if _one_edit(ja, jb):
        return 0.85, "family_name_typo"
    if len(ta) > 1 or len(tb) > 1:
        for x in ta:
            for y in tb:
                if len(x) >= 4 and len(y) >= 4 and _one_edit(x, y):
                    return 0.8, "family_name_partial_typo"
    value = _fallback(ja, jb)
    return value, "family_name_similar" if value >= 0.5 else "family_name_differs"


# --------------------------------------------------------------------------- dates


def dob_similarity(a: date | None, b: date | None) -> tuple[float | None, str]:
    """Similarity of two dates of birth with its reason; None when either is unknown.

    Exact 1.0; day and month transposed 0.85; one digit wrong in YYYYMMDD, or two
    adjacent digits swapped, 0.8; anything else 0."""
    if a is None or b is None:
        return None, "dob_missing"
    if a == b:
        return 1.0, "dob"
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return 0.85, "dob_transposed"
    sa = f"{a.year:04d}{a.month:02d}{a.day:02d}"
    sb = f"{b.year:04d}{b.month:02d}{b.day:02d}"
    differ = [i for i in range(8) if sa[i] != sb[i]]
    if len(differ) == 1:
        return 0.8, "dob_typo"
    if (
        len(differ) == 2
        and differ[1] == differ[0] + 1
        and sa[differ[0]] == sb[differ[1]]
        and sa[differ[1]] == sb[differ[0]]
    ):
        return 0.8, "dob_typo"
    return 0.0, "dob_differs"


# --------------------------------------------------------------------------- addresses

_POSTCODE_IN_TEXT = re.compile(r"\b[a-z]{1,2}[0-9][a-z0-9]? ?[0-9][a-z]{2}\b")
_ADDRESS_WORDS = {
    "rd": "road",
    "st": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "cl": "close",
    "ct": "court",
    "dr": "drive",
    "gdns": "gardens",
    "gro": "grove",
    "cres": "crescent",
    "pl": "place",
    "sq": "square",
    "ter": "terrace",
    "terr": "terrace",
    "hse": "house",
    "apt": "flat",
    "apartment": "flat",
}


def normalise_postcode(text: str | None) -> str | None:
    """Upper case, single space before the last three characters: "xa1 2bd" -> "XA1 2BD".
    None for empty input or anything too short or long to be a UK postcode."""
    return _normalise_postcode(_cut(text))


@lru_cache(maxsize=65536)
def _normalise_postcode(text: str | None) -> str | None:
    if not text:
        return None
    compact = "".join(c for c in text.upper() if c.isascii() and c.isalnum())
    if not 5 <= len(compact) <= 7:
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def normalise_address(text: str | None) -> str | None:
    """Lower case, accents and punctuation removed, a trailing postcode removed and common
    abbreviations spelled out: "12, Oak Rd." -> "12 oak road"."""
    return _normalise_address(_cut(text))


@lru_cache(maxsize=65536)
def _normalise_address(text: str | None) -> str | None:
    if not text:
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    folded = _POSTCODE_IN_TEXT.sub(" ", folded.translate(_APOSTROPHE_TABLE))
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    normalised = " ".join(_ADDRESS_WORDS.get(w, w) for w in words)
    return normalised or None


@lru_cache(maxsize=65536)
def _address_parts(text: str | None) -> tuple[frozenset[str], str] | None:
    """The house and flat numbers of an address, and the rest of it, or None."""
    normalised = _normalise_address(text)
    if normalised is None:
        return None
    words = normalised.split()
    numbers = frozenset(w for w in words if not w.isalpha())
    return numbers, " ".join(w for w in words if w.isalpha())


def address_similarity(
    address_a: str | None,
    postcode_a: str | None,
    address_b: str | None,
    postcode_b: str | None,
) -> tuple[float | None, str]:
    """Similarity of two addresses with its reason; None when they cannot be compared.

    Same postcode 1.0 (0.6 if the house numbers differ: a neighbour); otherwise the same
    house number on a near-identical street 0.8 (a mistyped postcode); otherwise 0."""
    pa, pb = normalise_postcode(postcode_a), normalise_postcode(postcode_b)
    parts_a, parts_b = _address_parts(_cut(address_a)), _address_parts(_cut(address_b))
    if pa is not None and pa == pb:
        if parts_a is not None and parts_b is not None:
            na, nb = parts_a[0], parts_b[0]
            if na and nb and na.isdisjoint(nb):
                return 0.6, "same_postcode"
        return 1.0, "postcode"
    if parts_a is not None and parts_b is not None:
        (na, street_a), (nb, street_b) = parts_a, parts_b
        if na == nb and street_a and fuzz.token_sort_ratio(street_a, street_b) >= 90:
            return 0.8, "address"
        return 0.0, "address_differs"
    if pa is not None and pb is not None:
        return 0.0, "address_differs"
    return None, "address_missing"


# --------------------------------------------------------------------------- scoring


def _nhs(text: str | None) -> str | None:
    return _nhs_cached(_cut(text))


@lru_cache(maxsize=65536)
def _nhs_cached(text: str | None) -> str | None:
    return normalise_nhs_number(text)


def score(candidate: PersonRecord, subject: PersonRecord) -> MatchScore:
    """How likely `candidate` and `subject` are one person, with the reasons."""
    nhs_c = _nhs(candidate.nhs_number)
    nhs_s = _nhs(subject.nhs_number)

    given, given_reason = given_name_similarity(candidate.given_name, subject.given_name)
    family, family_reason = family_name_similarity(candidate.family_name, subject.family_name)
    dob, dob_reason = dob_similarity(candidate.date_of_birth, subject.date_of_birth)
    address, address_reason = address_similarity(
        candidate.address, candidate.postcode, subject.address, subject.postcode
    )
    reasons = [given_reason, family_reason, dob_reason, address_reason]

    if nhs_c is not None and nhs_c == nhs_s:
        return MatchScore(1.0, ("nhs_number", *reasons), decisive=True)

    value = (
        WEIGHTS["given_name"] * given
        + WEIGHTS["family_name"] * family
        + WEIGHTS["dob"] * (_MISSING_DOB if dob is None else dob)
        + WEIGHTS["address"] * (_MISSING_ADDRESS if address is None else address)
    )
    if given < _GIVEN_DIFFERS_BELOW:
        value = min(value, _CAP_GIVEN_DIFFERS)
    if dob == 0.0:
        value = min(value, _CAP_DOB_DIFFERS)
    if nhs_c is not None and nhs_s is not None:
        value = min(value, _CAP_NHS_DIFFERS)
        reasons.append("nhs_number_differs")
    return MatchScore(round(value, 4), tuple(reasons))


def candidates(
    subject: PersonRecord,
    people: Iterable[PersonRecord],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[tuple[PersonRecord, MatchScore]]:
    """The people scoring at least `threshold` against `subject`, best first (ties by id).

    `people` is whatever the caller fetched, ideally by `blocking_keys`; each is scored."""
    scored = [(person, score(person, subject)) for person in people]
    kept = [(p, s) for p, s in scored if s.value >= threshold]
    kept.sort(key=lambda pair: (-pair[1].value, pair[0].id))
    return kept


# --------------------------------------------------------------------------- blocking


def _given_keys(given_name: str) -> set[str]:
    tokens = name_tokens(given_name)
    if not tokens:
        return set()
    return {k for k in (phonetic_key(n) for n in formal_names(tokens[0])) if k}


def _family_keys(family_name: str) -> set[str]:
    tokens = name_tokens(family_name)
    keys = {phonetic_key(t) for t in tokens}
    if len(tokens) > 1:
        keys.add(phonetic_key("".join(tokens)))
    keys.discard("")
    return keys


def blocking_keys(person: PersonRecord) -> set[str]:
    """Index keys under which `person` should be found; see the module docstring."""
    keys: set[str] = set()
    nhs = _nhs(person.nhs_number)
    if nhs is not None:
        keys.add(f"nhs:{nhs}")
    family = _family_keys(person.family_name)
    given = _given_keys(person.given_name)
    dob = person.date_of_birth
    if dob is not None:
        low, high = sorted((dob.day, dob.month))
        day_month = f"{low:02d}{high:02d}"
        keys.update(f"fy:{f}:{dob.year}" for f in family)
        keys.update(f"fd:{f}:{day_month}" for f in family)
        keys.update(f"gd:{g}:{day_month}" for g in given)
        postcode = normalise_postcode(person.postcode)
        if postcode is not None:
            keys.add(f"py:{postcode.replace(' ', '')}:{dob.year}")
    keys.update(f"fg:{f}:{g}" for f in family for g in given)
    return keys


def identity_keys(person: PersonRecord, upn: str | None = None) -> set[str]:
    """Exact keys, each "<kind>:<value>", that say two records are one person or share a
    home: the NHS number, the unique pupil number, the full name with the full date of
    birth, and the home (its house and flat numbers with the postcode, or with the street
    words where there is no postcode). Fuzzy matching is the register's; these are exact."""
    keys: set[str] = set()
    nhs = _nhs(person.nhs_number)
    if nhs is not None:
        keys.add(f"nhs:{nhs}")
    if upn and upn.strip():
        keys.add(f"upn:{upn.strip().upper()}")
    given, family = normalise_name(person.given_name), normalise_name(person.family_name)
    if person.date_of_birth is not None and given and family:
        keys.add(f"name_dob:{given}|{family}|{person.date_of_birth.isoformat()}")
    parts = _address_parts(person.address)
    postcode = normalise_postcode(person.postcode)
    if parts is not None and parts[0] and (postcode or parts[1]):
        numbers = " ".join(sorted(parts[0]))
        keys.add(f"address:{numbers}|{postcode.replace(' ', '') if postcode else parts[1]}")
    return keys


def clear_caches() -> None:
    """Forget memoised normalisations and name comparisons (for cold-start measurements)."""
    for cached in (
        _normalise_name,
        phonetic_key,
        _formal_names_near,
        _given_name_similarity,
        _family_name_similarity,
        _normalise_postcode,
        _normalise_address,
        _address_parts,
        _nhs_cached,
    ):
        cached.cache_clear()
