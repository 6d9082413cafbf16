"""clv: customer lifetime value from order data to decisions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
