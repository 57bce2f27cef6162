"""Search algorithms and the decode driver (files, stdin, datasets)."""
