"""Shared test configuration: Hypothesis profiles (pick one with HYPOTHESIS_PROFILE)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Verbosity, settings

settings.register_profile("dev", max_examples=100)
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("debug", max_examples=10, verbosity=Verbosity.verbose)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The real HTTP test server (tests/httpserver.py): ``http_server`` yields its base URL.
from .httpserver import http_server as http_server  # noqa: E402
