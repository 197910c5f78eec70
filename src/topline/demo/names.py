"""Embedded word lists the demo draws names, companies, places and texts from.

Every text is plain ASCII without tabs, newlines or backslashes, so it can be streamed to
PostgreSQL's COPY text format without escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Objects = NDArray[np.object_]

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
    "Mia", "Logan", "Amelia", "James", "Harper", "Aiden", "Evelyn", "Elijah", "Abigail",
    "Benjamin", "Emily", "Jacob", "Ella", "Michael", "Avery", "Daniel", "Sofia", "Henry",
    "Camila", "Jackson", "Aria", "Sebastian", "Scarlett", "Alexander", "Victoria", "Owen",
    "Madison", "Samuel", "Luna", "Matthew", "Grace", "Joseph", "Chloe", "Levi", "Penelope",
    "David", "Layla", "John", "Riley", "Wyatt", "Zoey", "Carter", "Nora", "Julian", "Lily",
    "Luke", "Eleanor", "Grayson", "Hannah", "Isaac", "Lillian", "Gabriel", "Addison",
    "Anthony", "Aubrey", "Dylan", "Ellie", "Leo", "Stella", "Lincoln", "Natalie", "Jaxon",
    "Zoe", "Asher", "Leah", "Christopher", "Hazel", "Josiah", "Violet", "Andrew", "Aurora",
    "Thomas", "Savannah", "Joshua", "Audrey", "Ezra", "Brooklyn", "Hudson", "Bella",
    "Charles", "Claire", "Caleb", "Skylar", "Isaiah", "Lucy", "Ryan", "Paisley", "Nathan",
    "Priya", "Arjun", "Mei", "Hiroshi", "Yuki", "Chen", "Fatima", "Omar", "Ingrid", "Lars",
    "Sven", "Greta", "Mateo", "Valentina", "Diego", "Lucia", "Kofi", "Amara", "Ravi", "Ananya",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
    "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz",
    "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim",
    "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett",
    "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel",
    "Myers", "Long", "Ross", "Foster", "Jimenez", "Schmidt", "Muller", "Larsen", "Novak",
    "Tanaka", "Sato", "Wang", "Zhang", "Singh", "Sharma", "Okafor", "Mensah", "Silva",
)  # fmt: skip

COMPANY_ROOTS = (
    "Acme", "Apex", "Arbor", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bright",
    "Cascade", "Cedar", "Cobalt", "Copper", "Crest", "Crystal", "Delta", "Eagle", "Echo",
    "Ember", "Evergreen", "Falcon", "Fern", "Summit", "Frontier", "Galaxy", "Granite",
    "Harbor", "Helix", "Horizon", "Indigo", "Iron", "Juniper", "Keystone", "Lake", "Lumen",
    "Maple", "Meridian", "Metro", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pacific",
    "Peak", "Pine", "Pioneer", "Prairie", "Quantum", "Quartz", "Radiant", "Red", "Ridge",
    "River", "Sage", "Sierra", "Silver", "Solar", "Spruce", "Sterling", "Stone", "Sun",
    "Terra", "Tidal", "Trail", "Union", "Vertex", "Vista", "Willow", "Zenith",
)  # fmt: skip

COMPANY_NOUNS = (
    "Analytics", "Bio", "Capital", "Cloud", "Data", "Dynamics", "Energy", "Foods",
    "Freight", "Health", "Industries", "Logistics", "Machines", "Media", "Medical",
    "Networks", "Pharma", "Retail", "Robotics", "Software", "Steel", "Systems", "Textiles",
    "Works", "Labs", "Motors", "Mobility", "Security", "Finance", "Learning", "Payments",
    "Insurance", "Apparel", "Brewing", "Chemicals", "Devices", "Foundry", "Genomics",
    "Hospitality", "Marine",
)  # fmt: skip

COMPANY_SUFFIXES = (
    "Inc", "LLC", "Group", "Co", "Corp", "Partners", "Holdings", "Ltd", "GmbH", "AG",
)  # fmt: skip

INDUSTRIES = (
    "Software", "Manufacturing", "Healthcare", "Financial services", "Retail", "Logistics",
    "Education", "Media", "Energy", "Professional services", "Telecommunications",
    "Hospitality",
)  # fmt: skip

# Region, its countries, and how much of the market it is.
REGIONS = ("NA East", "NA West", "NA Central", "EMEA", "APAC")
REGION_WEIGHTS = np.array([0.28, 0.22, 0.15, 0.23, 0.12])
REGION_COUNTRIES = (
    ("US", "CA"),
    ("US", "CA"),
    ("US", "MX"),
    ("GB", "DE", "FR", "NL", "SE", "ES"),
    ("AU", "SG", "JP", "IN"),
)

TITLES_BY_ROLE = (
    ("VP Operations", "Chief Financial Officer", "Chief Revenue Officer", "CEO", "COO"),
    ("Head of Sales Operations", "Director of IT", "Operations Manager", "Head of RevOps"),
    ("Finance Manager", "IT Manager", "Procurement Lead", "Senior Analyst"),
    ("Security Officer", "Legal Counsel", "Procurement Director"),
    ("Sales Manager", "Account Executive", "Analyst", "Team Lead"),
)
LEAD_TITLES = (
    "Marketing Manager", "Operations Manager", "Director of Sales", "Analyst", "VP Sales",
    "IT Manager", "Founder", "Head of Growth", "Office Manager", "CFO",
)  # fmt: skip

LEAD_SOURCES = (
    "Website", "Webinar", "Trade show", "Paid search", "Content download", "Referral",
    "Partner",
)  # fmt: skip
LEAD_SOURCE_WEIGHTS = np.array([0.30, 0.12, 0.08, 0.18, 0.17, 0.08, 0.07])
DISQUALIFICATION_REASONS = (
    "No response", "Not a fit", "No budget", "Student or job seeker", "Competitor",
    "Duplicate", "Bad timing",
)  # fmt: skip

DEAL_DESCRIPTORS = (
    ("Platform license", "Team plan", "Pilot", "Annual subscription", "Analytics suite"),
    ("Seat expansion", "Analytics add-on", "Premium support", "New department rollout"),
    ("Renewal",),
)
NEXT_STEPS = (
    ("Book discovery call", "Research the account", "Find the champion"),
    ("Confirm budget and timeline", "Qualify with the decision maker"),
    ("Run product demo", "Map the buying committee", "Technical deep dive"),
    ("Send proposal", "Review proposal with champion", "Share pricing options"),
    ("Send contract for signature", "Legal review", "Agree on final discount"),
)

CALL_SUBJECTS = ("Discovery call", "Follow-up call", "Check-in call", "Pricing call")
EMAIL_SUBJECTS = (
    "Following up", "Proposal attached", "Next steps", "Case study you asked for",
    "Meeting recap", "Quick question",
)  # fmt: skip
MEETING_SUBJECTS = ("Product demo", "Discovery meeting", "Executive briefing", "Negotiation")
NOTE_SUBJECTS = ("Call notes", "Meeting notes", "Account notes")
NOTE_BODIES = (
    "Champion is supportive; finance wants a lower first-year price.",
    "Decision expected after the board meeting.",
    "Competitor is in the deal; we lead on integrations.",
    "Security review requested before legal.",
    "Budget confirmed for this quarter.",
)
TASK_SUBJECTS = ("Send follow-up", "Prepare proposal", "Update mutual action plan")
CALL_OUTCOMES = ("Connected", "Left voicemail", "No answer")
MEETING_OUTCOMES = ("Held", "Rescheduled")
FORECAST_NOTES = (
    "Two commits depend on legal this week.",
    "Pulled one deal into commit after the verbal.",
    "Pushed a best-case deal to next quarter.",
    "On track; no changes.",
    "Budget freeze at one account, moved it out of commit.",
    None,
)


def pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> Objects:
    """`n` words drawn uniformly from `words`, as an object array."""
    return as_objects(words)[rng.integers(0, len(words), n)]


def as_objects(words: tuple[str | None, ...]) -> Objects:
    """`words` as a numpy object array, ready for fancy indexing."""
    result = np.empty(len(words), dtype=object)
    result[:] = words
    return result


def enum_values(members: Sequence[StrEnum]) -> Objects:
    """The stored values of enum members, indexable by member position."""
    return as_objects(tuple(member.value for member in members))


def countries(rng: np.random.Generator, region: NDArray[np.int64]) -> Objects:
    """A country code within each row's region."""
    result = np.empty(len(region), dtype=object)
    for r, codes in enumerate(REGION_COUNTRIES):
        rows = np.flatnonzero(region == r)
        result[rows] = pick(rng, codes, len(rows))
    return result


