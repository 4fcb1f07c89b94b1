"""Probabilistic matching: how likely two organisations' records are the same person.

Pure. Used where no shared strong identifier decides (two different valid NHS numbers mean two
different people; the same NHS number means the same person: `strong_identifiers`).

The score is a Fellegi-Sunter log-likelihood ratio in bits: each compared field adds
log2(m/u), where m is how often the field agrees that way for records of the same person and
u how often it does by chance for two different people. A score of S says the evidence is 2^S
times likelier if the records are one person than if they are two. Fields missing on either
side add nothing. The weights below are set from typical UK record-linkage figures (m around
0.9-0.97; u from the frequency of a first name, a family name, a birth date, a postcode in a
population of a few hundred thousand) and rounded; they are configuration of the method, not
measurements of ours.

Two thresholds per place decide what happens: at or above `link`, link automatically; at or
above `review` (but below `link`), put the pair in a review queue for a person to decide;
below, do nothing. The defaults (link 15, review 6) are chosen so that name + date of birth
alone (14), or a twin whose first name is another or merely similar (at most 14.5), goes to
review, never to an automatic link.
"""

import contextlib
import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME_CACHE = 65_536  # names seen lately: matching a batch compares the same names many times
_PAIR_CACHE = 65_536  # pairs of values compared lately: a crowd's names pair up again and again
_RECORD_CACHE = 8_192  # records keyed lately: a batch asks for each record's keys several times
Agreement = Literal["exact", "close", "similar", "disagree", "missing"]
Decision = Literal["link", "review", "none"]
FieldName = Literal["given_name", "family_name", "date_of_birth", "postcode"]

WEIGHTS: Mapping[FieldName, Mapping[Agreement, float]] = {
    # "similar" given names (a typo, or only the first of several names agreeing) are no
    # evidence either way: Louis and Louise, Mary-Ann and Mary-Jane may be twins.
    "given_name": {"exact": 3.5, "close": 2.0, "similar": 0.0, "disagree": -3.0, "missing": 0.0},
    "family_name": {"exact": 4.5, "close": 2.5, "similar": 2.5, "disagree": -3.0, "missing": 0.0},
    "date_of_birth": {"exact": 6.0, "close": 3.0, "similar": 3.0, "disagree": -5.0, "missing": 0.0},
    "postcode": {"exact": 4.0, "close": 2.0, "similar": 2.0, "disagree": -2.0, "missing": 0.0},
}

# Common given-name forms and the full names they may stand for (Sam: Samuel or Samantha). A
# nickname agreement is "close", not "exact": Dave and David are probably the same name.
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonRecord:
    """What matching compares of one organisation's record of a person (already validated:
    it is built from registration events, so it is a plain dataclass, cheap by the thousand)."""

    org: str
    person_id: str
    nhs_number: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None
    place: str | None = None


