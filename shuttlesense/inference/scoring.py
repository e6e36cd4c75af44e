"""Score the 18 class names as the assistant's answer: the video is encoded once, not 18 times.

Classification asks "how likely is each class name as the answer?", never "what does the model
write?", so the answer is always one of the 18 classes and comes with usable probabilities.
`score_candidates` runs the vision tower and the prompt once (a prefill that fills the KV cache),
then continues from that shared prefix with all candidates packed into ONE batch-1 forward:

* a 4-D additive mask lets every candidate token see the whole prefix and the earlier tokens of
  its own candidate, nothing of the others (works with sdpa and eager, not flash-attention-2);
* positions are explicit mrope `position_ids` of shape (3, 1, Q): ``prefix_len + offset +
  rope_deltas``. `rope_deltas` is read from the model right after the prefill (every prefill
  overwrites it); leaving it out is silently wrong (up to 0.2 in log-prob on Qwen3-VL);
* the cache is cropped back to the prefix afterwards (`cache.crop(-Q)`), so it can be reused.

`naive_scores` (one full forward per candidate, or one batch of copies) is the slow reference the
tests compare against; `generate_answer` is greedy free generation, kept for comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import BatchFeature, ProcessorMixin

from shuttlesense.data.video_io import DecodedClip
from shuttlesense.inference.conversation import prompt_text, turn_end_token_id, video_processor_kwargs

logger = logging.getLogger(__name__)

Candidates = Sequence[Sequence[int]]


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The `*ForConditionalGeneration` inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _rope_holder(model: torch.nn.Module) -> torch.nn.Module:
    """The inner Qwen-VL model that stores `rope_deltas` after each prefill."""
    inner = getattr(unwrap_model(model), "model", None)
    if inner is None or not hasattr(inner, "rope_deltas"):
        raise TypeError(
            f"{type(unwrap_model(model)).__name__} is not a Qwen-VL model with mrope (no `model.rope_deltas`); "
            "shared-prefix scoring supports Qwen2-VL, Qwen2.5-VL and Qwen3-VL."
        )
    return inner


def _device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    return param.device, param.dtype


def _check_eval(model: torch.nn.Module) -> None:
    if model.training:
        logger.warning("Scoring a model in training mode: dropout makes scores random; call model.eval().")


def encode_prompt(
    model: torch.nn.Module, processor: ProcessorMixin, clip: DecodedClip | EncodedClip, language: str
) -> BatchFeature:
    """Processor inputs for video + prompt (up to the assistant header), on the model's device/dtype.

    Uses the same rendering and video metadata as the training collator, so positions and
    timestamps match what the model was trained on. An `EncodedClip` was processed already.
    """
    device, dtype = _device_dtype(model)
    encoded = clip if isinstance(clip, EncodedClip) else PromptEncoder(processor, language, dtype)(clip)
    return _pixels_as(BatchFeature(dict(encoded.inputs)).to(device), dtype)


@dataclass
class EncodedClip:
    """A clip already turned into the processor's inputs (on the CPU, pixels in the model's
    dtype): what is left for the model is only the forward passes."""

    inputs: BatchFeature


@dataclass
class PromptEncoder:
    """Clip -> `EncodedClip`: the processor's share of the work, which needs no model, so decode
    workers can do it while the model scores the clips before (`clip_stream.decode_ahead`).

    Pixels are cast to `dtype` (the model's) here, as `encode_prompt` would: in bf16 a clip
    crosses from a worker in half the bytes, and the model's process has one step less.
    """

    processor: ProcessorMixin
    language: str
    dtype: torch.dtype = torch.float32

    def __call__(self, clip: DecodedClip) -> EncodedClip:
        inputs = self.processor(
            text=[prompt_text(self.processor, self.language)],
            videos=[clip.frames],
            return_tensors="pt",
            **video_processor_kwargs(self.processor, [clip]),
        )
        return EncodedClip(_pixels_as(inputs, self.dtype))


def _pixels_as(inputs: BatchFeature, dtype: torch.dtype) -> BatchFeature:
    """`inputs` with their floating pixel tensors in `dtype` (token ids and grids untouched)."""
    for key in ("pixel_values_videos", "pixel_values"):
        if key in inputs and inputs[key].is_floating_point():
            inputs[key] = inputs[key].to(dtype)
    return inputs


def stack_prompts(prompts: Sequence[BatchFeature]) -> BatchFeature:
    """One batch from one-clip prompts of equal length: every tensor (token rows, and the
    per-video patches, grids and timings) is concatenated along its first axis."""
    if len({int(p["input_ids"].shape[1]) for p in prompts}) != 1:
        raise ValueError("Prompts of different lengths cannot be stacked without padding.")
    return BatchFeature({key: torch.cat([p[key] for p in prompts]) for key in prompts[0]})


@dataclass
class Prefix:
    """Prefilled prompts (one row each): their KV cache, next-token log-probs, length and mrope deltas."""

    cache: object  # transformers Cache holding exactly `length` tokens per row between uses
    next_log_probs: torch.Tensor  # (rows, vocab) float32: log p(first answer token | prompt)
    length: int
    rope_deltas: torch.Tensor  # (rows,) long


@torch.no_grad()
def prefill(model: torch.nn.Module, inputs: BatchFeature) -> Prefix:
    """Run video + prompt once with `use_cache=True`; keep only the last position's logits.

    Several rows must have the same length (same frame count and size): no padding, so every
    row's positions and cache are exactly what a one-row prefill gives.
    """
    attention = inputs.get("attention_mask")
    if attention is not None and not bool(attention.all()):
        raise ValueError(
            "prefill takes prompts of one length (no padding); group clips by frame count and size."
        )
    _check_eval(model)
    out = model(**inputs, use_cache=True, logits_to_keep=1)
    rows = int(inputs["input_ids"].shape[0])
    deltas = _rope_holder(model).rope_deltas  # set by this very forward; read before anything else runs
    rope_deltas = (
        deltas.reshape(-1)[:rows].long() if deltas is not None else torch.zeros(rows, dtype=torch.long)
    )
    log_probs = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
    return Prefix(out.cache, log_probs, int(inputs["input_ids"].shape[1]), rope_deltas.to(log_probs.device))


def _packed_inputs(
    prefix: Prefix, candidates: Candidates, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """input_ids (rows, Q), position_ids (3, rows, Q), additive mask (rows, 1, Q, P + Q) and each
    candidate's start.

    Each candidate feeds all but its last token (the last one is only predicted, never attended).
    """
    rows = prefix.next_log_probs.shape[0]
    fed = [list(c[:-1]) for c in candidates]
    starts, offsets, owner = [], [], []
    for index, tokens in enumerate(fed):
        starts.append(len(offsets))
        offsets += range(len(tokens))
        owner += [index] * len(tokens)
    ids = torch.tensor([[t for tokens in fed for t in tokens]], device=device).expand(rows, -1)
    offset = torch.tensor(offsets, device=device)
    positions = prefix.length + prefix.rope_deltas.to(device)[:, None] + offset[None, :]
    owner_t = torch.tensor(owner, device=device)
    visible = (owner_t[:, None] == owner_t[None, :]) & (offset[:, None] >= offset[None, :])
    block = torch.zeros(visible.shape, dtype=dtype, device=device).masked_fill(
        ~visible, torch.finfo(dtype).min
    )
    mask = torch.cat([torch.zeros(len(owner), prefix.length, dtype=dtype, device=device), block], dim=1)
    return ids, positions[None].expand(3, -1, -1), mask[None, None].expand(rows, -1, -1, -1), starts


@torch.no_grad()
def score_from_prefix(model: torch.nn.Module, prefix: Prefix, candidates: Candidates) -> torch.Tensor:
    """Sum log-prob of each candidate continuing each prefilled row, (rows, len(candidates)): all
    candidates of all rows in one packed forward.

    The prefix cache is cropped back to its own length afterwards, so it can be scored again.
    """
    if not candidates or any(len(c) == 0 for c in candidates):
        raise ValueError("Every candidate needs at least one token.")
    scores = torch.stack([prefix.next_log_probs[:, c[0]] for c in candidates], dim=1)
    queries = sum(len(c) - 1 for c in candidates)
    if queries == 0:
        return scores
    device, dtype = _device_dtype(model)
    ids, positions, mask, starts = _packed_inputs(prefix, candidates, device, dtype)
    try:
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=prefix.cache,
            use_cache=True,
        )
    finally:
        seen = prefix.cache.get_seq_length()
        if seen > prefix.length:
            prefix.cache.crop(prefix.length - seen)
    log_probs = torch.log_softmax(out.logits.float(), dim=-1)  # (rows, Q, vocab)
    extra = []
    for candidate, start in zip(candidates, starts, strict=True):
        picked = log_probs[:, start : start + len(candidate) - 1]
        targets = torch.tensor(candidate[1:], device=picked.device)
        extra.append(picked.gather(2, targets[None, :, None].expand(picked.shape[0], -1, 1)).sum(dim=(1, 2)))
    return scores + torch.stack(extra, dim=1).to(scores.device)


@torch.no_grad()
def score_candidates(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    clip: DecodedClip | EncodedClip,
    candidates: Candidates,
    language: str = "zh",
) -> torch.Tensor:
    """Sum log-prob (float32, shape (len(candidates),)) of each candidate token sequence as the answer.

    One prefill over video + prompt, then one packed forward over all candidates (module docstring).
    Candidates should end with `<|im_end|>` (`answer_token_ids`), which also settles names that are
    prefixes of others ("Smash" vs "Tap Smash" differ in where the turn ends).
    """
    prefix = prefill(model, encode_prompt(model, processor, clip, language))
    return score_from_prefix(model, prefix, candidates)[0].cpu()


@torch.no_grad()
def score_clips(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    clips: Sequence[DecodedClip | EncodedClip],
    candidates: Candidates,
    language: str = "zh",
    batch_size: int = 8,
) -> torch.Tensor:
    """`score_candidates` for many clips, (len(clips), len(candidates)): clips whose prompts have
    the same length (the usual case: same frame count and size) go `batch_size` at a time through
    one prefill, then every candidate of every clip of the batch in one packed forward.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    prompts = [encode_prompt(model, processor, clip, language) for clip in clips]
    by_length: dict[int, list[int]] = {}
    for index, prompt in enumerate(prompts):
        by_length.setdefault(int(prompt["input_ids"].shape[1]), []).append(index)
    scores = torch.empty(len(clips), len(candidates))
    for members in by_length.values():
        for start in range(0, len(members), batch_size):
            group = members[start : start + batch_size]
            prefix = prefill(model, stack_prompts([prompts[i] for i in group]))
            scores[group] = score_from_prefix(model, prefix, candidates).cpu().float()
    return scores


def _pad_id(processor: ProcessorMixin) -> int:
    tokenizer = processor.tokenizer
    return int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else turn_end_token_id(processor))


