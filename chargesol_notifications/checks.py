"""System checks (``manage.py check``); filled in by the settings and backend modules."""
