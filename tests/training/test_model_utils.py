from pathlib import Path

import pytest
import torch
from peft import get_peft_model
from transformers import AutoModelForImageTextToText, AutoProcessor, LlamaConfig

from shuttlesense.data.loading import FrameSampling, load_split
from shuttlesense.data.prepare import FEATURES
from shuttlesense.training.collator import VideoSFTCollator
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments
from shuttlesense.training.model_utils import (
    align_vision_input_grads,
    check_model_type,
    count_trainable,
    get_datasets,
    get_model,
    get_peft_config,
    upcast_trainable_parameters,
)


def _lora_module_names(model_dir: Path, scope: str) -> list[str]:
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    peft_model = get_peft_model(
        model, get_peft_config(VideoModelConfig(model_name_or_path=str(model_dir), lora_scope=scope))
    )
    return [name for name, _ in peft_model.named_modules() if name.endswith("lora_A")]


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_default_lora_targets_only_the_language_model(tiny_model_dirs, family):
    names = _lora_module_names(tiny_model_dirs[family], "language")
    assert names and all("language_model" in n for n in names)
    # q, k, v, o, gate, up, down in each of the 2 layers
    assert len(names) == 7 * 2


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_vision_scope_adds_the_vision_tower_and_merger(tiny_model_dirs, family):
    names = _lora_module_names(tiny_model_dirs[family], "language+vision")
    assert any("visual.blocks" in n for n in names) and any("merger" in n for n in names)
    assert any("language_model" in n for n in names)


def test_defaults_are_the_original_recipe():
    config = get_peft_config(VideoModelConfig())
    assert (config.r, config.lora_alpha, config.lora_dropout) == (64, 16, 0.1)


def test_non_qwen_vl_model_is_refused_before_loading(tmp_path: Path):
    LlamaConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'llama' model; ShuttleSense trains Qwen-VL models only"):
        check_model_type(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Model folder not found"):
        check_model_type(str(tmp_path / "missing"))


def test_dataset_errors_are_clear(tmp_path: Path, prepared_dataset: Path):
    with pytest.raises(ValueError, match="Set dataset_name"):
        get_datasets(VideoScriptArguments())
    with pytest.raises(FileNotFoundError, match="not found"):
        get_datasets(VideoScriptArguments(dataset_name=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="no split 'nosuch'"):
        get_datasets(VideoScriptArguments(dataset_name=str(prepared_dataset), dataset_test_split="nosuch"))
    from datasets import Dataset

    empty = Dataset.from_dict({name: [] for name in FEATURES}, features=FEATURES)
    empty.to_parquet(str(tmp_path / "empty" / "data" / "train-00000-of-00001.parquet"))
    with pytest.raises(ValueError, match="empty split 'train'"):
        get_datasets(VideoScriptArguments(dataset_name=str(tmp_path / "empty")), with_eval=False)
    Dataset.from_dict({"text": ["a"]}).save_to_disk(str(tmp_path / "wrong"))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['video', 'label'\]"):
        get_datasets(VideoScriptArguments(dataset_name=str(tmp_path / "wrong")), with_eval=False)


def test_fp16_training_steps_pass_the_grad_scaler(tiny_model_dirs):
    """fp16 + saved modules: every trainable tensor fp32, so the GradScaler can unscale (it refuses fp16)."""
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dirs["qwen2_5_vl"], dtype=torch.float16)
    args = VideoModelConfig(
        model_name_or_path="m", lora_r=4, lora_modules_to_save=["lm_head", "embed_tokens"]
    )
    model = get_peft_model(model, get_peft_config(args))
    assert torch.float16 in {p.dtype for p in model.parameters() if p.requires_grad}  # what PEFT leaves

    def step() -> None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        scaler = torch.amp.GradScaler("cpu")
        ids = torch.arange(3, 15).unsqueeze(0)
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(input_ids=ids, labels=ids).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # unscales first
        scaler.update()
        optimizer.zero_grad()

    with pytest.raises(ValueError, match="unscale FP16 gradients"):
        step()
    model.zero_grad(set_to_none=True)
    assert upcast_trainable_parameters(model) == 2  # the two saved copies
    step()
    step()
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert torch.float16 in {p.dtype for p in model.parameters() if not p.requires_grad}  # base stays fp16


def test_trainable_counts_see_zero3_partitions():
    model = torch.nn.Linear(4, 4)
    for parameter in model.parameters():  # what ZeRO-3 leaves on a rank: empty data, full size aside
        parameter.ds_numel = parameter.numel()
        parameter.data = torch.empty(0)
    model.bias.requires_grad_(False)
    assert count_trainable(model) == (16, 20)


def test_the_adapter_records_its_base_by_absolute_path(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_model_dirs["qwen2_vl"].parent)
    args = VideoModelConfig(model_name_or_path="qwen2_vl", lora_r=4)  # relative to where training runs
    model = get_peft_model(get_model(args), get_peft_config(args))
    base = model.peft_config["default"].base_model_name_or_path
    assert base == str(tiny_model_dirs["qwen2_vl"].resolve())
    model.save_pretrained(tmp_path / "adapter")
    monkeypatch.chdir(tmp_path)  # used from another folder, the adapter still finds its base
    from shuttlesense.inference.model_source import resolve_model_source

    assert resolve_model_source(str(tmp_path / "adapter")).base_model == base


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
@pytest.mark.parametrize(
    ("family", "scope"),
    [("qwen2_5_vl", "language"), ("qwen2_vl", "language"), ("qwen3_vl", "language+vision")],
)
def test_gradients_reach_exactly_the_modules_the_lora_scope_names(
    tiny_model_dirs, prepared_dataset, family, scope, reentrant
):
    """Set up as TRL does (PEFT, checkpointing, input-grad hooks), then one backward pass."""
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dirs[family])
    model = get_peft_model(
        model, get_peft_config(VideoModelConfig(model_name_or_path="m", lora_r=4, lora_scope=scope))
    )
    model.gradient_checkpointing_enable({"use_reentrant": reentrant})
    model.enable_input_require_grads()
    align_vision_input_grads(model)
    model.train()
    visual = model.get_base_model().model.visual
    seen = []
    visual.blocks[0].register_forward_hook(lambda module, inputs, output: seen.append(output.requires_grad))
    processor = AutoProcessor.from_pretrained(tiny_model_dirs[family])
    rows = list(load_split(str(prepared_dataset), "train").select(range(2)))
    batch = VideoSFTCollator(processor, FrameSampling(num_frames=4, max_pixels=112 * 84))(rows)
    model(**batch).loss.backward()

    lora_b = {name: p.grad for name, p in model.named_parameters() if "lora_B" in name}
    assert lora_b and all(grad is not None for grad in lora_b.values()), [
        n for n, g in lora_b.items() if g is None
    ]
    assert any(".visual." in name for name in lora_b) == (scope != "language")
    # LoRA on the language model only: nothing in the vision tower needs a backward pass.
    assert seen and seen[0] == (scope != "language")
