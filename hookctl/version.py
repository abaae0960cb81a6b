"""The one place the version is written: pyproject reads it ([tool.setuptools.dynamic]), and
`hookctl --version` shows the installed distribution's, which is this one once built."""

__version__ = "0.2.0"