@torch.no_grad()
def naive_scores(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    clip: DecodedClip,
    candidates: Candidates,
    language: str = "zh",
    batched: bool = False,
) -> torch.Tensor:
    """Reference scores: each candidate appended to the full prompt, video and all, no cache.

    `batched=False` runs one full forward per candidate; `batched=True` one right-padded batch of
    len(candidates) copies. Positions come from the model's own `get_rope_index`, so this path
    checks the explicit positions of `score_candidates` independently.
    """
    _check_eval(model)
    inputs = encode_prompt(model, processor, clip, language)
    groups = [list(range(len(candidates)))] if batched else [[i] for i in range(len(candidates))]
    scores = torch.empty(len(candidates))
    for group in groups:
        batch = _copies(inputs, [candidates[i] for i in group], _pad_id(processor))
        width = max(len(candidates[i]) for i in group)
        logits = model(**batch, use_cache=False, logits_to_keep=width + 1).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1)
        prompt_len = inputs["input_ids"].shape[1]
        total_len = batch["input_ids"].shape[1]
        for row, index in enumerate(group):
            tokens = candidates[index]
            # logits_to_keep keeps positions total_len - width - 1 ... total_len - 1
            first = prompt_len - 1 - (total_len - width - 1)
            rows = log_probs[row, first : first + len(tokens)]
            targets = torch.tensor(list(tokens), device=rows.device)
            scores[index] = rows.gather(1, targets[:, None]).sum().cpu()
    return scores


