"""Exit statuses every command shares beyond 0, 1 and 2 (documented in `aifactory --help`, aifactory.cli)."""

# A check that could not be made (AWS or its stand-in unreachable, refusing, failing): no verdict, as against 1,
# a verdict of non-compliance.
EXIT_NOT_CHECKED = 4
