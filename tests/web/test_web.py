"""The web app: upload checks, handlers equal to the recogniser, the page in a real browser, `serve`.

The browser test launches the app on a free loopback port and drives Debian's Chromium through
Playwright: a synthetic stroke clip must show the recogniser's stroke and the probability chart,
a non-video must show a readable error, a rally must show its timeline and segments. Screenshots
go to `$SHUTTLESENSE_ARTIFACTS` (default: `outputs/test-artifacts/`, git-ignored, kept after the run).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from shuttlesense import labels  # noqa: E402
from shuttlesense.web import app as web  # noqa: E402
from shuttlesense.web import serve  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SAMPLING = {"num_frames": 8, "max_pixels": 112 * 112}  # small and fast; same for app and reference


@pytest.fixture(scope="module")
def detector(tiny_model_dirs):
    """The app's detector on the tiny random Qwen2.5-VL (no VideoMAE), loaded once per module."""
    from shuttlesense.rally.pipeline import create_qwen_vl_enhanced_detector

    config = {
        "qwen_vl": {"model_path": str(tiny_model_dirs["qwen2_5_vl"]), **SAMPLING},
        "videomae": {"enabled": False},
        "ensemble": {},
        "hit_detection": {},
        "segmentation": {},
    }
    return create_qwen_vl_enhanced_detector(config)


@pytest.fixture(scope="module")
def recognizer(tiny_model_dirs):
    """An independent `QwenVLActionRecognizer` on the same model: the reference for the app."""
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    return QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_5_vl"]), language="zh", **SAMPLING)


