"""Test doubles shipped with the app, so projects that use it never need ``mock.patch``.

- :mod:`chargesol_notifications.testing.twilio`: a loopback stand-in of Twilio's REST API
  that the real ``twilio`` client talks to over real HTTP, in tests or, with ``python -m
  chargesol_notifications.testing.twilio``, beside ``runserver``;
- :mod:`chargesol_notifications.testing.outbox`: emptying the locmem backend's outbox
  between tests, for Django's test runner;
- :mod:`chargesol_notifications.testing.pytest_plugin`: the same for pytest, with the
  stand-in's fixtures. It is the only module here that imports pytest (the ``testing``
  extra); the others need nothing beyond the app's own dependencies.
"""
