"""How two values of one field compare: the comparison level each pair of values falls in.

Pure. Each field has an ordered list of levels, from the strongest agreement to `disagree`
(and `missing` when either side has no value); a pair falls in the first level whose test
it passes. The levels are graded the way record-linkage errors happen: a typist's slip
(one letter, one digit, two neighbours swapped), a name written as it sounds, a nickname,
an initial, given and family names written the wrong way round, a day and month swapped,
a street written short (Rd) or a neighbour's house on it.
What each level is worth is not decided here but by the model (`model.py`), learnt from a
place's own records (`training.py`).

String similarity is rapidfuzz's (Jaro-Winkler, optimal string alignment): fast, and
maintained elsewhere.
"""

import functools
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Literal

from rapidfuzz.distance import OSA, JaroWinkler

_NAME_CACHE = 65_536  # names seen lately: matching a batch compares the same names many times
_PAIR_CACHE = 65_536  # pairs of values compared lately: a crowd's names pair up again and again

FieldName = Literal["given_name", "family_name", "date_of_birth", "postcode", "address"]
FIELDS: tuple[FieldName, ...] = (
    "given_name", "family_name", "date_of_birth", "postcode", "address",
)  # fmt: skip
Level = Literal[
    "exact",
    "swapped",  # given and family names written the wrong way round
    "crossed",  # the family name written as the other record's given name (the other lost)
    "nickname",  # Dave and David
    "initial",  # J and John
    "typo",  # one slip: Jaro-Winkler >= 0.92 (names), one edit (postcodes), one digit (dates)
    "variant",  # another form of one name, as twins are given: Louis, Louise; Mary-Ann, Mary-Jane
    "first_name",  # one record has the first of the other's names only: John, John Paul
    "part",  # one part of a double-barrelled family name agrees
    "sound",  # the same Soundex code: Smith and Smyth
    "similar",  # Jaro-Winkler >= 0.8: more than chance, less than a slip
    "day_month_swapped",
    "year_month",  # the same year and month, another day
    "year",  # the same year only
    "sector",  # the same postcode sector (BS5 6..)
    "district",  # the same postcode district (BS5)
    "street",  # the same street, another house number (or none): a neighbour, or a flat
    "disagree",
    "missing",
]
LEVELS: Mapping[FieldName, tuple[Level, ...]] = {
    "given_name": (
        "exact", "swapped", "nickname", "initial", "typo", "variant", "first_name", "similar",
        "disagree", "missing",
    ),
    "family_name": (
        "exact", "swapped", "typo", "part", "sound", "crossed", "similar", "disagree", "missing",
    ),
    "date_of_birth": (
        "exact", "day_month_swapped", "typo", "year_month", "year", "disagree", "missing",
    ),
    "postcode": ("exact", "typo", "sector", "district", "disagree", "missing"),
    "address": ("exact", "typo", "street", "similar", "disagree", "missing"),
}  # fmt: skip
NO_EVIDENCE: frozenset[Level] = frozenset({"disagree", "missing"})
TYPO_SIMILARITY = 0.92
SIMILAR_SIMILARITY = 0.8

