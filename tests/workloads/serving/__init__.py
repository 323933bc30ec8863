"""Serving tests (a package so their basenames do not collide with other test folders)."""
