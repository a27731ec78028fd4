"""Repository-level pytest configuration (doctest collection over hstrat/)."""

# Importing the package's __main__ would run the command line.
collect_ignore = ["hstrat/__main__.py"]
