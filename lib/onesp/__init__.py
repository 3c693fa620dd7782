"""onesp: OpenNebula storage drivers for StorPool."""

__version__ = "0.1.0"
