"""Views that gateways call back: validate, normalise, record, signal."""
