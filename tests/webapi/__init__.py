"""Tests for mailtwist.webapi and its store queries."""
