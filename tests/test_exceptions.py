"""The exception tree: caller errors are ValueErrors, runtime and configuration errors not."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

import chargesol_notifications
from chargesol_notifications import exceptions

CALLER_ERRORS = [
    exceptions.UnknownChannelError,
    exceptions.TemplateNotFoundError,
    exceptions.TemplateChannelMismatchError,
    exceptions.InvalidContextTypeError,
    exceptions.InvalidMessageError,
    exceptions.InvalidContextError,
    exceptions.TemplateRenderError,
    exceptions.InvalidPhoneNumberError,
    exceptions.InvalidCallError,
]
RUNTIME_ERRORS = [
    exceptions.DeliveryError,
    exceptions.PermanentDeliveryError,
    exceptions.TransientDeliveryError,
    exceptions.NoAddressError,
    exceptions.MessageTooLongError,
    exceptions.WebhookValidationError,
    exceptions.MalformedWebhookError,
]


@pytest.mark.parametrize("error", CALLER_ERRORS)
def test_errors_in_the_callers_arguments_are_value_errors(error):
    assert issubclass(error, exceptions.NotificationError)
    assert issubclass(error, ValueError)


@pytest.mark.parametrize("error", RUNTIME_ERRORS)
def test_runtime_errors_are_not_value_errors(error):
    assert not issubclass(error, ValueError)
    assert not issubclass(error, exceptions.NotificationError)


@pytest.mark.parametrize(
    "error", [exceptions.WebhookValidationError, exceptions.MalformedWebhookError]
)
def test_webhook_errors_are_suspicious_operations(error):
    assert issubclass(error, SuspiciousOperation)


def test_configuration_errors_are_improperly_configured_and_in_no_runtime_family():
    assert issubclass(exceptions.ConfigurationError, ImproperlyConfigured)
    assert not issubclass(exceptions.ConfigurationError, exceptions.NotificationError)
    assert not issubclass(exceptions.ConfigurationError, exceptions.DeliveryError)


def package_modules():
    for info in pkgutil.walk_packages(
        chargesol_notifications.__path__, prefix="chargesol_notifications."
    ):
        if ".migrations." in info.name:
            continue
        yield importlib.import_module(info.name)


def test_every_exception_is_defined_in_exceptions_py_and_named_error():
    defined_elsewhere = [
        f"{module.__name__}.{name}"
        for module in package_modules()
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
        and module is not exceptions
    ]
    assert defined_elsewhere == []
    own = [
        name
        for name, value in vars(exceptions).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == exceptions.__name__
    ]
    assert own
    assert [name for name in own if not name.endswith("Error")] == []
