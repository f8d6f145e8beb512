"""Model objects from rows already read, built as ``Model.from_db()`` builds them.

``Model.__init__`` handles keyword arguments, deferred fields, foreign-key caches and the
``pre_init``/``post_init`` signals, and for a full row of plain fields only stores each
value in the instance's ``__dict__``. Delivery loads 500 objects per wave of 250 (each
notification and its recipient), where that handling cost more than reading the rows.
Where it would do nothing more (:func:`loads_plainly`), the state and the values are
set directly, as Django's unpickling does; otherwise ``from_db()`` builds the object, so
a project's ``post_init`` receiver, or a field whose attribute does more on assignment,
sees every object as always.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import models
from django.db.models import F
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from .pg_arrays import AnyOf

#: Field attributes whose assignment to a new instance only stores the value.
PLAIN_ATTRIBUTES = (DeferredAttribute, ForeignKeyDeferredAttribute)

Builder = Callable[[Sequence[Any]], models.Model]


@functools.cache
def attnames(model: type[models.Model]) -> tuple[str, ...]:
    """The attribute names of ``model``'s concrete fields, in the order ``__init__`` and
    ``from_db()`` take their values."""
    return tuple(field.attname for field in model._meta.concrete_fields)


def loads_plainly(model: type[models.Model]) -> bool:
    """Whether ``model.from_db()`` of a full row does nothing but set ``_state`` and store
    each value in the instance's ``__dict__``: ``from_db`` is Django's own and
    :func:`init_only_stores`. Asked per load: a receiver can be connected at any time."""
    if model.from_db.__func__ is not models.Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    return init_only_stores(model)


def init_only_stores(model: type[models.Model]) -> bool:
    """Whether ``model(*values)`` of a full row only sets ``_state`` and stores each value
    in the instance's ``__dict__``: no receiver of ``pre_init`` or ``post_init`` for
    ``model``, and no field whose attribute does more on assignment than a foreign
    key's id (which forgets a cached object; a new instance has none)."""
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        return False
    return all(
        type(inspect.getattr_static(model, name, None)) in PLAIN_ATTRIBUTES
        for name in attnames(model)
    )


def builder(model: type[models.Model], alias: str) -> Builder:
    """A function from a full row of ``model`` (values in :func:`attnames` order, as the
    database's converters left them) to the loaded object, saved on ``alias``."""
    names = attnames(model)
    if not loads_plainly(model):
        return functools.partial(model.from_db, alias, names)

    def build(values: Sequence[Any]) -> models.Model:
        instance = without_init(model, names, values)
        instance._state.adding = False
        instance._state.db = alias
        return instance

    return build


def without_init(
    model: type[models.Model], names: Sequence[str], values: Sequence[Any]
) -> models.Model:
    """``model(*values)`` (an unsaved object) without ``__init__``, for a model that
    :func:`init_only_stores`: a fresh state and the values, set directly, as Django's
    unpickling does. ``names``: :func:`attnames` of ``model``."""
    instance = model.__new__(model)
    instance._state = ModelState()
    instance.__dict__.update(zip(names, values, strict=True))
    return instance


def load_by_pk(
    model: type[models.Model], alias: str, pks: Iterable[Any]
) -> dict[Any, models.Model]:
    """The rows of ``model`` with primary keys ``pks``, loaded, by primary key: one query
    through the base manager (as a foreign key's access reads its object)."""
    wanted = set(pks)
    if not wanted:
        return {}
    build = builder(model, alias)
    rows = (
        model._base_manager.using(alias)
        .filter(AnyOf(F("pk"), wanted))
        .order_by()
        .values_list(*attnames(model))
    )
    loaded = (build(row) for row in rows)
    return {instance.pk: instance for instance in loaded}