# Common given-name forms and the full names they may stand for (Sam: Samuel or Samantha).
_FULL_NAMES: Mapping[str, tuple[str, ...]] = {
    "david": ("dave", "davey", "davy", "dai"),
    "robert": ("rob", "robbie", "bob", "bobby", "bert"),
    "william": ("will", "bill", "billy", "liam", "willie"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "margaret": ("maggie", "meg", "peggy", "marge", "maisie"),
    "katherine": ("kate", "katie", "kathy", "kath", "kat", "catherine", "kathryn"),
    "james": ("jim", "jimmy", "jamie"),
    "john": ("jack", "johnny", "jon"),
    "jonathan": ("jon", "jonny"),
    "michael": ("mike", "mick", "mikey"),
    "richard": ("rich", "rick", "ricky", "dick"),
    "thomas": ("tom", "tommy"),
    "joseph": ("joe", "joey"),
    "christopher": ("chris", "kit"),
    "daniel": ("dan", "danny"),
    "matthew": ("matt",),
    "anthony": ("tony",),
    "andrew": ("andy", "drew"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "alexander": ("alex", "sandy", "alec"),
    "susan": ("sue", "susie"),
    "rebecca": ("becky", "becca"),
    "jennifer": ("jen", "jenny"),
    "patricia": ("pat", "patty", "trish"),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "victoria": ("vicky", "tori"),
    "mohammed": ("mohammad", "muhammad", "mohamed", "mohamad"),
    "aleksandra": ("ola", "olek", "alexandra"),
}
NICKNAMES: Mapping[str, frozenset[str]] = {
    nickname: frozenset(full for full, forms in _FULL_NAMES.items() if nickname in forms)
    for nickname in {form for forms in _FULL_NAMES.values() for form in forms}
}

# Letters NFKD does not take apart into a base letter and an accent.
_TRANSLITERATION = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}
    | {"\u0131": "i"}  # dotless i
)
_FEMININE_ENDINGS = ("a", "e", "ette", "elle", "ine", "ina", "ia")
# How streets are written short: each word of an address line is compared written out.
_STREET_WORDS: Mapping[str, str] = {
    "rd": "road", "st": "street", "str": "street", "ave": "avenue", "av": "avenue",
    "ln": "lane", "dr": "drive", "cl": "close", "ct": "court", "crt": "court", "pl": "place",
    "cres": "crescent", "cr": "crescent", "gdns": "gardens", "gdn": "garden", "sq": "square",
    "tce": "terrace", "terr": "terrace", "gr": "grove", "gro": "grove", "pk": "park",
    "hse": "house", "ho": "house", "flt": "flat", "apt": "flat", "apartment": "flat",
    "wy": "way", "hl": "hill", "mt": "mount", "cott": "cottage", "cotts": "cottages",
    "bldgs": "buildings", "est": "estate", "n": "north", "s": "south", "e": "east",
    "w": "west", "upr": "upper", "lwr": "lower",
}  # fmt: skip
_APOSTROPHES = frozenset("'\u2019\u02bc`")  # within a name: O'Brien (typed or typeset)
# Words naming a dwelling within a building (written out: apt -> flat): with its number
_DWELLING_WORDS = frozenset({"flat", "unit", "room", "floor", "maisonette", "basement"})
_SOUNDEX_GROUPS = ("BFPV", "CGJKQSXZ", "DT", "L", "MN", "R")
_SOUNDEX_CODES = {c: str(d) for d, group in enumerate(_SOUNDEX_GROUPS, 1) for c in group}


@functools.lru_cache(maxsize=_NAME_CACHE)
def normalise_name(name: str) -> str:
    """Lower-case letters only: accents and punctuation gone, ß -> ss, Ø -> o, and so on.

    Letters of other scripts are kept as they are (Мария stays мария), so two names in
    Cyrillic or Arabic are compared, not both reduced to nothing.
    """
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_TRANSLITERATION))
    return "".join(c for c in folded if c.isalpha())


@functools.lru_cache(maxsize=_NAME_CACHE)
def name_words(name: str | None) -> tuple[str, ...]:
    """Return the normalised words of a name: anything but a letter or an apostrophe parts
    them (spaces, hyphens and the dashes a word processor puts for them, the dots of J.R.,
    slashes), so Mary-Ann and Mary\u2013Ann (an en dash) are one name, and O'Brien one word."""
    parted = "".join(
        c if c.isalpha() or unicodedata.combining(c) or c in _APOSTROPHES else " "
        for c in name or ""
    )
    return tuple(w for w in (normalise_name(word) for word in parted.split()) if w)


@functools.lru_cache(maxsize=_NAME_CACHE)
def initials_only(name: str | None) -> bool:
    """Whether a given name is written as initials only (J; J. R.)."""
    words = name_words(name)
    return bool(words) and all(len(word) == 1 for word in words)


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_given_names(a: str | None, b: str | None) -> Level:
    """Exact when every name agrees; then the first name only (John, John Paul), a variant
    (Mary-Ann, Mary-Jane; Louis, Louise: letters added at the end), a nickname, an initial,
    a slip, a similar name."""
    words_a, words_b = name_words(a), name_words(b)
    if not words_a or not words_b:
        return "missing"
    if words_a == words_b:
        return "exact"
    first_a, first_b = words_a[0], words_b[0]
    if first_a == first_b:  # John and John Paul; Mary-Ann and Mary-Jane are two names
        return "variant" if min(len(words_a), len(words_b)) > 1 else "first_name"
    return _compare_first_names(first_a, first_b)


def _compare_first_names(first_a: str, first_b: str) -> Level:
    """Two first names that differ: a nickname, an initial, a variant, a slip, similar."""
    if _full_names(first_a) & _full_names(first_b):
        return "nickname"
    if min(len(first_a), len(first_b)) == 1:
        return "initial" if first_a[0] == first_b[0] else "disagree"
    if _gendered_forms(first_a, first_b):
        return "variant"
    similarity = jaro_winkler(first_a, first_b)
    if similarity >= TYPO_SIMILARITY or _one_edit(first_a, first_b):
        return "typo"
    return "similar" if similarity >= SIMILAR_SIMILARITY else "disagree"


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_family_names(a: str | None, b: str | None) -> Level:
    """Exact after normalising; then a slip, one part of a double-barrelled name, the same
    sound (Smith, Smyth), a similar name."""
    whole_a, whole_b = normalise_name(a or ""), normalise_name(b or "")
    if not whole_a or not whole_b:
        return "missing"
    if whole_a == whole_b:
        return "exact"
    similarity = jaro_winkler(whole_a, whole_b)
    if similarity >= TYPO_SIMILARITY or _one_edit(whole_a, whole_b):
        return "typo"
    if set(name_words(a)) & set(name_words(b)):
        return "part"
    if _sound_alike(whole_a, whole_b):
        return "sound"
    return "similar" if similarity >= SIMILAR_SIMILARITY else "disagree"


