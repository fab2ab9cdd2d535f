"""Consumes order events from the checkout service and books loyalty points."""

__version__ = "1.4.0"
