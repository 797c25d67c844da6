"""Ground truth, data loading and the evaluation protocol."""

from zeronas.bench.data import DataSpec, load_cifar10, make_batches, parse_data
from zeronas.bench.groundtruth import GroundTruth, load_ground_truth, load_nb201
from zeronas.bench.paths import data_dir

__all__ = [
    "DataSpec",
    "GroundTruth",
    "data_dir",
    "load_cifar10",
    "load_ground_truth",
    "load_nb201",
    "make_batches",
    "parse_data",
]
