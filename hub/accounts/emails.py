"""One form of an email address for storage, lookup, throttling and "once per address" rules.

An address is normalised once, at the boundary: surrounding space removed, Unicode NFKC
(compatibility forms such as full-width letters folded), then case-folded (`str.casefold`,
which folds more than `lower`), then NFKC again because folding can un-normalise. Accounts
store the normalised form, and every lookup and every counter keyed by an address uses it, so
`Victim@…`, `VICTIM@…` and a full-width `ｖｉｃｔｉｍ@…` are one address with one lockout,
and two spellings can never reach one account through two doors.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def looks_like_email(normalised: str) -> bool:
    """Still one `local@domain.tld` after normalising (folding can create an `@`)."""
    return bool(_SHAPE.match(normalised)) and len(normalised) <= 254


def email_digest(normalised: str) -> str:
    """A stable pseudonym of an address, for counters and records that must outlive it."""
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()
