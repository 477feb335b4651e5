"""Urban sound classification pipeline: dataset → audio → features → models → submission."""

__version__ = "0.1.0"
