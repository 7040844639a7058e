"""The ``mllmshift`` command line: one module per verb under this package."""
