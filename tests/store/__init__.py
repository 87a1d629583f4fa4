"""Tests for mailtwist."""
