"""Fault suites: several delivering processes, killed workers, a storm of gateway errors.

Marked ``faults``, left out of the default run; ``pytest -m faults`` on a database server.
"""