@pytest.fixture(scope="module")
def clip(synthetic_source: Path) -> Path:
    """One synthetic Smash clip (112x84)."""
    return sorted(synthetic_source.rglob("14_Smash/*.mp4"))[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("not a video", encoding="utf-8")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    return {"txt": folder / "notes.txt", "mp4": folder / "broken.mp4"}


@pytest.fixture(scope="module")
def rally(tmp_path_factory) -> tuple[Path, dict]:
    """A 3-hit synthetic rally with audio clicks (exact hit times) and its ground truth."""
    from shuttlesense.synthetic.match import write_synthetic_rally

    path = tmp_path_factory.mktemp("rally") / "rally.mp4"
    return path, write_synthetic_rally(path, num_hits=3, width=160, height=120, seed=1)


def test_upload_check_accepts_videos_and_refuses_the_rest(clip, bad_files, tmp_path):
    assert web.check_video_upload(str(clip)) == clip
    with pytest.raises(web.UploadError, match="Upload a video first"):
        web.check_video_upload(None)
    with pytest.raises(web.UploadError, match="“notes.txt” is not a video file"):
        web.check_video_upload(bad_files["txt"])
    with pytest.raises(web.UploadError, match="“broken.mp4” could not be decoded as a video"):
        web.check_video_upload(bad_files["mp4"])
    with pytest.raises(web.UploadError, match="the limit is 0.001 MB"):
        web.check_video_upload(clip, max_upload_mb=0.001)
    upper = tmp_path / "CLIP.MP4"  # extensions are case-insensitive
    shutil.copy(clip, upper)
    assert web.check_video_upload(upper) == upper


def test_clip_handler_equals_recognizer(detector, recognizer, clip):
    handlers = web.WebHandlers(detector)
    markdown, chart = handlers.classify_clip(str(clip))
    expected = recognizer.recognize_action(clip, top_k=web.TOP_K)
    assert f"**{expected['predicted_action']}** · {expected['predicted_action_zh']}" in markdown
    assert [name for name in chart] == [f"{e['action']} · {e['action_zh']}" for e in expected["top_k"]]
    for entry, probability in zip(expected["top_k"], chart.values(), strict=True):
        assert probability == pytest.approx(entry["probability"], abs=1e-6)
    assert "meaningless" in markdown  # never presented as a trained model


def test_handlers_turn_bad_uploads_into_readable_errors(detector, bad_files):
    handlers = web.WebHandlers(detector)
    for path, message in [
        (None, "Upload a video first"),
        (bad_files["txt"], "is not a video file"),
        (bad_files["mp4"], "could not be decoded"),
    ]:
        with pytest.raises(gr.Error, match=message) as caught:
            handlers.classify_clip(str(path) if path else None)
        assert "Traceback" not in str(caught.value)
        with pytest.raises(gr.Error, match=message):
            handlers.analyze_rally(str(path) if path else None)


def test_banner_only_for_tiny_models(detector, tiny_model_dirs, tmp_path):
    assert web.model_warnings(detector) == [web.RANDOM_BANNER]
    from shuttlesense.inference.model_source import MARKER
    from shuttlesense.rally.pipeline import create_qwen_vl_enhanced_detector

    # The same weights without the tiny marker stand for a real model: no banner.
    unmarked = tmp_path / "model"
    shutil.copytree(tiny_model_dirs["qwen2_5_vl"], unmarked)
    config = json.loads((unmarked / "config.json").read_text())
    del config[MARKER]
    (unmarked / "config.json").write_text(json.dumps(config))
    plain = create_qwen_vl_enhanced_detector({"qwen_vl": {"model_path": str(unmarked), **SAMPLING}})
    assert plain.tiny_kinds == {"qwen_vl": None, "videomae": None}
    assert web.model_warnings(plain) == []


def test_rally_handler_writes_timeline_table_and_report(detector, rally):
    path, truth = rally
    handlers = web.WebHandlers(detector)
    summary, timeline, table, report_path = handlers.analyze_rally(str(path))
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    assert report["video"] == "rally.mp4"  # no server path leaks into the download
    model_dir = Path(detector.config.qwen_vl.model_path)
    assert report["models"]["qwen_vl"] == model_dir.name and str(model_dir.parent) not in json.dumps(report)
    assert f"`{model_dir.name}`" in web.model_summary(detector) and str(model_dir) not in web.model_summary(
        detector
    )
    assert report["total_hits"] == len(truth["hits"]) == report["total_segments"]
    assert Path(timeline).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(table.columns) == web.SEGMENT_COLUMNS and len(table) == report["total_segments"]
    assert list(table["stroke"]) == [seg["stroke"] for seg in report["segments"]]
    assert all(stroke in labels.CLASS_NAMES_EN for stroke in table["stroke"])
    assert f"{report['total_hits']} hits" in summary and "meaningless" in summary


def test_serve_builds_the_tiny_model_once_and_keeps_given_paths(tmp_path, tiny_model_dirs):
    from shuttlesense.inference.model_source import is_tiny_model_dir

    args = serve.ServeArguments(tiny_model_dir=str(tmp_path / "tiny"), num_frames=4)
    config = serve.serve_config(args)
    assert config.qwen_vl.model_path == str(tmp_path / "tiny") and config.qwen_vl.num_frames == 4
    assert is_tiny_model_dir(tmp_path / "tiny")
    stamp = (tmp_path / "tiny" / "config.json").stat().st_mtime_ns
    serve.serve_config(args)  # reused, not rebuilt
    assert (tmp_path / "tiny" / "config.json").stat().st_mtime_ns == stamp

    given = serve.serve_config(serve.ServeArguments(model_path=str(tiny_model_dirs["qwen2_vl"])))
    assert given.qwen_vl.model_path == str(tiny_model_dirs["qwen2_vl"])

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a tiny model folder"):
        serve.ensure_tiny_model(tmp_path / "work")
    assert (tmp_path / "work" / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_serve_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        serve.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--max_upload_mb" in out and "127.0.0.1" in out
    options = serve.launch_options(serve.ServeArguments(max_upload_mb=1.5))
    assert options["server_name"] == "127.0.0.1" and options["max_file_size"] == int(1.5 * 2**20)
    assert options["share"] is False
    with pytest.raises(ValueError, match="--port"):
        serve.main(["--port", "0"])


def _browser_or_skip():
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[web]')")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def artifacts() -> Path:
    default = Path(__file__).resolve().parents[2] / "outputs" / "test-artifacts"
    folder = Path(os.environ.get("SHUTTLESENSE_ARTIFACTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_browser_clip_rally_and_errors(detector, recognizer, clip, bad_files, rally, artifacts):
    sync_playwright = _browser_or_skip()
    from playwright.sync_api import expect

    expected = recognizer.recognize_action(clip, top_k=web.TOP_K)
    app = web.build_app(detector, max_upload_mb=5)
    port = _free_port()
    app.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, max_file_size="5mb", quiet=True
    )
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)  # the first prediction waits for a cold model

            # clip view: stroke (English + Chinese) and chart; the random-model banner is on the page
            page.goto(url, wait_until="domcontentloaded")
            expect(page.locator("#model-banner")).to_contain_text("RANDOM weights")
            page.locator("#clip-video input[type=file]").set_input_files(str(clip))
            shown = page.locator("#clip-prediction strong").first
            expect(shown).to_have_text(expected["predicted_action"])
            assert shown.inner_text() == expected["predicted_action"]
            expect(page.locator("#clip-prediction")).to_contain_text(expected["predicted_action_zh"])
            chart = page.locator("#clip-chart")
            expect(chart).to_be_visible()
            for entry in expected["top_k"]:
                expect(chart).to_contain_text(entry["action"])
            page.screenshot(path=str(artifacts / "web_clip.png"), full_page=True)

            # a corrupt .mp4 reaches our check; a .txt is refused (by gradio's file picker or by us)
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#clip-video input[type=file]").set_input_files(str(bad_files["mp4"]))
            expect(page.get_by_text("“broken.mp4” could not be decoded as a video")).to_be_visible()
            page.screenshot(path=str(artifacts / "web_error.png"), full_page=True)
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#clip-video input[type=file]").set_input_files(str(bad_files["txt"]))
            refusal = page.get_by_text("Invalid file type: notes.txt").or_(
                page.get_by_text("is not a video file")
            )
            expect(refusal.first).to_be_visible()
            expect(page.locator("body")).not_to_contain_text("Traceback")

            # rally view: timeline picture, one table row per stroke, the JSON report to download
            path, truth = rally
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("tab", name="Rally / match").click()
            expect(page.get_by_text("A long match shows its progress here")).to_be_visible()
            page.locator("#rally-video input[type=file]").set_input_files(str(path))
            expect(page.locator("#rally-video video")).to_have_count(1)
            page.get_by_role("button", name="Analyse", exact=True).click()
            expect(page.locator("#rally-timeline img")).to_be_visible()
            expect(page.locator("#rally-summary")).to_contain_text(f"{len(truth['hits'])} hits · 1 rally")
            link = page.locator("#rally-report a[href$='rally_report.json']")
            expect(link).to_have_count(1)
            downloaded = page.request.get(link.get_attribute("href")).json()
            assert downloaded["total_hits"] == len(truth["hits"]) and downloaded["video"] == "rally.mp4"
            table = page.locator("#rally-segments")
            expect(table.get_by_role("row")).to_have_count(len(truth["hits"]) + 1)  # + header
            for stroke in {seg["stroke"] for seg in downloaded["segments"]}:
                expect(table).to_contain_text(stroke)
            page.screenshot(path=str(artifacts / "web_rally.png"), full_page=True)
            browser.close()
    finally:
        app.close()
    print(f"browser test took {time.perf_counter() - start:.1f} s; screenshots in {artifacts}")
