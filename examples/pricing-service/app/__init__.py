"""Pricing service: quotes for the shop's storefront."""

__version__ = "1.3.0"
