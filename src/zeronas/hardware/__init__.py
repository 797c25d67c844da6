"""Hardware measures: parameters, FLOPs (multiply-adds), and budgets."""

from zeronas.hardware.measures import count_flops, count_params, to_meta

__all__ = ["count_flops", "count_params", "to_meta"]
