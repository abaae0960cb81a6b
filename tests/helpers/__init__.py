"""Plain helpers the tests share (fixtures live in conftest.py)."""
