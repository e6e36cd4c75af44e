"""Shared-prefix label scoring must give exactly the log-likelihoods of the slow, obvious method."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText, AutoProcessor

from shuttlesense.data.video_io import DecodedClip, decode_frames
from shuttlesense.inference import scoring
from shuttlesense.inference.conversation import answer_token_ids
from shuttlesense.labels import class_names
from shuttlesense.synthetic.tiny_models import FAMILIES
from shuttlesense.training.model_utils import LORA_TARGETS

ATOL = 1e-4


@pytest.fixture(scope="module")
def clip(synthetic_source: Path) -> DecodedClip:
    path = sorted(synthetic_source.rglob("*.mp4"))[0]
    return decode_frames(path, num_frames=16, max_pixels=448 * 448)


def _load(model_dir: Path, attn: str = "sdpa"):
    model = AutoModelForImageTextToText.from_pretrained(model_dir, attn_implementation=attn).eval()
    return model, AutoProcessor.from_pretrained(model_dir)


def _candidates(processor, language: str) -> list[list[int]]:
    return [answer_token_ids(processor, language, name) for name in class_names(language)]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("family", FAMILIES)
def test_shared_prefix_equals_naive(tiny_model_dirs, clip, family, language, attn):
    model, processor = _load(tiny_model_dirs[family], attn)
    candidates = _candidates(processor, language)
    if language == "en":
        assert max(map(len, candidates)) >= 4, "English names should give multi-token candidates"
    shared = scoring.score_candidates(model, processor, clip, candidates, language)
    naive = scoring.naive_scores(model, processor, clip, candidates, language)
    assert shared.shape == (18,) and shared.dtype == torch.float32
    torch.testing.assert_close(shared, naive, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_naive_equals_one_by_one(tiny_model_dirs, clip, family):
    model, processor = _load(tiny_model_dirs[family])
    candidates = _candidates(processor, "en")
    one_by_one = scoring.naive_scores(model, processor, clip, candidates, "en")
    batched = scoring.naive_scores(model, processor, clip, candidates, "en", batched=True)
    torch.testing.assert_close(batched, one_by_one, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_with_lora_adapter(tiny_model_dirs, clip, family):
    """A PEFT-wrapped model (LoRA on language and vision, non-zero B) scores through the wrapper."""
    model, processor = _load(tiny_model_dirs[family])
    candidates = _candidates(processor, "en")
    base_scores = scoring.score_candidates(model, processor, clip, candidates, "en")
    config = LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS["language+vision"])
    peft_model = get_peft_model(model, config).eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    shared = scoring.score_candidates(peft_model, processor, clip, candidates, "en")
    naive = scoring.naive_scores(peft_model, processor, clip, candidates, "en")
    torch.testing.assert_close(shared, naive, atol=ATOL, rtol=0)
    assert (shared - base_scores).abs().max() > 1e-2, "the adapter should change the scores"


def test_prefix_candidates_and_cache_reuse(tiny_model_dirs, clip):
    """Candidates that are prefixes of each other, a one-token candidate, and scoring a prefix twice."""
    model, processor = _load(tiny_model_dirs["qwen3_vl"])
    smash, tap_smash = (
        answer_token_ids(processor, "en", n, include_end=False) for n in ("Smash", "Tap Smash")
    )
    candidates = [smash, smash + tap_smash, [smash[0]], tap_smash, tap_smash[:1] * 3]
    naive = scoring.naive_scores(model, processor, clip, candidates, "en")
    prefix = scoring.prefill(model, scoring.encode_prompt(model, processor, clip, "en"))
    first = scoring.score_from_prefix(model, prefix, candidates)[0]
    assert prefix.cache.get_seq_length() == prefix.length, "the cache must be cropped back to the prefix"
    second = scoring.score_from_prefix(model, prefix, list(reversed(candidates)))[0]
    torch.testing.assert_close(first.cpu(), naive, atol=ATOL, rtol=0)
    torch.testing.assert_close(second.flip(0).cpu(), naive, atol=ATOL, rtol=0)


def test_rope_delta_matters(tiny_model_dirs, clip):
    """Negative control: without the mrope delta the scores are wrong, so the equality tests have teeth."""
    model, processor = _load(tiny_model_dirs["qwen3_vl"])
    candidates = _candidates(processor, "en")
    naive = scoring.naive_scores(model, processor, clip, candidates, "en")
    prefix = scoring.prefill(model, scoring.encode_prompt(model, processor, clip, "en"))
    assert prefix.rope_deltas.tolist() != [0]
    prefix.rope_deltas = torch.zeros_like(prefix.rope_deltas)
    wrong = scoring.score_from_prefix(model, prefix, candidates)[0].cpu()
    assert (wrong - naive).abs().max() > 10 * ATOL


@pytest.fixture(scope="module")
def clips(synthetic_source: Path) -> list[DecodedClip]:
    """Four different clips of one shape (prompts of one length) and one of another shape."""
    paths = sorted(synthetic_source.rglob("*.mp4"))
    same = [decode_frames(path, num_frames=8, max_pixels=112 * 84) for path in paths[1:5]]
    other = decode_frames(paths[5], num_frames=6, max_pixels=56 * 56)
    return [same[0], same[1], other, same[2], same[3]]


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_scoring_equals_one_clip_at_a_time(tiny_model_dirs, clips, family):
    """One prefill per batch and one packed forward for every candidate of every clip: the same
    log-probabilities as clip by clip (fp32), with a clip of another shape scored apart."""
    model, processor = _load(tiny_model_dirs[family])
    candidates = _candidates(processor, "en")
    one_by_one = torch.stack([scoring.score_candidates(model, processor, c, candidates, "en") for c in clips])
    batched = scoring.score_clips(model, processor, clips, candidates, "en", batch_size=4)
    assert batched.shape == (5, 18)
    assert (batched - one_by_one).abs().max() < 1e-4
    assert (one_by_one[0] - one_by_one[1]).abs().max() > 1e-3, "different clips must score differently"
    with pytest.raises(ValueError, match="different lengths"):
        prompts = [scoring.encode_prompt(model, processor, c, "en") for c in clips[1:3]]
        scoring.stack_prompts(prompts)


def test_generate_answer_returns_text(tiny_model_dirs, clip):
    model, processor = _load(tiny_model_dirs["qwen2_vl"])
    text = scoring.generate_answer(model, processor, clip, "zh", max_new_tokens=4)
    assert isinstance(text, str)


def test_rejects_non_mrope_model():
    with pytest.raises(TypeError, match="Qwen-VL"):
        scoring._rope_holder(torch.nn.Linear(2, 2))


def test_scoring_passes_the_cache_by_its_current_name(tiny_model_dirs, clip):
    """transformers 5.24 deprecates `past_key_values` for `cache` (removed in 5.40): no warning from us."""
    model, processor = _load(tiny_model_dirs["qwen2_5_vl"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scoring.score_candidates(model, processor, clip, _candidates(processor, "en"), "en")
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def test_a_clip_encoded_ahead_arrives_in_the_model_dtype_and_scores_the_same(tiny_model_dirs, clip):
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    recognizer = QwenVLActionRecognizer(
        str(tiny_model_dirs["qwen2_5_vl"]), device="cpu", dtype="bfloat16", language="en", num_frames=4
    )
    encoded = recognizer.prompt_encoder(clip)  # what a decode worker ships: half the bytes in bf16
    assert encoded.inputs["pixel_values_videos"].dtype == torch.bfloat16
    assert encoded.inputs["input_ids"].dtype == torch.long
    with torch.inference_mode():
        ahead, here = recognizer.class_log_likelihoods(encoded), recognizer.class_log_likelihoods(clip)
    assert torch.equal(ahead, here)