def given_name_key(name: str | None) -> str:
    """A given name as an exact agreement compares it (its words, normalised): how its
    frequency among a place's records is looked up."""
    return " ".join(name_words(name))


def family_name_key(name: str | None) -> str:
    """A family name as an exact agreement compares it (normalised, one word)."""
    return normalise_name(name or "")


def names_swapped(
    given_a: str | None, family_a: str | None, given_b: str | None, family_b: str | None
) -> bool:
    """Whether one record's given name is the other's family name and the other way round
    (each exactly, or but for a slip)."""
    if not (given_a and family_a and given_b and family_b):
        return False
    return _same_or_slip(given_a, family_b) and _same_or_slip(family_a, given_b)


def names_crossed(
    given_a: str | None, family_a: str | None, given_b: str | None, family_b: str | None
) -> bool:
    """Whether one record's family name is the other's given name (exactly, or but for a
    slip), as when names were swapped and one of them then lost or replaced."""
    return bool(
        (family_a and given_b and _same_or_slip(family_a, given_b))
        or (given_a and family_b and _same_or_slip(given_a, family_b))
    )


def compare_dates_of_birth(a: date | None, b: date | None) -> Level:
    """Exact; day and month swapped; one digit mistyped or two neighbours swapped; the same
    year and month; the same year."""
    if a is None or b is None:
        return "missing"
    if a == b:
        return "exact"
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return "day_month_swapped"
    if _one_digit_slip(a, b):
        return "typo"
    if (a.year, a.month) == (b.year, b.month):
        return "year_month"
    return "year" if a.year == b.year else "disagree"


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_postcodes(a: str | None, b: str | None) -> Level:
    """Exact; one character mistyped (or two swapped); the same sector (BS5 6..); the same
    district (BS5)."""
    if not a or not b:
        return "missing"
    pa, pb = postcode_key(a), postcode_key(b)
    if pa == pb:
        return "exact"
    if OSA.distance(pa, pb) <= 1:
        return "typo"
    if len(pa) > 2 and pa[:-2] == pb[:-2]:
        return "sector"
    if len(pa) > 4 and pa[:-3] == pb[:-3]:
        return "district"
    return "disagree"


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_addresses(a: str | None, b: str | None) -> Level:
    """Exact (after writing out short forms: Rd, St, Gdns); the same house but for a slip (a
    street's letter, a space, two of a house number's digits swapped or one added); the
    same street, another house; a similar street. A line without a street (a house number
    alone) says too little: missing."""
    words_a, numbers_a, street_a = _address_parts(a)
    words_b, numbers_b, street_b = _address_parts(b)
    if not street_a or not street_b:
        return "missing"
    if words_a == words_b:
        return "exact"
    same_street = street_a == street_b
    if (same_street or _slip(street_a, street_b)) and (
        numbers_a == numbers_b or _number_slip(numbers_a, numbers_b)
    ):
        return "typo"
    if same_street:
        return "street"
    return "similar" if jaro_winkler(street_a, street_b) >= SIMILAR_SIMILARITY else "disagree"


@functools.lru_cache(maxsize=_NAME_CACHE)
def address_words(line: str | None) -> tuple[str, ...]:
    """Return the words of an address line, lower case, without accents or punctuation,
    short forms written out ("12a Mill Rd." -> 12a, mill, road; "Flat 3, 5 High St" ->
    flat, 3, 5, high, street)."""
    folded = unicodedata.normalize("NFKD", (line or "").casefold().translate(_TRANSLITERATION))
    kept = "".join(c if c.isalnum() else " " for c in folded if not unicodedata.combining(c))
    return tuple(_STREET_WORDS.get(word, word) for word in kept.split())


def address_key(line: str) -> str:
    """An address line as compared: its words (`address_words`), one space apart."""
    return " ".join(address_words(line))


@functools.lru_cache(maxsize=_NAME_CACHE)
def _address_parts(line: str | None) -> tuple[tuple[str, ...], str, str]:
    """An address line's words; its house and flat numbers (the words holding a digit, and
    the words naming a flat), one space apart; and the other words run together, its
    street (a space slipped in or left out does not make another street: Carroll Street,
    Carrollstreet)."""
    words = address_words(line)
    numbers = [
        w for w in words if any(c.isdigit() for c in w) or w in _DWELLING_WORDS
    ]  # "flat 3" is a dwelling on the street, not part of its name
    return words, " ".join(numbers), "".join(w for w in words if w not in numbers)


