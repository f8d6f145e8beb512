"""Test doubles shipped with the app, so projects that use it never need ``mock.patch``.

:mod:`chargesol_notifications.testing.twilio` is a loopback stand-in of Twilio's REST API
that the real ``twilio`` client talks to over real HTTP.
"""
