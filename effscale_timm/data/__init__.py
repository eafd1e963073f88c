"""Datasets for effscale: real sources, prepared uint8 arrays with checksums, device-resident batches."""
from .prepared import load_prepared, prepare, verify
from .sources import SOURCES, DatasetError

__all__ = ['DatasetError', 'SOURCES', 'load_prepared', 'prepare', 'verify']
