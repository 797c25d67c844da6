"""FLOPs and parameter counts, checked by hand on tiny networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.hardware import count_flops, count_params


def test_conv_linear_flops_by_hand():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),  # 8*8 outputs * 4 * 3*3*3 = 6912
        nn.ReLU(),
        nn.AvgPool2d(2),  # not counted
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),  # 64*5 + 5 bias = 325
    )
    assert count_flops(net, (3, 8, 8)) == 6912 + 325


def test_conv_bias_and_groups():
    net = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=True)
    # per output: 2*3*3 MACs, plus 1 bias add; 4 channels * 5*5 outputs
    assert count_flops(net, (4, 5, 5)) == 4 * 25 * (18 + 1)


def test_flops_does_not_touch_model():
    net = nn.Linear(3, 2)
    before = net.weight.detach().clone()
    count_flops(net, (3,))
    assert net.weight.device.type == "cpu" and torch.equal(net.weight, before)


def test_params_shared_counted_once():
    lin = nn.Linear(3, 3)
    net = nn.Sequential(lin, lin)
    assert count_params(net) == 12
    lin.bias.requires_grad_(False)
    assert count_params(net, trainable_only=True) == 9


def test_bad_shape():
    with pytest.raises(ZeronasError, match="could not run"):
        count_flops(nn.Linear(3, 2), (5,))
    with pytest.raises(ZeronasError, match="positive"):
        count_flops(nn.Linear(3, 2), ())
