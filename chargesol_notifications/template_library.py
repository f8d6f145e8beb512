"""What notification templates may use: an explicit allow-list of tags and filters.

Staff edit notification templates in the admin, so the template language they get is a
deliberately smaller one than the project's. :mod:`~chargesol_notifications.rendering`
builds its engine with this module as the *only* builtin library, instead of Django's
``defaulttags``/``defaultfilters``/``loader_tags``:

* Tags are copied one by one from ``django.template.defaulttags``. A tag that a future
  Django adds is therefore unavailable until it is listed here, which is the point of an
  allow-list.
* Tags that read files or leak internals (``include``, ``extends``, ``ssi``, ``debug``)
  and those that make no sense in a plain-text message are registered as stubs that fail
  at compile time with a message saying why, so staff see a useful error on the field.
* ``{% load %}`` only reaches the libraries of :data:`LOADABLE_LIBRARIES`.
* Filters are copied one by one too (:data:`ALLOWED_FILTERS`). Those that parse or
  produce HTML (``urlize``, ``striptags``, ``truncatechars_html``, ``unordered_list``,
  ``linebreaks``, ...) are left out: a message is plain text, and these are the filters
  whose run time on hostile input Django has had to fix again and again. ``pprint`` is
  left out because it prints representations of objects.

Every filter a compiled template uses is then wrapped by
:mod:`~chargesol_notifications.render_budget`, which bounds the arguments that allocate
(``ljust``, ``rjust``, ``center``, ``stringformat``, ``floatformat``, ...) and the size of
every result.
"""

from __future__ import annotations

from collections.abc import Callable

from django.template import Library, defaultfilters, defaulttags
from django.template.base import Node, Parser, Token

from .exceptions import ForbiddenTemplateSyntaxError

register = Library()

#: Tags of ``django.template.defaulttags`` that notification templates may use.
ALLOWED_TAGS: tuple[str, ...] = (
    "comment",
    "cycle",
    "filter",
    "firstof",
    "for",
    "if",
    "ifchanged",
    "now",
    "regroup",
    "resetcycle",
    "spaceless",
    "templatetag",
    "verbatim",
    "widthratio",
    "with",
)

#: Filters of ``django.template.defaultfilters`` that notification templates may use.
ALLOWED_FILTERS: tuple[str, ...] = (
    "add",
    "addslashes",
    "capfirst",
    "center",
    "cut",
    "date",
    "default",
    "default_if_none",
    "dictsort",
    "dictsortreversed",
    "divisibleby",
    "escape",
    "filesizeformat",
    "first",
    "floatformat",
    "force_escape",
    "get_digit",
    "iriencode",
    "join",
    "last",
    "length",
    "linenumbers",
    "ljust",
    "lower",
    "make_list",
    "phone2numeric",
    "pluralize",
    "random",
    "rjust",
    "safe",
    "slice",
    "slugify",
    "stringformat",
    "time",
    "timesince",
    "timeuntil",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "wordwrap",
    "yesno",
)

#: Tags that are refused with an explanation instead of Django's generic "Invalid block
#: tag" message. Any other tag that is not allowed is refused by Django itself.
FORBIDDEN_TAGS: dict[str, str] = {
    "include": "it reads other template files",
    "extends": "it reads other template files",
    "block": "it only works together with {% extends %}",
    "ssi": "it reads files from the server's disk",
    "debug": "it prints the whole context and the server's loaded modules",
    "autoescape": "messages are plain text and are never HTML-escaped",
    "csrf_token": "messages are not web forms",
    "url": "a message needs absolute links; pass the full URL in the context instead",
    "querystring": "messages are not rendered for a web request",
}

#: ``{% load NAME %}`` -> (app that must be in INSTALLED_APPS or None, library module).
#: A library of an app that is not installed cannot be loaded, even if it is listed.
LOADABLE_LIBRARIES: dict[str, tuple[str | None, str]] = {
    "humanize": ("django.contrib.humanize", "django.contrib.humanize.templatetags.humanize"),
    "tz": (None, "django.templatetags.tz"),
}


def _refuse(tag_name: str, reason: str) -> Callable[[Parser, Token], Node]:
    def compile_refused(parser: Parser, token: Token) -> Node:
        raise ForbiddenTemplateSyntaxError(
            f"The {{% {tag_name} %}} tag is not available in notification templates: {reason}."
        )

    return compile_refused


def load(parser: Parser, token: Token) -> Node:
    """Django's ``{% load %}``, with a clearer refusal for libraries not on the list.

    Django's own tag already refuses names missing from ``parser.libraries`` (which the
    engine fills from :data:`LOADABLE_LIBRARIES` only); checking first lets the error
    say that the library is not *allowed*, rather than that it does not exist.
    """
    bits = token.contents.split()
    from_syntax = len(bits) >= 4 and bits[-2] == "from"
    for name in bits[-1:] if from_syntax else bits[1:]:
        if name not in parser.libraries:
            available = ", ".join(sorted(parser.libraries)) or "none"
            raise ForbiddenTemplateSyntaxError(
                f"{{% load {name} %}} is not available in notification templates "
                f"(libraries that can be loaded: {available})."
            )
    return defaulttags.load(parser, token)


for _name in ALLOWED_TAGS:
    register.tag(_name, defaulttags.register.tags[_name])
register.tag("load", load)
for _name, _reason in FORBIDDEN_TAGS.items():
    register.tag(_name, _refuse(_name, _reason))
for _name in ALLOWED_FILTERS:
    register.filters[_name] = defaultfilters.register.filters[_name]
