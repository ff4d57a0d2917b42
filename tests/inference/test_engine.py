"""The scoring engine: order, batch/worker invariance, exactness, streaming, crash and stall isolation,
and the process-wide torch state it borrows while scoring."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from persona_iaa import load_model
from persona_iaa.data.images import open_image
from persona_iaa.data.transforms import eval_transform
from persona_iaa.errors import ConfigError
from persona_iaa.inference import decoding, engine, runners
from persona_iaa.inference.engine import ScoringOptions
from persona_iaa.models.pdmtl import IAAOutput
from persona_iaa.training.checkpoint import load_trained_model

from .scoring_files import EXPECTED_ERRORS, write_jpegs


@pytest.fixture(scope="module")
def mixed_inputs(image_kinds, tmp_path_factory) -> list[str]:
    """Good JPEGs with every odd and broken kind interleaved."""
    good = write_jpegs(tmp_path_factory.mktemp("good"), 9)
    kinds = list(image_kinds.values())
    return [str(p) for i in range(max(len(good), len(kinds))) for p in good[i:i + 1] + kinds[i:i + 1]]


def outputs(results) -> tuple[list[str], list, np.ndarray]:
    results = list(results)
    numbers = np.array([[r.score, r.aesthetic, *r.personality] if r.ok else [np.nan] * 7 for r in results])
    return [r.path for r in results], [r.error for r in results], numbers


@pytest.mark.parametrize("engine_name", ["onnx", "torch"])
def test_results_do_not_depend_on_batch_size_workers_or_threads(trained_run, mixed_inputs, engine_name):
    predictor = load_model(trained_run, device="cpu", workers=0, engine=engine_name)
    threads_before = torch.get_num_threads()
    paths, errors, numbers = outputs(predictor.score(mixed_inputs, batch_size=1))
    assert torch.get_num_threads() == threads_before  # batches ran on one thread each, then it was restored
    assert paths == mixed_inputs
    assert sum(e is not None for e in errors) == len(EXPECTED_ERRORS) and not np.isnan(numbers).all()
    for batch_size, workers, threads in [(4, 2, 2), (5, 1, 3), (64, 2, 1)]:
        other = load_model(trained_run, device="cpu", workers=workers, threads=threads, engine=engine_name)
        other_paths, other_errors, other_numbers = outputs(other.score(mixed_inputs, batch_size=batch_size))
        assert other_paths == paths and other_errors == errors
        np.testing.assert_allclose(other_numbers, numbers, atol=1e-5)


def test_fp32_matches_a_plain_loop_and_bf16_stays_close(trained_run, mixed_inputs):
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    transform = eval_transform(preprocessing)
    good = [p for p in mixed_inputs if "img_" in p]
    with torch.no_grad():
        plain = [model(transform(Image.open(p).convert("RGB"))[None]) for p in good]
    reference = np.array([np.concatenate([t.numpy().ravel() for t in out]) for out in plain])
    _, _, fp32 = outputs(load_model(trained_run, device="cpu", workers=2).score(good, batch_size=3))
    np.testing.assert_allclose(fp32, reference, atol=1e-5)
    _, _, fp32_torch = outputs(load_model(trained_run, device="cpu", workers=0, engine="torch").score(good))
    np.testing.assert_allclose(fp32_torch, reference, atol=1e-5)
    _, _, bf16 = outputs(load_model(trained_run, device="cpu", workers=0, precision="bf16").score(good))
    assert np.abs(bf16 - reference).max() < 0.05
    assert not np.array_equal(bf16, fp32)  # bf16 really ran


def test_fast_decode_asks_the_opener_for_draft_jpegs(trained_run, tmp_path, monkeypatch):
    sizes = []
    real_read = decoding.read_image

    def recording_read(item, draft_size=None):
        sizes.append(draft_size)
        return real_read(item, draft_size=draft_size)

    monkeypatch.setattr(decoding, "read_image", recording_read)
    path = tmp_path / "large.jpg"
    Image.new("RGB", (640, 480), (100, 150, 200)).save(path)
    exact = next(load_model(trained_run, device="cpu", workers=0).score([path]))
    fast = next(load_model(trained_run, device="cpu", workers=0, fast_decode=True).score([path]))
    assert sizes == [None, 32]  # the resize size of the trained run
    assert fast.score == pytest.approx(exact.score, abs=0.01)


def test_pil_images_and_bytes_score_like_their_files(trained_run, image_kinds):
    predictor = load_model(trained_run, device="cpu", workers=0)
    path = image_kinds["exif_rotated"]
    by_path, by_image, by_bytes, anonymous = predictor.score(
        [path, Image.open(path), path.read_bytes(), open_image(path)])
    assert by_image.path == str(path) and anonymous.path == "<image 3>"
    for other in (by_image, by_bytes, anonymous):
        assert other.score == pytest.approx(by_path.score, abs=1e-6)
        assert other.traits == pytest.approx(by_path.traits, abs=1e-6)


def test_the_engine_streams_with_a_bounded_window(trained_run, tmp_path):
    paths = write_jpegs(tmp_path, 60)
    pulled = []

    def lazily():
        for p in paths:
            pulled.append(p)
            yield p

    predictor = load_model(trained_run, device="cpu", workers=2, threads=1, batch_size=4)
    bound = predictor.engine.images_ahead()
    assert bound < len(paths) // 2  # the engine's own promise, small enough to be worth checking
    results = predictor.score(lazily())
    first = next(results)
    assert first.path == str(paths[0]) and first.ok
    assert len(pulled) <= 1 + bound  # not the whole input
    for k, result in enumerate(results, start=1):
        assert result.path == str(paths[k]) and len(pulled) <= k + 1 + bound
    assert len(pulled) == len(paths)


def test_a_file_that_kills_its_decoder_process_fails_alone(trained_run, tmp_path, monkeypatch):
    paths = [str(p) for p in write_jpegs(tmp_path, 10)]
    expected = {r.path: r.score for r in load_model(trained_run, device="cpu", workers=0).score(paths)}
    deadly = paths[4]
    real_read = decoding.read_image

    def crash_on_deadly(item, draft_size=None):
        if str(item) == deadly:
            os._exit(1)  # what a segfaulting decoder looks like to the parent
        return real_read(item, draft_size=draft_size)

    monkeypatch.setattr(decoding, "read_image", crash_on_deadly)  # inherited by the forked workers
    results = list(load_model(trained_run, device="cpu", workers=2, batch_size=3).score(paths))
    assert [r.path for r in results] == paths
    failed = [r for r in results if not r.ok]
    assert [r.path for r in failed] == [deadly] and "decoder process died" in failed[0].error
    for r in results:
        if r.ok:
            assert r.score == pytest.approx(expected[r.path], abs=1e-5)


@pytest.mark.parametrize("options, message", [
    (dict(precision="fp16"), "unknown precision"),
    (dict(engine="onnx", precision="bf16"), "fp32 only"),
    (dict(batch_size=0), "batch size"),
    (dict(workers=-1), "workers"),
])
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        ScoringOptions(**options)


def test_auto_engine_runs_fp32_cpu_scoring_on_onnxruntime_and_everything_else_on_torch(trained_run,
                                                                                      monkeypatch):
    monkeypatch.setattr(runners, "onnx_runtime_installed", lambda: True)
    cpu = torch.device("cpu")
    assert ScoringOptions().resolved_engine(cpu) == "onnx"
    assert ScoringOptions(precision="bf16").resolved_engine(cpu) == "torch"
    assert ScoringOptions().resolved_engine(torch.device("cuda")) == "torch"
    assert ScoringOptions(engine="torch").resolved_engine(cpu) == "torch"
    predictor = load_model(trained_run, device="cpu", workers=0)
    assert predictor.engine_name == "onnx" and isinstance(predictor.engine.runner, runners.OnnxRunner)
    monkeypatch.setattr(runners, "onnx_runtime_installed", lambda: False)
    assert ScoringOptions().resolved_engine(cpu) == "torch"
    predictor = load_model(trained_run, device="cpu", workers=0)
    assert predictor.engine_name == "torch" and isinstance(predictor.engine.runner, runners.TorchRunner)


def test_auto_engine_falls_back_to_torch_when_the_model_does_not_export(trained_run, tmp_path, monkeypatch):
    from persona_iaa.inference import export

    def unsupported(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::fancy_op' to ONNX opset version 17 "
                           "is not supported.\nmore")

    monkeypatch.setattr(export, "onnx_bytes", unsupported)
    paths = write_jpegs(tmp_path, 3)
    with pytest.warns(UserWarning, match="does not export to ONNX \\(Exporting the operator "
                                         "'aten::fancy_op'.*\\); scoring with PyTorch instead"):
        predictor = load_model(trained_run, device="cpu", workers=0)
    assert predictor.engine_name == "torch"
    reference = load_model(trained_run, device="cpu", workers=0, engine="torch")
    assert [r.score for r in predictor.score(paths)] == [r.score for r in reference.score(paths)]
    with pytest.raises(RuntimeError, match="fancy_op"):
        load_model(trained_run, device="cpu", workers=0, engine="onnx")


class HardcodedBatch(torch.nn.Module):
    """A model whose trace bakes in the batch size (``int(images.shape[0])``), as some third-party
    code does."""

    def forward(self, images: torch.Tensor) -> IAAOutput:
        features = images.mean((2, 3)).reshape(int(images.shape[0]), -1)
        return IAAOutput(features[:, 0], features[:, 1], features.repeat(1, 2)[:, :5])


def runner_outputs(runner: engine.TorchRunner, batch: torch.Tensor) -> np.ndarray:
    return np.concatenate([o.reshape(len(batch), -1) for o in runner(batch)], axis=1)


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-5), ("bf16", 0.05)])
def test_cpu_runner_scores_with_a_fused_graph_equal_to_the_eager_model(trained_run, precision, tolerance):
    model, preprocessing, _ = load_trained_model(trained_run, "cpu")
    crop = preprocessing.crop_size
    fused = engine.TorchRunner(model, torch.device("cpu"), precision, example=torch.randn(4, 3, crop, crop))
    eager = engine.TorchRunner(model, torch.device("cpu"), precision)
    assert isinstance(fused.graph, torch.jit.ScriptModule) and eager.graph is None
    fused.eager = None  # from here on the graph alone can answer
    for size in (1, 4, 7):  # batch sizes other than the traced one run through the same graph
        batch = torch.randn(size, 3, crop, crop)
        np.testing.assert_allclose(runner_outputs(fused, batch), runner_outputs(eager, batch), atol=tolerance)


def test_a_model_whose_trace_is_wrong_runs_eagerly_with_a_warning():
    with pytest.warns(UserWarning, match="running the model eagerly"):
        runner = engine.TorchRunner(HardcodedBatch(), torch.device("cpu"), example=torch.randn(4, 3, 8, 8))
    assert runner.graph is None
    batch = torch.randn(3, 3, 8, 8)
    expected = batch.mean((2, 3))[:, 0].numpy()
    np.testing.assert_allclose(runner_outputs(runner, batch)[:, 0], expected, atol=1e-6)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [0, 2])
def test_a_fifo_named_like_a_photo_becomes_an_error_row_instead_of_blocking(trained_run, tmp_path, workers):
    paths = [str(p) for p in write_jpegs(tmp_path, 2)]
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    predictor = load_model(trained_run, device="cpu", workers=workers)
    results = list(predictor.score([paths[0], str(fifo), paths[1]]))
    assert [r.ok for r in results] == [True, False, True]
    assert "not a regular file (a FIFO" in results[1].error


def stall_on(path: str, real_read, *, block_alarm: bool = False):
    """A read that blocks on a FIFO nobody writes to, like a file on a stalled mount; with ``block_alarm``
    the worker's alarm cannot interrupt it either (an uninterruptible kernel wait)."""

    def read(item, draft_size=None):
        if str(item) == path:
            if block_alarm:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            with open(path + ".fifo", "rb"):  # bypasses the opener's check on purpose
                pass
        return real_read(item, draft_size=draft_size)

    return read


