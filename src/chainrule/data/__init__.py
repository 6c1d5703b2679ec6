"""Data: data sets (Dataset, DataLoader and friends arrive with the data issue)."""
