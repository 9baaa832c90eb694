"""Time estimates: the pyramid's work, the measured throughput, the presets' descriptions and
the time left of a running training (issue 19). No test asserts a timing."""

import math

import pytest

from singan.config import PRESET_PURPOSES, PRESETS, make_config
from singan.pyramid import geometry_for
from singan.training import (
    RateClock,
    Throughput,
    describe_presets,
    estimate_scales,
    estimate_seconds,
    expected_work,
    format_duration,
    measure_throughput,
)
from singan.training.estimate import pyramid_work, scale_work


def test_throughput_fit_recovers_a_line():
    rate = Throughput.fit([(1.0, 3.0), (2.0, 5.0), (4.0, 9.0)])
    assert rate.fixed == pytest.approx(1.0) and rate.per_work == pytest.approx(2.0)
    assert Throughput.fit([(2.0, 4.0)]) == Throughput(0.0, 2.0)  # one point: through 0
    noisy = Throughput.fit([(1.0, 5.0), (2.0, 4.0)])  # a falling line is timing noise
    assert noisy.per_work == 0.0 and noisy.fixed == pytest.approx(4.5)


def test_estimate_is_the_pyramid_times_the_throughput(tiny_config):
    rate = Throughput(fixed=0.5, per_work=1e-6)
    config = tiny_config.replace(iters=10, iters_finest=4)
    scales = estimate_scales(config, (48, 64), throughput=rate)
    sizes = list(geometry_for(config, 48, 64).sizes)
    assert [s.size for s in scales] == [tuple(s) for s in sizes]
    works = scale_work(config, sizes)
    assert [s.iters for s in scales] == [config.iters_at(k, len(sizes)) for k in range(len(sizes))]
    for s, w in zip(scales, works):
        assert s.seconds == pytest.approx(s.iters * (0.5 + 1e-6 * w))
        assert s.memory > 0
    assert estimate_seconds(config, (48, 64), throughput=rate) == \
        pytest.approx(sum(s.seconds for s in scales))
    # more iterations, more time
    assert estimate_seconds(config.replace(iters=20, iters_finest=8), (48, 64),
                            throughput=rate) > estimate_seconds(config, (48, 64), throughput=rate)


def test_expected_work_is_the_pyramid_work(tiny_model):
    assert expected_work(tiny_model) == pyramid_work(tiny_model.config, tiny_model.sizes)


def test_measured_throughput_is_usable(tiny_config):
    """The warm-up really runs the configuration's networks and gives a usable line."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the CLI on a busy machine: more threads than idle cores crawl
    try:
        rate = measure_throughput(tiny_config, "cpu")
        assert measure_throughput(tiny_config, "cpu") is rate  # cached
    finally:
        torch.set_num_threads(threads)
    assert math.isfinite(rate.fixed) and math.isfinite(rate.per_work)
    assert rate.fixed >= 0 and rate.per_work >= 0 and rate.fixed + rate.per_work > 0


def test_describe_presets(fixed_throughput):
    infos = describe_presets("cpu")
    assert set(infos) == set(PRESETS) == set(PRESET_PURPOSES)
    for name, info in infos.items():
        assert info.seconds == pytest.approx(estimate_seconds(
            make_config(name), (192, 256), throughput=fixed_throughput))
        assert info.describe().startswith(PRESET_PURPOSES[name]) and "about" in info.describe()
    assert infos["paper"].seconds > infos["fast"].seconds > infos["quick"].seconds


@pytest.mark.parametrize("seconds, text", [(None, ""), (0.2, "1 s"), (42, "42 s"),
                                           (200, "3 min"), (2 * 3600, "2.0 h"),
                                           (20 * 3600, "20 h"), (3 * 86400, "3.0 days")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_clock_says_nothing_until_warmed_up():
    """A slow first stretch (10 s for the first 1%) must not make the estimate: only the
    throughput after the warm-up counts, and nothing is said before it is measured."""
    t = FakeClock()
    clock = RateClock(warmup=3.0, min_share=0.5, clock=t)
    assert clock.update(0.0) is None
    t.now += 10
    assert clock.update(1.0) is None  # the warm-up ends here
    t.now += 1
    assert clock.update(2.0) is None  # not yet `warmup` seconds of measurement
    t.now += 2
    left = clock.update(4.0)  # 3% in 3 s after the warm-up: 1 s per percent
    assert left == pytest.approx(96.0)


def test_run_records_eta_is_none_then_from_the_throughput(tmp_path, tiny_model, monkeypatch):
    from singan.run import records
    from singan.training import Progress

    t = FakeClock()
    monkeypatch.setattr(records, "RateClock", lambda: RateClock(warmup=3.0, clock=t))
    monkeypatch.setattr(records, "PROGRESS_EVERY", -1.0)  # write at every report
    rec = records.RunRecords(tmp_path, tiny_model, 0)
    n = tiny_model.num_scales

    def report(percent):
        rec.progress(Progress(scale=0, num_scales=n, iteration=2, iters=4, elapsed=0.0,
                              percent=percent))
        return records.read_progress(tmp_path).eta

    assert records.read_progress(tmp_path).eta is None
    t.now += 30  # a very slow start: an extrapolation would say about 50 minutes
    assert report(1.0) is None
    t.now += 4
    assert report(5.0) == pytest.approx(95.0, rel=0.01)  # 4% in 4 s
    rec.close("done")
    assert records.read_progress(tmp_path).eta is None