def _number_slip(a: str, b: str) -> bool:
    """Whether two house numbers differ by a slip: two digits swapped (20, 02) or one
    added (14, 147). One digit for another is not (12 and 14 are neighbours)."""
    if not a or not b or a == b:
        return a == b
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) == len(longer):
        return sorted(a) == sorted(b) and OSA.distance(a, b) == 1
    return len(longer) == len(shorter) + 1 and OSA.distance(a, b) == 1


def _slip(a: str, b: str) -> bool:
    """Whether two values differ by a typist's slip: one edit (two neighbours swapped
    count as one), or Jaro-Winkler >= 0.92 for longer ones."""
    if not a or not b:
        return False
    return OSA.distance(a, b) <= 1 or (
        min(len(a), len(b)) >= 6 and jaro_winkler(a, b) >= TYPO_SIMILARITY
    )


def _one_digit_slip(a: date, b: date) -> bool:
    """Whether the dates' digits (YYYYMMDD) are one edit apart (a digit changed, or two
    neighbours swapped). Year, month and day all differing is three digits or more: no
    slip, and most pairs of dates are so; the digits are compared only otherwise."""
    if (
        a.year != b.year
        and a.month != b.month
        and a.day != b.day
        and a.year >= 1000  # four-digit years: both dates are eight digits
        and b.year >= 1000
    ):
        return False
    return OSA.distance(_digits(a), _digits(b)) <= 1


@functools.lru_cache(maxsize=_NAME_CACHE)
def _digits(born: date) -> str:
    return born.strftime("%Y%m%d")


def mistyped_dates(born: date) -> list[date]:
    """Return `born` and the dates a typist could have meant: the day and month swapped, each
    date one digit away, and two neighbouring digits swapped (1962 for 1926): every date
    `compare_dates_of_birth` finds a slip away."""
    dates = {born}
    if born.day <= 12:
        dates.add(date(born.year, born.day, born.month))
    digits = born.strftime("%Y%m%d")
    others = [
        digits[:position] + digit + digits[position + 1 :]
        for position in range(len(digits))
        for digit in "0123456789"
    ] + [
        digits[:position] + digits[position + 1] + digits[position] + digits[position + 2 :]
        for position in range(len(digits) - 1)
    ]
    dates.update(moved for other in others if (moved := _date_of(other)) is not None)
    return sorted(dates)


@functools.lru_cache(maxsize=_NAME_CACHE)
def soundex(name: str) -> str:
    """Return the American Soundex code of a name (R163 for Robert and Rupert)."""
    letters = normalise_name(name).upper()
    if not letters:
        return ""
    encoded, previous = letters[0], _SOUNDEX_CODES.get(letters[0], "")
    for letter in letters[1:]:
        code = _SOUNDEX_CODES.get(letter, "")
        if code and code != previous:
            encoded += code
        if letter not in "HW":
            previous = code
    return (encoded + "000")[:4]


@functools.lru_cache(maxsize=_NAME_CACHE)
def postcode_key(text: str) -> str:
    """A postcode without spaces, upper case."""
    return "".join(text.split()).upper()


def jaro_winkler(a: str, b: str) -> float:
    """Return the Jaro-Winkler similarity of two strings (1.0 identical, 0.0 nothing shared)."""
    return float(JaroWinkler.similarity(a, b))


def _gendered_forms(a: str, b: str) -> bool:
    """Whether one name is the other with a feminine ending added: Louis and Louise, Paul
    and Paula, Daniel and Danielle, Joseph and Josephine (twins are named so; a letter
    dropped at the end, Jac for Jack, is a slip)."""
    shorter, longer = sorted((a, b), key=len)
    added = longer[len(shorter) :]
    return longer.startswith(shorter) and 0 < len(added) <= 4 and longer.endswith(_FEMININE_ENDINGS)


def _one_edit(a: str, b: str) -> bool:
    """One letter changed, added, dropped, or two neighbours swapped, in a name of three
    letters or more (Sma for Sam; in shorter ones, one letter is another name: Al, Ed)."""
    return min(len(a), len(b)) >= 3 and OSA.distance(a, b) <= 1


def _same_or_slip(a: str, b: str) -> bool:
    na, nb = normalise_name(a), normalise_name(b)
    return bool(na) and (na == nb or jaro_winkler(na, nb) >= TYPO_SIMILARITY)


def _sound_alike(a: str, b: str) -> bool:
    """Soundex only knows the Latin alphabet: names in other scripts never sound alike here."""
    return a.isascii() and b.isascii() and soundex(a) == soundex(b)


def _full_names(name: str) -> frozenset[str]:
    return NICKNAMES.get(name, frozenset()) | {name}


def _date_of(digits: str) -> date | None:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return born if born.year >= 1000 else None
