"""Tests for mailtwist.message."""
