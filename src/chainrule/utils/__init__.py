"""chainrule.utils: PyTorch's ``torch.utils`` place; ``chainrule.utils.data`` is chainrule.data."""

from chainrule.utils import data

__all__ = ["data"]
