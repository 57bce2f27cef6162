"""Command-line mains: flag parsing and nothing else."""