def phone_numbers(rng: np.random.Generator, n: int) -> Objects:
    """Fictional phone numbers from the 555-01xx range reserved for examples."""
    digits = rng.integers(0, 1_000_000, n)
    return as_objects(tuple(f"+1-555-01{d // 10_000:02d}-{d % 10_000:04d}" for d in digits))


def company_names(indices: NDArray[np.int64]) -> tuple[Objects, Objects]:
    """A distinct company name and its web domain for each distinct index.

    Names combine a root, a noun and a legal suffix; past that space a number is added so
    names stay distinct for a million companies.
    """
    root = indices % len(COMPANY_ROOTS)
    noun = (indices // len(COMPANY_ROOTS)) % len(COMPANY_NOUNS)
    space = len(COMPANY_ROOTS) * len(COMPANY_NOUNS)
    suffix = (indices // space) % len(COMPANY_SUFFIXES)
    round_ = indices // (space * len(COMPANY_SUFFIXES))
    numbers = tuple(f" {r + 1}" if r else "" for r in range(int(round_.max(initial=0)) + 1))
    names: Objects = (
        as_objects(COMPANY_ROOTS)[root]
        + " "
        + as_objects(COMPANY_NOUNS)[noun]
        + as_objects(numbers)[round_]
        + " "
        + as_objects(COMPANY_SUFFIXES)[suffix]
    )
    domains: Objects = (
        _slugs(COMPANY_ROOTS)[root]
        + _slugs(COMPANY_NOUNS)[noun]
        + _slugs(numbers)[round_]
        + _slugs(COMPANY_SUFFIXES)[suffix]
        + ".example"
    )
    return names, domains


def _slugs(words: tuple[str, ...]) -> Objects:
    """Lowercase words without spaces, for email addresses and domains."""
    return as_objects(tuple(word.lower().replace(" ", "") for word in words))
