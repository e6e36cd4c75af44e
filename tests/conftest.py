"""Shared, session-scoped test assets: tiny random models and synthetic clips, cached on disk.

Assets live in pytest's cache folder under a key that includes a hash of the code that makes
them, so a change to the generator rebuilds them and an unchanged one is reused across runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shuttlesense import labels
from shuttlesense.data.scan import parse_clip_name


def _source_hash(*objects: object) -> str:
    digest = hashlib.sha256()
    for obj in objects:
        digest.update(inspect.getsource(obj).encode())
    return digest.hexdigest()[:12]


def cached_asset(config: pytest.Config, name: str, code: tuple, build: Callable[[Path], object]) -> Path:
    """Build `name` once into pytest's cache (keyed by the source of `code`) and return its folder."""
    base = Path(config.cache.mkdir("shuttlesense-assets"))
    target = base / f"{name}-{_source_hash(*code)}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        build(target)
        (target / ".complete").touch()
    return target


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny models: on a busy 2-core machine thread hand-offs cost far more than the maths (up to 70x)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic_source(pytestconfig: pytest.Config) -> Path:
    """A small synthetic VideoBadminton tree (3 clips per class, 4 sessions, split files). Read-only."""
    from shuttlesense.synthetic import clips as synth

    def build(target: Path) -> None:
        synth.write_synthetic_dataset(
            target, clips_per_class=3, width=112, height=84, fps=30, seed=0, num_sessions=4, progress=False
        )

    return cached_asset(pytestconfig, "synthetic-source", (synth, labels), build)


@pytest.fixture(scope="session")
def prepared_dataset(pytestconfig: pytest.Config, synthetic_source: Path) -> Path:
    """`synthetic_source` prepared with the session split. Read-only."""
    from shuttlesense.data import dataset_card, prepare, scan, splits

    def build(target: Path) -> None:
        args = prepare.PrepareArguments(source=str(synthetic_source), output=str(target), progress=False)
        prepare.prepare_dataset(args)

    code = (prepare, scan, splits, dataset_card)
    return cached_asset(pytestconfig, f"prepared-session-from-{synthetic_source.name}", code, build)


@pytest.fixture
def source_copy(tmp_path: Path, synthetic_source: Path) -> Path:
    """A writable copy of the synthetic tree, for tests that add bad files to it."""
    target = tmp_path / "source"
    shutil.copytree(synthetic_source, target, ignore=shutil.ignore_patterns(".complete"))
    return target


@pytest.fixture(scope="session")
def tiny_model_dirs(pytestconfig: pytest.Config) -> dict[str, Path]:
    """One saved tiny random model per Qwen-VL family (qwen2_vl, qwen2_5_vl, qwen3_vl). Read-only."""
    from shuttlesense.synthetic import tiny_models
    from shuttlesense.synthetic import tokenizer as tiny_tokenizer

    def build(target: Path) -> None:
        for family in tiny_models.FAMILIES:
            tiny_models.build_tiny_model(family, target / family)

    root = cached_asset(pytestconfig, "tiny-models", (tiny_models, tiny_tokenizer), build)
    return {family: root / family for family in tiny_models.FAMILIES}


@pytest.fixture(scope="session")
def full_size_dataset(pytestconfig: pytest.Config) -> Path:
    """Clips the size of VideoBadminton's: 1280x960 at 60 fps, 30-60 frames (10 clips, all in train)."""
    from shuttlesense.data import prepare
    from shuttlesense.synthetic import clips as synth

    def build(target: Path) -> None:
        source = target / "source"
        synth.write_synthetic_dataset(
            source,
            clips_per_class=1,
            width=1280,
            height=960,
            fps=60,
            num_sessions=1,
            progress=False,
            num_workers=2,
        )
        for clip in source.rglob("*.mp4"):
            name = parse_clip_name(clip.name)
            if not 30 <= name.end_frame - name.start_frame + 1 <= 60:
                clip.unlink()
        args = prepare.PrepareArguments(
            source=str(source), output=str(target / "dataset"), split="stratified", fractions=[1, 0, 0]
        )
        prepare.prepare_dataset(dataclasses.replace(args, progress=False))

    return cached_asset(pytestconfig, "full-size-dataset", (synth, prepare), build) / "dataset"
