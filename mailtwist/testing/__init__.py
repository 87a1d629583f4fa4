"""Fakes and fixtures mailtwist ships for its own tests and for its users' tests."""