class Thresholds(BaseModel):
    """Where a score links automatically, and where it goes to a person for review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: float = Field(default=15.0, description="at or above: link automatically")
    review: float = Field(default=6.0, description="at or above (below link): review queue")

    @model_validator(mode="after")
    def _review_below_link(self) -> "Thresholds":
        if self.review > self.link:
            raise ValueError("review must not be above link")
        return self


class MatchingConfig(BaseModel):
    """Thresholds for every place, with overrides for some (by place code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Thresholds = Thresholds()
    places: dict[str, Thresholds] = Field(default_factory=dict)

    def thresholds_for(self, place: str | None) -> Thresholds:
        """Return the thresholds of `place`, else the default ones."""
        return self.places.get(place or "", self.default)


@dataclass(frozen=True)
class FieldEvidence:
    """How one field compared, and what that added to the score."""

    field: FieldName
    agreement: Agreement
    weight: float


@dataclass(frozen=True)
class MatchScore:
    """The score of a pair of records and the evidence behind it, field by field."""

    total: float
    evidence: tuple[FieldEvidence, ...]

    def decision(self, thresholds: Thresholds) -> Decision:
        """Return what to do with the pair under `thresholds`."""
        if self.total >= thresholds.link:
            return "link"
        return "review" if self.total >= thresholds.review else "none"

    def agreed(self) -> list[FieldName]:
        """Return the fields that agreed, more or less (what a reviewer is shown first)."""
        return [e.field for e in self.evidence if e.agreement in ("exact", "close", "similar")]


StrongVerdict = Literal["same", "different", "unknown"]


def strong_identifiers(a: PersonRecord, b: PersonRecord) -> StrongVerdict:
    """Say what NHS numbers alone decide: same person, different people, or nothing."""
    if a.nhs_number and b.nhs_number:
        return "same" if a.nhs_number == b.nhs_number else "different"
    return "unknown"


def score(a: PersonRecord, b: PersonRecord) -> MatchScore:
    """Return the match score of two records (without regard to NHS numbers)."""
    return _score_of(
        compare_given_names(a.given_name, b.given_name),
        compare_family_names(a.family_name, b.family_name),
        compare_dates_of_birth(a.date_of_birth, b.date_of_birth),
        compare_postcodes(a.postcode, b.postcode),
    )


@functools.cache
def _score_of(
    given_name: Agreement, family_name: Agreement, date_of_birth: Agreement, postcode: Agreement
) -> MatchScore:
    """Return the score of one combination of agreements: there are at most 5^4 of them, so
    each is added up once, not once per pair (a score is immutable, so pairs share it)."""
    agreements: tuple[tuple[FieldName, Agreement], ...] = (
        ("given_name", given_name),
        ("family_name", family_name),
        ("date_of_birth", date_of_birth),
        ("postcode", postcode),
    )
    evidence = tuple(FieldEvidence(f, how, WEIGHTS[f][how]) for f, how in agreements)
    return MatchScore(round(sum(e.weight for e in evidence), 2), evidence)


@functools.lru_cache(maxsize=_NAME_CACHE)
def normalise_name(name: str) -> str:
    """Lower-case letters only: accents and punctuation gone, ß -> ss, Ø -> o, and so on.

    Letters of other scripts are kept as they are (Мария stays мария), so two names in
    Cyrillic or Arabic are compared, not both reduced to nothing.
    """
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_TRANSLITERATION))
    return "".join(c for c in folded if c.isalpha())


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_given_names(a: str | None, b: str | None) -> Agreement:
    """Exact when every name agrees; close for a nickname of the same first name; similar
    for a typo or only the first of several names agreeing (Mary-Ann, Mary-Jane)."""
    whole_a, whole_b = _words(a), _words(b)
    if not whole_a or not whole_b:
        return "missing"
    if whole_a == whole_b:
        return "exact"
    first_a, first_b = whole_a[0], whole_b[0]
    if first_a != first_b and _full_names(first_a) & _full_names(first_b):
        return "close"
    if first_a == first_b or _similar(first_a, first_b):
        return "similar"
    return "disagree"


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_family_names(a: str | None, b: str | None) -> Agreement:
    """Exact after normalising; close for a typo, the same sound (Smith, Smyth) or one part
    of a double-barrelled name."""
    whole_a, whole_b = normalise_name(a or ""), normalise_name(b or "")
    if not whole_a or not whole_b:
        return "missing"
    if whole_a == whole_b:
        return "exact"
    if (
        set(_words(a)) & set(_words(b))
        or _similar(whole_a, whole_b)
        or _sound_alike(whole_a, whole_b)
    ):
        return "close"
    return "disagree"


def _sound_alike(a: str, b: str) -> bool:
    """Soundex only knows the Latin alphabet: names in other scripts never sound alike here."""
    return a.isascii() and b.isascii() and soundex(a) == soundex(b)


def compare_dates_of_birth(a: date | None, b: date | None) -> Agreement:
    """Exact; close for day and month swapped, or one digit of the year mistyped."""
    if a is None or b is None:
        return "missing"
    if a == b:
        return "exact"
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return "close"
    if (a.month, a.day) == (b.month, b.day) and _one_digit_apart(a.year, b.year):
        return "close"
    return "disagree"


@functools.lru_cache(maxsize=_PAIR_CACHE)
def compare_postcodes(a: str | None, b: str | None) -> Agreement:
    """Exact; close for the same sector (BS5 6..) or one character mistyped."""
    if not a or not b:
        return "missing"
    pa, pb = _postcode(a), _postcode(b)
    if pa == pb:
        return "exact"
    if pa[:-2] == pb[:-2] or _edits_within_one(pa, pb):
        return "close"
    return "disagree"


