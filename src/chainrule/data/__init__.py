"""chainrule.data (also ``chainrule.utils.data``): datasets, samplers and the DataLoader, with
PyTorch's names. Ready-made data sets are in ``chainrule.data.datasets`` (imported on use)."""

from chainrule.data.dataloader import DataLoader, default_collate, default_convert
from chainrule.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "default_collate",
           "default_convert", "random_split"]
