"""bench/reconstruction.py: per-scale reconstruction figures of a trained run."""

import json

import pytest
import torch

import singan

from conftest import bench_module as load_bench


def test_detail_measures_neighbour_differences():
    rec = load_bench("reconstruction")
    assert rec.detail(torch.zeros(1, 3, 5, 6)) == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., 1::2] = 1.0  # columns alternate: every horizontal step changes by 1
    assert rec.detail(stripes) == pytest.approx(0.5)


def test_reconstruction_rows_follow_the_model(tiny_run, tmp_path, capsys):
    rec = load_bench("reconstruction")
    model = singan.load(tiny_run)
    rows = rec.per_scale(tiny_run)
    assert [r["scale"] for r in rows] == list(range(1, model.num_scales))
    last = rows[-1]
    with torch.no_grad():
        entering = model.reconstruct(model.num_scales - 1)
        made = model.scale_step(model.num_scales - 1, entering,
                                model.rec_noise(model.num_scales - 1))
    real = model.reals[-1]
    assert last["rmse_out"] == pytest.approx(float((real - made).pow(2).mean().sqrt()))
    assert last["rmse_in"] == pytest.approx(float((real - entering).pow(2).mean().sqrt()))
    assert last["detail_added"] > 0
    out = tmp_path / "rec.json"
    assert rec.main([str(tiny_run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())[str(tiny_run)] == rows
    assert capsys.readouterr().out.count("\n") == 2 + len(rows)


def test_reconstruction_refuses_a_missing_run(tmp_path, capsys):
    rec = load_bench("reconstruction")
    with pytest.raises(singan.SinGANError):
        rec.main([str(tmp_path / "nothing")])
    assert capsys.readouterr().out == ""
