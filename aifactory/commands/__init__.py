"""Subcommands of the `aifactory` command, one module each."""
