"""Benchmarks run by hand (``.venv/bin/python -m bench.<name>``); results go to bench/RESULTS.md."""
