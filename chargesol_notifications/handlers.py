"""Receivers that keep cached state in step with settings and data."""
