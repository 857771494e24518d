"""Parley: SIP SIMPLE presence and instant messaging."""

__version__ = "0.1.0"