def _copies(inputs: BatchFeature, candidates: Candidates, pad_id: int) -> dict[str, torch.Tensor]:
    """len(candidates) copies of the prompt, each followed by its candidate, padded on the right."""
    prompt_ids = inputs["input_ids"][0]
    device = prompt_ids.device
    width = max(len(c) for c in candidates)
    ids = torch.full(
        (len(candidates), len(prompt_ids) + width), pad_id, dtype=prompt_ids.dtype, device=device
    )
    attention = torch.zeros_like(ids)
    for row, tokens in enumerate(candidates):
        length = len(prompt_ids) + len(tokens)
        ids[row, : len(prompt_ids)] = prompt_ids
        ids[row, len(prompt_ids) : length] = torch.tensor(list(tokens), device=device)
        attention[row, :length] = 1
    batch = {"input_ids": ids, "attention_mask": attention}
    if "mm_token_type_ids" in inputs:
        types = torch.zeros_like(ids, dtype=inputs["mm_token_type_ids"].dtype)
        types[:, : len(prompt_ids)] = inputs["mm_token_type_ids"][0]
        batch["mm_token_type_ids"] = types
    n = len(candidates)
    for key in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts"):
        if key in inputs:  # one video per row: repeat the per-video tensors n times
            batch[key] = torch.cat([inputs[key]] * n)
    return batch


@torch.no_grad()
def generate_answer(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    clip: DecodedClip,
    language: str = "zh",
    max_new_tokens: int = 16,
) -> str:
    """Greedy free generation of the answer (stops at `<|im_end|>`); for comparison with scoring."""
    _check_eval(model)
    inputs = encode_prompt(model, processor, clip, language)
    end_id = turn_end_token_id(processor)
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=end_id,
        pad_token_id=_pad_id(processor),
    )
    new_tokens = output[0, inputs["input_ids"].shape[1] :]
    return processor.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