@pytest.mark.timeout(120)
@pytest.mark.parametrize("block_alarm", [False, True], ids=["alarm in the worker", "parent kills the pool"])
def test_a_read_that_stalls_becomes_a_timeout_row_and_the_run_goes_on(trained_run, tmp_path, monkeypatch,
                                                                      block_alarm):
    paths = [str(p) for p in write_jpegs(tmp_path, 8)]
    stalled = paths[2]
    os.mkfifo(stalled + ".fifo")
    expected = [r.score for r in load_model(trained_run, device="cpu", workers=0).score(paths)]
    stalling = stall_on(stalled, decoding.read_image, block_alarm=block_alarm)
    monkeypatch.setattr(decoding, "read_image", stalling)
    predictor = load_model(trained_run, device="cpu", workers=2, batch_size=3, decode_timeout=0.5)
    results = list(predictor.score(paths))
    assert [r.path for r in results] == paths
    assert [r.path for r in results if not r.ok] == [stalled]
    assert "timed out after 0.5 s" in results[2].error
    for result, score in zip(results, expected):
        if result.ok:
            assert result.score == pytest.approx(score, abs=1e-5)


@pytest.fixture
def three_torch_threads():
    """A thread count no scoring setting uses, put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


@pytest.mark.parametrize("engine_name", ["torch", "onnx"])
def test_torch_settings_are_declared_at_construction_and_restored_when_scoring_is_abandoned(
        trained_run, tmp_path, engine_name, three_torch_threads):
    paths = write_jpegs(tmp_path, 12)
    threads, fusion = torch.get_num_threads(), torch.jit.onednn_fusion_enabled()
    assert threads == three_torch_threads and not fusion  # fusion is off by default in torch
    predictor = load_model(trained_run, device="cpu", workers=0, batch_size=2, engine=engine_name)
    fused = engine_name == "torch"  # the fused CPU graph needs oneDNN fusion while it runs
    declared = runners.TorchSettings(threads=1, onednn_fusion=True if fused else None)
    assert predictor.engine.torch_settings == declared
    # building the engine (tracing the fused graph included) left both as they were
    assert (torch.get_num_threads(), torch.jit.onednn_fusion_enabled()) == (threads, fusion)
    results = predictor.score(paths)
    assert next(results).ok
    assert torch.get_num_threads() == 1 and torch.jit.onednn_fusion_enabled() == fused  # while scoring
    results.close()  # abandoned part-way
    assert (torch.get_num_threads(), torch.jit.onednn_fusion_enabled()) == (threads, fusion)
    list(predictor.score(paths[:3]))
    assert (torch.get_num_threads(), torch.jit.onednn_fusion_enabled()) == (threads, fusion)


def test_overlapping_scoring_runs_restore_the_state_from_before_the_first(three_torch_threads):
    threads = torch.get_num_threads()
    first, second = runners.TorchSettings(threads=1), runners.TorchSettings(threads=1, onednn_fusion=True)
    with first.applied():
        inner = second.applied()
        inner.__enter__()
    assert torch.get_num_threads() == threads and torch.jit.onednn_fusion_enabled()  # the second still runs
    inner.__exit__(None, None, None)
    assert torch.get_num_threads() == threads and not torch.jit.onednn_fusion_enabled()
