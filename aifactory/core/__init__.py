"""Shared by every layer: reading user files safely, where per-user state lives, output for people, the batch GC setting."""
