"""`shuttlesense serve`: the web app (stroke clip and rally views) on a local port.

Models load once, at start-up, from `--config config.yaml` (the rally pipeline's file) with
`--model-path` and friends overriding it. Without any trained model the app still starts: it
builds the tiny RANDOM Qwen-VL offline into a cache folder and runs on it, and the page says in
a banner that its predictions are meaningless. It binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shuttlesense import labels
from shuttlesense.rally.config import PipelineArguments

logger = logging.getLogger(__name__)

TINY_FAMILY = "qwen2_5_vl"


def default_tiny_model_dir() -> Path:
    """Where the offline random model is cached: `$XDG_CACHE_HOME/shuttlesense/` (or ~/.cache)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "shuttlesense" / f"tiny-{TINY_FAMILY}"


@dataclass(kw_only=True)
class ServeArguments(PipelineArguments):
    """Options of `shuttlesense serve` (with no Qwen-VL model anywhere, a tiny RANDOM one is used)."""

    tiny_model_dir: str | None = field(
        default=None,
        metadata={
            "help": "Cache folder for the offline random model used when no model is given "
            "(default: $XDG_CACHE_HOME/shuttlesense/tiny-qwen2_5_vl)."
        },
    )
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "Address to bind. 0.0.0.0 exposes the app to the network: only behind a firewall."},
    )
    port: int = field(default=7860, metadata={"help": "Port to listen on."})
    max_upload_mb: float = field(
        default=4096.0,
        metadata={"help": "Largest upload accepted, in MB (default: an hour of 1080p match video)."},
    )
    top_k: int = field(default=5, metadata={"help": "Classes shown in the clip view's probability chart."})
    share: bool = field(
        default=False,
        metadata={"help": "Ask Gradio for a public share link (needs internet; off by default)."},
    )


def ensure_tiny_model(path: str | Path) -> Path:
    """The tiny random model at `path`, built there first if missing (atomically, so two servers agree).

    Refuses a non-empty folder that is not a tiny model rather than writing into someone's work.
    """
    from shuttlesense.inference.model_source import is_tiny_model_dir
    from shuttlesense.synthetic.tiny_models import build_tiny_model

    path = Path(path).expanduser()
    if is_tiny_model_dir(path):
        return path
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not a tiny model folder; pass another --tiny-model-dir.")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        build_tiny_model(TINY_FAMILY, staging)
        if path.exists():
            path.rmdir()  # empty (checked above)
        staging.rename(path)
    except OSError:
        if not is_tiny_model_dir(path):  # another server won the race: use its copy
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.warning("Built a tiny RANDOM %s model in %s: its predictions are meaningless.", TINY_FAMILY, path)
    return path


def serve_config(args: ServeArguments):
    """The pipeline config from `--config` plus overrides; the tiny random model if none is named."""
    config = args.pipeline_config()
    section = config.qwen_vl
    if section.enabled and not section.model_path:
        logger.warning(
            "No Qwen-VL model given (--model-path or qwen_vl.model_path): using a tiny RANDOM model."
        )
        section.model_path = str(ensure_tiny_model(args.tiny_model_dir or default_tiny_model_dir()))
        section.base_model = None
    return config


def load_detector(args: ServeArguments):
    """The `QwenVLEnhancedDetector` the app serves, with its models loaded once."""
    from shuttlesense.rally.pipeline import QwenVLEnhancedDetector

    return QwenVLEnhancedDetector(serve_config(args))


def create_app(args: ServeArguments):
    """Load the models and build the Gradio app (for `serve`, a Hub Space's app.py, or tests)."""
    from shuttlesense.web.app import build_app

    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be positive; got {args.max_upload_mb}.")
    if args.top_k < 1 or args.top_k > labels.NUM_CLASSES:
        raise ValueError(f"--top-k must be between 1 and {labels.NUM_CLASSES}; got {args.top_k}.")
    return build_app(load_detector(args), max_upload_mb=args.max_upload_mb, top_k=args.top_k)


def launch_options(args: ServeArguments) -> dict[str, Any]:
    """Keyword arguments of `Blocks.launch` for these options (upload limit, address, port, share)."""
    return {
        "server_name": args.host,
        "server_port": args.port,
        "share": args.share,
        "max_file_size": int(args.max_upload_mb * 2**20),
        "show_error": False,  # unexpected errors: one line on the page (our handlers), details in the log
    }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense serve`: blocks until the server is stopped (Ctrl+C)."""
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(ServeArguments, argv, prog="serve", description=__doc__)
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535; got {args.port}.")
    if not _is_loopback(args.host):
        logger.warning("Binding to %s: anyone who can reach this machine can use the app.", args.host)
    app = create_app(args)
    app.launch(**launch_options(args))
    return 0
