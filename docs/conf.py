"""Sphinx configuration of the chargesol-notifications documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chargesol_notifications import __version__

project = "chargesol-notifications"
author = "ChargeSol engineering"
copyright = "ChargeSol"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = []
exclude_patterns = ["_build"]
# ``code`` is written for Python identifiers and values throughout.
default_role = "code"
highlight_language = "python"

html_theme = "furo"
html_title = f"chargesol-notifications {release}"
