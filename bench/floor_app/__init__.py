"""The framework floor for bench/intake.py: a bare Django view that inserts one row."""
