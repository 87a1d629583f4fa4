"""Tests for mailtwist.dsn."""
