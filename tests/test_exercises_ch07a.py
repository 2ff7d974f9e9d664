"""Chapter 07a's exercise checks accept right answers, name what is wrong in realistic wrong ones, and say "not solved
yet" for an untouched exercise."""

import math

import pytest
import torch

import mini_llama.training as training
from mini_llama.exercises import ExerciseError
from mini_llama.exercises.ch07a import check_clip_by_global_norm, check_lr_at


def not_solved(*args):
    raise NotImplementedError


def schedule(step, cfg, warmup_from_zero=False, floor=True, clamp=True, decay_from_zero=False):
    "Warm-up and cosine decay written out; the keywords let a test make the usual mistakes."
    if step < cfg.warmup_steps:
        return cfg.lr * (step if warmup_from_zero else step + 1) / cfg.warmup_steps
    start = 0 if decay_from_zero else cfg.warmup_steps
    progress = (step - start) / max(1, cfg.max_steps - start)
    progress = min(1.0, progress) if clamp else progress
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    ratio = cfg.min_lr_ratio if floor else 0.0
    return cfg.lr * (ratio + (1 - ratio) * cosine)


def test_lr_at_accepts(capsys):
    check_lr_at(training.lr_at)
    check_lr_at(schedule)
    assert capsys.readouterr().out.splitlines() == ["Exercise 1 (the learning-rate schedule): correct"] * 2


@pytest.mark.parametrize("mistake, message", [
    ({"warmup_from_zero": True}, r"step 0 \(warm-up\): got 0\.0"),
    ({"floor": False}, r"\(cosine decay\)"),
    ({"clamp": False}, r"\(after max_steps\)"),
    ({"decay_from_zero": True}, r"step 100 \(cosine decay\)"),
])
def test_lr_at_rejects(mistake, message):
    with pytest.raises(ExerciseError, match=message):
        check_lr_at(lambda step, cfg: schedule(step, cfg, **mistake))


def clip(grads, max_norm):
    total = float(torch.cat([g.flatten() for g in grads]).norm())
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total


def per_tensor(grads, max_norm):
    "Clips each tensor to max_norm by its own norm: the direction of the whole gradient changes."
    clipped = [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]
    return clipped, float(torch.cat([g.flatten() for g in grads]).norm())


def always_rescaled(grads, max_norm):
    "Scales every gradient to norm max_norm, small ones up too."
    total = float(torch.cat([g.flatten() for g in grads]).norm())
    return [g * max_norm / (total + 1e-6) for g in grads], total


def in_place(grads, max_norm):
    clipped, total = clip(grads, max_norm)
    for g, c in zip(grads, clipped, strict=True):
        g.copy_(c)
    return grads, total


def norm_after_clipping(grads, max_norm):
    clipped, _ = clip(grads, max_norm)
    return clipped, float(torch.cat([g.flatten() for g in clipped]).norm())


def test_clip_accepts(capsys):
    check_clip_by_global_norm(clip)
    assert capsys.readouterr().out.strip() == "Exercise 2 (clipping by the global norm): correct"


@pytest.mark.parametrize("wrong, message", [
    (per_tensor, "10x the threshold.*clipped gradient 0: 12 of 12 values differ"),
    (always_rescaled, "just below the threshold: unchanged.*clipped gradient 0"),
    (in_place, "input gradients were changed"),
    (norm_after_clipping, "the total norm is"),
])
def test_clip_rejects(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_clip_by_global_norm(wrong)


@pytest.mark.parametrize("check", [check_lr_at, check_clip_by_global_norm])
def test_not_solved_yet(check, capsys):
    check(not_solved)
    assert "not solved yet" in capsys.readouterr().out
