"""A fitted temperature for the recogniser's 18 log-likelihoods: confidences that mean what they say.

Why: the softmax over 18 log-likelihoods is not calibrated (a 0.8 need not be right 80 % of the
time), so a threshold on it, like the ensemble's `confidence_threshold`, means nothing fixed.
`shuttlesense evaluate --calibrate` fits one temperature T on the validation split and writes
`calibration.json`; probabilities are then softmax(log-likelihood / T). The recogniser takes it
from `--calibration PATH`, else from a `calibration.json` inside the model folder or Hub repo.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Divide the log-likelihoods by `temperature` before the softmax (> 1 softens, < 1 sharpens)."""

    temperature: float
    source: str = ""

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(
                f"A calibration temperature must be > 0; got {self.temperature} ({self.source})."
            )


def read_calibration(path: str | Path) -> Calibration:
    """The calibration in a `calibration.json` (as `evaluate --calibrate` writes it)."""
    path = Path(path).expanduser()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        temperature = float(record["temperature"])
    except FileNotFoundError as err:
        raise FileNotFoundError(f"Calibration file not found: {path}") from err
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a calibration.json (needs a number 'temperature'): {err}") from err
    return Calibration(temperature, str(path))


def find_calibration(model_path: str) -> Calibration | None:
    """The `calibration.json` that comes with a model: in its folder, or in its Hub repo, if any."""
    local = Path(model_path).expanduser()
    if local.is_dir():
        return read_calibration(local / CALIBRATION_FILE) if (local / CALIBRATION_FILE).is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return read_calibration(hf_hub_download(model_path, CALIBRATION_FILE))
    except Exception:  # no such file in the repo, or offline: the model is used uncalibrated
        return None


def resolve_calibration(model_path: str, calibration: str | Path | None) -> Calibration | None:
    """An explicit `calibration` file wins; else the model's own `calibration.json`; else none."""
    found = read_calibration(calibration) if calibration else find_calibration(model_path)
    if found is not None:
        logger.info("Calibrated confidences: temperature %.3f from %s.", found.temperature, found.source)
    return found
