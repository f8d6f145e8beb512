"""The call log changelist's search: by number, caller or context id, on indexes.

Django's ``search_fields`` would run ``callee_phone LIKE '%…%'`` OR-ed across a join to
the user table, which no index serves. Here each kind of term becomes its own indexed
condition: the number read as E.164 and matched exactly, the context id when the term is
a UUID, and the callers (looked up first, in a bounded query) matched by id.
"""

from __future__ import annotations

import operator
import uuid
from functools import reduce

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from ..arguments import UNSTORABLE_CHARACTERS
from ..models import CallLog
from .phone_search import phone_search_terms
from .search import user_search_fields

#: A term matching more callers than this is too vague to be a caller search.
MAX_CALLERS = 50


def search_call_logs(queryset: QuerySet[CallLog], term: str) -> QuerySet[CallLog]:
    """Call logs whose number, caller or context id matches ``term`` (a whole term:
    ``07700 900102`` is one number, not two words)."""
    term = term.strip()
    if not term:
        return queryset
    if UNSTORABLE_CHARACTERS.search(term):
        # No row holds a NUL, and PostgreSQL refuses one even as a parameter. The
        # changelist's search form refuses it first; an autocomplete request does not.
        return queryset.none()
    conditions = []
    phones = phone_search_terms(term)
    if phones:
        conditions.append(Q(callee_phone__in=phones))
    context_id = read_uuid(term)
    if context_id is not None:
        conditions.append(Q(context_id=context_id))
    callers = caller_ids(term)
    if callers:
        conditions.append(Q(caller__in=callers))
    if not conditions:
        return queryset.none()
    return queryset.filter(reduce(operator.or_, conditions))


def read_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def caller_ids(term: str) -> list[object]:
    """Users whose username or email starts with ``term`` (any case), at most
    MAX_CALLERS; a separate query, since MySQL takes no LIMIT in an IN subquery."""
    names = [field.split("__", 1)[1] for field in user_search_fields("caller")]
    if not names:
        return []
    match = reduce(operator.or_, (Q(**{f"{name}__istartswith": term}) for name in names))
    users = get_user_model()._default_manager.filter(match).order_by()
    return list(users.values_list("pk", flat=True)[:MAX_CALLERS])
