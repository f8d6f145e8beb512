"""Sphinx configuration of the chargesol-notifications documentation."""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

from chargesol_notifications import __version__

# The API reference (reference.rst) imports the app's modules with autodoc, so Django
# must be set up. A minimal configuration of its own rather than tests.settings: the
# docs build installs the "docs" extra only, without the test suite's dependencies.
if not settings.configured:
    apps = ["django.contrib.auth", "django.contrib.contenttypes", "chargesol_notifications"]
    if importlib.util.find_spec("django.tasks") is None:  # Django 5.2: the backport
        apps.append("django_tasks")
    settings.configure(
        INSTALLED_APPS=apps,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
    )
    django.setup()

project = "chargesol-notifications"
author = "ChargeSol engineering"
copyright = "ChargeSol"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
# ``code`` is written for Python identifiers and values throughout.
default_role = "code"
highlight_language = "python"

# Signatures as written, members in source order, type hints in the signature.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Optional extras (the FCM backend and stand-in, the pytest plugin) are documented from
# their source even when the docs environment does not install them.
autodoc_mock_imports = [
    name
    for name in ("firebase_admin", "google", "cryptography", "pytest", "pytest_django")
    if importlib.util.find_spec(name) is None
]

html_theme = "furo"
html_title = f"chargesol-notifications {release}"
