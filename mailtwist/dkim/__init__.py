"""DKIM: signing with parent-domain key lookup, verifying, and key generation."""
