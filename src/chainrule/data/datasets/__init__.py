"""Data sets: the embedded UCI digits (more arrive with the data issue)."""

from chainrule.data.datasets.digits import ATTRIBUTION, load_digits

__all__ = ["ATTRIBUTION", "load_digits"]
