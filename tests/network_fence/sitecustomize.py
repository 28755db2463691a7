"""Processes started by the test suite import this first (its folder leads their PYTHONPATH):
they get the same network fence as the tests themselves."""

import network_fence

network_fence.install_from_environment()
