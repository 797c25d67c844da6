"""Out of memory: the runner reruns a proxy on the same images in micro-batches, and the
value is labelled as the value at the micro-batch size (never as the requested protocol's)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from zeronas.proxies import ProxyContext
from zeronas.proxies.base import Batch
from zeronas.proxies.runner import ProxyFailed, ProxyWarning, score_model, split_batch

OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1048576 bytes."


class Limited(nn.Module):
    """A small conv net that fails like the CPU allocator on more than ``limit`` images."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise RuntimeError(OOM)
        return self.body(x)


def _net(limit: int) -> Limited:
    torch.manual_seed(0)
    return Limited(limit)


def _batch(size: int, batches: int) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(tuple((torch.randn(size, 3, 8, 8, generator=g),
                        torch.randint(0, 5, (size,), generator=g)) for _ in range(batches)))


CTX = ProxyContext(input_shape=(3, 8, 8), num_classes=5)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("proxy", "limit", "micro"), [
    ("grad_norm", 4, 4), ("snip", 3, 2), ("zico", 4, 4), ("naswot", 5, 4), ("fisher", 1, 1)])
def test_split_value_is_the_value_at_the_micro_batch(proxy, limit, micro):
    batch = _batch(16, 2)
    model = _net(limit)
    before = _state(model)
    with pytest.warns(ProxyWarning, match=rf"batch size 16 .* micro-batches of {micro}\b"):
        got = score_model(model, [proxy], batch, CTX)
    assert got.micro_batch == {proxy: micro}
    # the same proxy on the same micro-batches of a network that fits them: the same number
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProxyWarning)
        direct = score_model(_net(10**6), [proxy], split_batch(batch, micro), CTX)
    assert direct.micro_batch == {}
    assert math.isclose(got[proxy], direct[proxy], rel_tol=1e-6), (got[proxy], direct[proxy])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the caller's model


def test_a_shared_pass_on_a_handed_over_model_is_split_per_proxy():
    batch = _batch(8, 2)
    calls: list[int] = []

    def fresh() -> Limited:
        calls.append(1)
        return _net(4)

    names = ["grad_norm", "snip", "zico", "params"]
    with pytest.warns(ProxyWarning):
        handed = score_model(_net(4), names, batch, CTX, owned=True, fresh=fresh)
    with pytest.warns(ProxyWarning):
        copied = score_model(_net(4), names, batch, CTX)
    assert handed.micro_batch == copied.micro_batch == {"grad_norm": 4, "snip": 4, "zico": 4}
    for name in names:
        assert math.isclose(handed[name], copied[name], rel_tol=1e-9), name
    assert len(calls) == 3  # one pristine rebuild per retried proxy
    # a handed-over model without ``fresh`` is put back from the snapshot and copied
    with pytest.warns(ProxyWarning):
        alone = score_model(_net(4), ["grad_norm"], batch, CTX, owned=True)
    assert math.isclose(alone["grad_norm"], copied["grad_norm"], rel_tol=1e-9)


def test_fits_means_no_split_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProxyWarning)
        got = score_model(_net(16), ["grad_norm", "zico"], _batch(16, 2), CTX)
    assert got.micro_batch == {}


def test_split_off_or_nothing_fits_is_a_clear_error():
    with pytest.raises(ProxyFailed, match=r"'grad_norm' ran out of memory .*batch size 8 .*"
                                          r"splitting is turned off"):
        score_model(_net(4), ["grad_norm"], _batch(8, 1), CTX, split=False)
    with pytest.raises(ProxyFailed, match=r"no micro-batch size down to 1 image fit"):
        score_model(_net(0), ["grad_norm"], _batch(8, 1), CTX)
    with pytest.raises(ProxyFailed, match=r"even one image at a time does not fit"):
        score_model(_net(0), ["grad_norm"], _batch(1, 1), CTX)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=3), micro=st.integers(1, 10),
       labels=st.sampled_from(["class", "dense", "none"]))
