"""Reading a search term as a phone number, for the admin's exact-match searches.

Numbers are stored in E.164 (``+447700900102``) and indexed, so a search normalises what
staff type and matches it exactly; a ``LIKE '%…%'`` could not use the index. The call
log admin and the notification admin both search this way, through this one function.
"""

from __future__ import annotations

from ..exceptions import InvalidPhoneNumberError
from ..recipients import normalise_phone


def phone_search_terms(term: str) -> list[str]:
    """The E.164 number(s) that ``term`` may mean; ``[]`` when it is no phone number.

    ``07700 900102`` and ``+44 7700 900102`` are read with the ``DEFAULT_REGION``
    setting. Digits without a ``+`` are also read as an international number, since
    staff copy numbers such as ``447700900102`` from gateway dashboards; when both
    readings are possible numbers, both are returned and either may match.
    """
    term = term.strip()
    if not term:
        return []
    candidates = [term]
    if not term.startswith("+") and term[0].isdecimal():
        candidates.append(f"+{term}")
    found: list[str] = []
    for candidate in candidates:
        try:
            number = normalise_phone(candidate)
        except InvalidPhoneNumberError:
            continue
        if number not in found:
            found.append(number)
    return found
