"""Top layer: the `mlsd` command line. Presents results; holds no product logic.

Owns: argument parsing, output formatting (JSON and human), exit codes.
Must not: be imported by any other package; import heavy libraries at module level (each
command imports what it needs when it runs, so `mlsd --help` stays instant).
"""
