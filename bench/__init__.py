"""Benchmarks: what planning, the inventory and bring-up cost as the factory grows (`make bench`)."""
