"""Per-node costs of architecture graphs (``ArchGraph.costs``) read off the networks.

The TG-NAS predictor's cost input needs them on spaces whose labels do not fix a node's size
(NB-101 vertex widths depend on the cell's shape, NATS-SSS and MobileNetV2 widths and
resolutions are not in the labels); summed over a graph they must give the network's
multiply-adds less the parts that are not nodes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zeronas.errors import ZeronasError
from zeronas.hardware import count_flops
from zeronas.hardware.measures import node_costs
from zeronas.spaces import get_space


def _total(net: nn.Module, shape: tuple[int, int, int], minus: list[nn.Module]) -> float:
    own = count_flops(net, shape)
    return own - sum(_module_flops(net, m, shape) for m in minus)


def _module_flops(net: nn.Module, module: nn.Module, shape: tuple[int, int, int]) -> float:
    name = next(n for n, m in net.named_modules() if m is module)
    return node_costs(net, shape, {name: 0}, 1)[0] * shape[1] * shape[2]


@pytest.mark.parametrize(("space_name", "dataset", "shape", "not_nodes"), [
    ("nb101", "cifar10", (3, 32, 32), ("stem", "classifier")),
    ("nats_sss", "cifar10", (3, 32, 32), ("classifier",)),
    ("mbv2", "imagenet", (3, 224, 224), ("classifier",)),
])
def test_graph_costs_add_up_to_the_network(space_name, dataset, shape, not_nodes):
    sp = get_space(space_name)
    for seed in range(3):
        arch = sp.sample(np.random.default_rng(seed))
        state = torch.random.get_rng_state()
        g = sp.to_graph(arch)
        assert torch.equal(state, torch.random.get_rng_state())  # no random numbers drawn
        assert g.costs is not None and len(g.costs) == len(g.ops)
        assert g.costs[0] == 0.0 and max(g.costs) > 0
        with torch.device("meta"):
            net = sp.network_for(arch, dataset)
        want = _total(net, shape, [getattr(net, n) for n in not_nodes])
        assert sum(g.costs) * shape[1] * shape[2] == pytest.approx(want, rel=1e-9)


def test_nb101_vertex_cost_by_hand():
    """One conv3x3 vertex between input and output: its 1x1 projection (128 -> 128 in stack
    1) and its 3x3 conv, over three stacks of three cells (widths 128/256/512, resolution
    halved per stack); the output vertex owns nothing (no input -> output edge)."""
    sp = get_space("nb101")
    arch = sp.from_str('{"matrix":[[0,1,0],[0,0,1],[0,0,0]],'
                       '"ops":["input","conv3x3-bn-relu","output"]}')
    g = sp.to_graph(arch)
    per_cell = []
    for stack, (c_in, c) in enumerate([(128, 128), (128, 256), (256, 512)]):
        area = 1 / 4 ** stack
        first = c_in * c + 9 * c * c
        rest = c * c + 9 * c * c
        per_cell.append(area * (first + 2 * rest))
    assert g.costs == pytest.approx((0.0, sum(per_cell), 0.0))


def test_node_costs_errors():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1))
    # 6x6 outputs; a bias adds one per output element (count_flops' convention)
    assert node_costs(net, (3, 8, 8), {"0": 0, "1": 1}, 2) == pytest.approx(
        ((3 * 4 * 9 + 4) * 36 / 64, (4 * 4 + 4) * 36 / 64))
    with pytest.raises(ZeronasError, match="no submodule 'x'"):
        node_costs(net, (3, 8, 8), {"x": 0}, 1)
    with pytest.raises(ZeronasError, match=r"outside 0\.\.0"):
        node_costs(net, (3, 8, 8), {"0": 1}, 1)
    with pytest.raises(ZeronasError, match=r"\(C, H, W\)"):
        node_costs(net, (8, 8), {"0": 0}, 1)