def mistyped_dates(born: date) -> list[date]:
    """Return `born` and every date `compare_dates_of_birth` calls close to it."""
    dates = {born}
    if born.day <= 12:
        dates.add(date(born.year, born.day, born.month))
    year = str(born.year)
    for position in range(len(year)):
        for digit in "0123456789":
            other = int(year[:position] + digit + year[position + 1 :])
            if 1000 <= other <= 9999 and other != born.year:
                with contextlib.suppress(ValueError):  # 29 February in a year without it
                    dates.add(date(other, born.month, born.day))
    return sorted(dates)


@functools.lru_cache(maxsize=_RECORD_CACHE)
def blocking_keys(record: PersonRecord) -> frozenset[str]:
    """Return the keys under which candidates for `record` are looked up.

    Two records are compared only if they share a key, so matching a new record looks at a
    handful of candidates, not the whole population. The keys are chosen so that each tricky
    case above still shares one: the birth date (and its day/month swap), the family name's
    sound with the birth year, and the postcode with the given name's initial; and the NHS
    number, so that a registration claiming a known number under another name is compared.
    """
    keys: set[str] = set()
    if record.nhs_number:  # the same number under names that disagree: a conflict to review
        keys.add(f"nhs:{record.nhs_number}")
    born = record.date_of_birth
    if born is not None:
        keys.add(f"dob:{born.isoformat()}")
        if born.day <= 12 and born.day != born.month:
            keys.add(f"dob:{date(born.year, born.day, born.month).isoformat()}")
        if record.family_name:
            keys.add(f"name:{soundex(record.family_name)}:{born.year}")
    if record.postcode and record.given_name:
        initial = normalise_name(record.given_name)[:1]
        keys.add(f"pc:{_postcode(record.postcode)}:{initial}")
    return frozenset(keys)


@functools.lru_cache(maxsize=_NAME_CACHE)
def soundex(name: str) -> str:
    """Return the American Soundex code of a name (R163 for Robert and Rupert)."""
    letters = normalise_name(name).upper()
    if not letters:
        return ""
    codes = {c: str(d) for d, group in enumerate(_SOUNDEX_GROUPS, 1) for c in group}
    encoded, previous = letters[0], codes.get(letters[0], "")
    for letter in letters[1:]:
        code = codes.get(letter, "")
        if code and code != previous:
            encoded += code
        if letter not in "HW":
            previous = code
    return (encoded + "000")[:4]


_SOUNDEX_GROUPS = ("BFPV", "CGJKQSXZ", "DT", "L", "MN", "R")


def _full_names(name: str) -> frozenset[str]:
    return NICKNAMES.get(name, frozenset()) | {name}


@functools.lru_cache(maxsize=_NAME_CACHE)
def _words(name: str | None) -> tuple[str, ...]:
    words = (name or "").replace("-", " ").split()
    return tuple(w for w in (normalise_name(word) for word in words) if w)


def _postcode(text: str) -> str:
    return "".join(text.split()).upper()


def _one_digit_apart(a: int, b: int) -> bool:
    da, db = str(a), str(b)
    return len(da) == len(db) and sum(x != y for x, y in zip(da, db, strict=True)) == 1


def _similar(a: str, b: str) -> bool:
    """A typo: Jaro-Winkler similarity of at least 0.92 on names of four letters or more."""
    return min(len(a), len(b)) >= 4 and jaro_winkler(a, b) >= 0.92


def _edits_within_one(a: str, b: str) -> bool:
    """Whether one substitution, insertion, deletion or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        swapped = len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]]
        return len(diffs) <= 1 or (swapped and a[diffs[1]] == b[diffs[0]])
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def jaro_winkler(a: str, b: str) -> float:
    """Return the Jaro-Winkler similarity of two strings (1.0 identical, 0.0 nothing shared)."""
    if a == b:
        return 1.0
    window = max(len(a), len(b)) // 2 - 1
    taken = [False] * len(b)
    matched_a = []
    for i, char in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not taken[j] and b[j] == char:
                taken[j] = True
                matched_a.append(char)
                break
    if not matched_a:
        return 0.0
    matched_b = [b[j] for j in range(len(b)) if taken[j]]
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) / 2
    m = len(matched_a)
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)