def test_split_batch_keeps_every_image_in_order(sizes, micro, labels):
    def label(n: int, start: int) -> torch.Tensor | None:
        if labels == "none":
            return None
        ids = torch.arange(start, start + n)
        return ids if labels == "class" else ids.view(n, 1, 1).expand(n, 2, 3).clone()

    start, parts = 0, []
    for n in sizes:
        images = torch.arange(start, start + n, dtype=torch.float32).view(n, 1)
        parts.append((images, label(n, start)))
        start += n
    out = split_batch(Batch(tuple(parts), synthetic=True), micro)
    assert out.synthetic
    assert all(1 <= x.shape[0] <= micro for x, _ in out.batches)
    assert len(out.batches) == sum(-(-n // micro) for n in sizes)
    assert torch.equal(torch.cat([x for x, _ in out.batches]).view(-1), torch.arange(start).float())
    if labels != "none":
        ys = torch.cat([y for _, y in out.batches])
        assert torch.equal(ys.reshape(start, -1)[:, 0], torch.arange(start))
    else:
        assert all(y is None for _, y in out.batches)


# --------------------------------------------------------------------------- recorded downstream
@pytest.fixture
def oom_proxy(nb201):
    """``_test_oom``: fails like the allocator on more than 2 images for networks with more
    than the median parameter count; its value depends on the network and the batch size."""
    from zeronas.proxies import ProxySpec, register_proxy
    from zeronas.proxies.base import _PROXIES

    def fn(model, batch, ctx):
        n = sum(p.numel() for p in model.parameters())
        if n > 300_000 and len(batch.first[0]) > 2:
            raise RuntimeError(OOM)
        return float(100 * n + len(batch.first[0]))

    spec = register_proxy(ProxySpec("_test_oom", fn, "OOM above 2 images on big nets", "test",
                                    needs_data=True))
    yield spec
    _PROXIES.pop("_test_oom", None)


@pytest.fixture
def truth(nb201):
    import numpy as np

    from zeronas.bench.groundtruth import GroundTruth

    rng = np.random.default_rng(3)
    archs = list(dict.fromkeys(nb201.to_str(nb201.sample(rng)) for _ in range(12)))
    return GroundTruth("nb201", {"cifar10": {a: float(i) for i, a in enumerate(archs)}},
                       tuple(archs), "synthetic test truth", "test")


@pytest.mark.filterwarnings("ignore:proxy '_test_oom' ran out of memory")
@pytest.mark.parametrize("executor", [None, "one worker"])
def test_correlate_records_split_architectures(tmp_path, nb201, truth, oom_proxy, executor):
    from zeronas.bench.correlate import correlate
    from zeronas.execution.executor import LocalExecutor
    from zeronas.execution.store import ScoreStore
    from zeronas.proxies import ScoreSettings

    settings = ScoreSettings(batch_size=8, batches=1)
    ex = LocalExecutor(workers=1, threads=1) if executor else None
    with ScoreStore(tmp_path / "s.sqlite") as st, \
            pytest.warns(ProxyWarning, match=r"did not fit in memory for \d+ of 12"):
        res = correlate(nb201, "cifar10", ["_test_oom"], None, 0, settings, st, truth,
                        executor=ex)
    big = {r["arch"] for r in res.rows if r["_test_oom"] > 100 * 300_000}
    assert 0 < len(big) < len(res.rows)
    rec = res.summary["results"]["_test_oom"]["micro_batch"]
    assert rec["architectures"] == {a: 2 for a in sorted(big)}
    assert rec["count_by_size"] == {"2": len(big)}
    for r in res.rows:  # the value says which batch it was computed at
        micro = r["_test_oom_micro_batch"]
        assert micro == (2 if r["arch"] in big else 8)
        assert r["_test_oom"] % 100 == micro
    paths = res.write(tmp_path / "c.json")
    assert "_test_oom_micro_batch" in paths[1].read_text().splitlines()[0]
    with ScoreStore(tmp_path / "s.sqlite") as st, pytest.warns(ProxyWarning):  # from the store
        again = correlate(nb201, "cifar10", ["_test_oom"], None, 0, settings, st, truth)
    assert again.summary["results"]["_test_oom"]["micro_batch"] == rec
    if ex is not None:
        ex.close()


def test_search_objective_records_split_values(tmp_path, nb201, truth, oom_proxy):
    from zeronas.execution.store import ScoreStore
    from zeronas.proxies import ScoreSettings
    from zeronas.search.objective import Objective

    settings = ScoreSettings(batch_size=4, batches=1)
    items = [(nb201.from_str(a), a) for a in truth.order]
    with ScoreStore(tmp_path / "s.sqlite") as st:
        obj = Objective("_test_oom", nb201, "cifar10", settings, st)
        with pytest.warns(ProxyWarning):
            values = obj.score_many(items)
        split = {k for k, v in zip(truth.order, values, strict=True) if v["_test_oom"] > 3e7}
        assert obj.micro_batch == {k: {"_test_oom": 2} for k in split} and split
        again = Objective("_test_oom", nb201, "cifar10", settings, st)  # read back
        again.score_many(items)
        assert again.micro_batch == obj.micro_batch and again.computed == 0


def test_old_stores_gain_the_column(tmp_path):
    import sqlite3

    from zeronas.execution.store import ScoreStore

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE scores (space TEXT NOT NULL, arch TEXT NOT NULL, proxy TEXT NOT NULL,"
            " protocol TEXT NOT NULL, value REAL, seconds REAL NOT NULL, created REAL NOT NULL,"
            " PRIMARY KEY (space, arch, proxy, protocol));"
            "INSERT INTO scores VALUES ('nb201', 'a', 'p', 'k', 1.5, 0.1, 0);")
    with ScoreStore(path) as st:
        assert st.get("nb201", ["a"], "p", "k") == {"a": (1.5, 0.1)}
        assert st.get_micro_batches("nb201", ["a"], "p", "k") == {}
        st.put("nb201", "b", {"p": (2.0, 0.1)}, "k", micro_batch={"p": 16})
        assert st.get_micro_batches("nb201", ["a", "b"], "p", "k") == {"b": 16}


def test_baseline_out_of_memory_is_nan_with_a_warning():
    from zeronas.bench.correlate import bare_forward_backward

    with pytest.warns(ProxyWarning, match=r"baseline .*batch size 8\) ran out of memory"):
        assert math.isnan(bare_forward_backward(_net(4), _batch(8, 1)))
    assert bare_forward_backward(_net(8), _batch(8, 1)) > 0


@pytest.mark.filterwarnings("ignore:proxy '_test_oom' ran out of memory")
def test_cli_score_says_which_values_are_split(oom_proxy):
    import json

    from typer.testing import CliRunner

    from zeronas.cli import app

    arch = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
            "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    args = ["score", "--space", "nb201", "--arch", arch, "--proxies", "_test_oom,params",
            "--batch-size", "8", "--batches", "1"]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert out["protocol"]["micro_batch"] == {"_test_oom": 2}
    assert out["scores"]["_test_oom"] % 100 == 2
    table = CliRunner().invoke(app, args)
    assert "at batch size 2: out of memory at 8" in table.stdout.replace("\n", " ")


# --------------------------------------------------------------------------- review cases
def test_a_batch_free_proxy_is_not_split():
    """synflow, zen, structural proxies: a smaller batch cannot help, so no retry and an
    error that does not talk about the batch."""
    from zeronas.proxies import ProxySpec

    def greedy(model, batch, ctx):
        raise RuntimeError(OOM)

    spec = ProxySpec(name="_free", fn=greedy, description="d", reference="r", needs_data=False)
    for batch in (_batch(8, 1), None):
        with pytest.raises(ProxyFailed, match=r"does not read the batch") as err:
            score_model(_net(10**6), [spec], batch, CTX)
        assert "batch size" not in str(err.value)


def test_a_failed_copy_is_freed_before_the_retry():
    import gc
    import weakref

    from zeronas.proxies import ProxySpec

    seen: list[weakref.ref] = []
    alive_at_retry: list[bool] = []

    def probe(model, batch, ctx):
        if seen:
            gc.collect()
            alive_at_retry.append(any(r() is not None for r in seen))
        seen.append(weakref.ref(model))
        return float(model(batch.first[0]).detach().sum())

    spec = ProxySpec(name="_probe", fn=probe, description="d", reference="r", needs_data=True)
    with pytest.warns(ProxyWarning):
        got = score_model(_net(2), [spec], _batch(8, 1), CTX)
    assert got.micro_batch == {"_probe": 2} and alive_at_retry == [False, False]


def test_a_retry_starts_from_pristine_weights():
    """A proxy that changes the weights before failing: every attempt must see the caller's
    weights again (doubled once, not once per attempt), also on a handed-over model."""
    from zeronas.proxies import ProxySpec

    def doubles(model, batch, ctx):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(2)
        model(batch.first[0])
        return float(sum(p.detach().sum() for p in model.parameters()))

    spec = ProxySpec(name="_doubles", fn=doubles, description="d", reference="r",
                     needs_data=True)
    want = score_model(_net(10**6), [spec], _batch(2, 1), CTX)["_doubles"]
    for owned in (False, True):
        with pytest.warns(ProxyWarning):
            got = score_model(_net(2), [spec, "grad_norm"], _batch(8, 1), CTX, owned=owned)
        assert math.isclose(got["_doubles"], want, rel_tol=1e-6), owned
        direct = score_model(_net(10**6), ["grad_norm"], split_batch(_batch(8, 1), 2), CTX)
        assert math.isclose(got["grad_norm"], direct["grad_norm"], rel_tol=1e-6), owned


def test_each_shared_proxy_equals_its_own_split_run():
    batch = _batch(8, 2)
    names = ["grad_norm", "snip", "fisher", "zico"]
    with pytest.warns(ProxyWarning):
        got = score_model(_net(4), names, batch, CTX, owned=True, fresh=lambda: _net(4))
    for name in names:
        alone = score_model(_net(10**6), [name], split_batch(batch, 4), CTX)[name]
        assert math.isclose(got[name], alone, rel_tol=1e-6), name


def test_python_memory_errors_count_as_out_of_memory():
    from zeronas.proxies import ProxySpec

    def numpy_greedy(model, batch, ctx):
        if len(batch.first[0]) > 2:
            raise MemoryError
        return float(len(batch.first[0]))

    spec = ProxySpec(name="_np", fn=numpy_greedy, description="d", reference="r",
                     needs_data=True)
    with pytest.warns(ProxyWarning, match="MemoryError"):
        got = score_model(_net(10**6), [spec], _batch(8, 1), CTX)
    assert got == {"_np": 2.0} and got.micro_batch == {"_np": 2}


def test_correlate_finishes_when_the_network_itself_does_not_fit(tmp_path, nb201, truth):
    """The baseline forward+backward is never split: its time is NaN for such a network and
    left out of the mean; the proxy's split value is stored and labelled."""
    from zeronas.bench.correlate import correlate
    from zeronas.execution.store import ScoreStore
    from zeronas.proxies import ScoreSettings

    class Tight:
        """nb201 whose networks run out of memory on more than 2 images."""

        def __init__(self, space):
            self._space = space

        def __getattr__(self, name):
            return getattr(self._space, name)

        def network_for(self, arch, dataset):
            net = self._space.network_for(arch, dataset)
            forward = net.forward

            def tight(x):
                if x.shape[0] > 2:
                    raise RuntimeError(OOM)
                return forward(x)

            net.forward = tight
            return net

    settings = ScoreSettings(batch_size=4, batches=1)
    with ScoreStore(tmp_path / "s.sqlite") as st, pytest.warns(ProxyWarning):
        res = correlate(Tight(nb201), "cifar10", ["grad_norm"], 4, 0, settings, st, truth)
    proto = res.summary["protocol"]
    assert proto["baseline_out_of_memory"] == 4 and math.isnan(proto["baseline_seconds_per_arch"])
    assert res.summary["results"]["grad_norm"]["micro_batch"]["count_by_size"] == {"2": 4}
    assert all(math.isfinite(r["grad_norm"]) for r in res.rows)


def test_prune_result_records_split_supernet_scores():
    from zeronas.proxies import ProxySpec, ScoreSettings, register_proxy
    from zeronas.proxies.base import _PROXIES
    from zeronas.search.run import run_search

    def fn(model, batch, ctx):  # no network fits more than 2 images
        if len(batch.first[0]) > 2:
            raise RuntimeError(OOM)
        return float(sum(p.numel() for p in model.parameters()))

    register_proxy(ProxySpec("_test_tight", fn, "OOM above 2 images", "test", needs_data=True))
    try:
        with pytest.warns(ProxyWarning):
            res = run_search("nb201", "_test_tight", searcher="prune", budget=1,
                             searcher_options={"C": 4, "N": 1,
                                               "ops": ["nor_conv_3x3", "skip_connect"]},
                             settings=ScoreSettings(batch_size=4, batches=1),
                             ground_truth=False)
    finally:
        _PROXIES.pop("_test_tight", None)
    split = res.protocol["micro_batch"]
    assert split["supernets"] and all(v == {"_test_tight": 2}
                                      for v in split["supernets"].values())
    assert split["architecture"] == {res.best["arch"]: {"_test_tight": 2}}


def test_cli_no_split_stops_with_the_error(oom_proxy):
    from typer.testing import CliRunner

    from zeronas.cli import app

    arch = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
            "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    res = CliRunner().invoke(app, ["score", "--space", "nb201", "--arch", arch, "--proxies",
                                   "_test_oom", "--batch-size", "8", "--no-split"])
    assert res.exit_code != 0 and "splitting is turned off (--no-split)" in res.output
