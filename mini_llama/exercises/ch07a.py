"""Checks for chapter 07a (the training layer): the learning-rate schedule, and gradient clipping by the global norm.

Plain module, taught by no chapter: `mini_llama.exercises` explains how a check reports.
"""

import torch

import mini_llama.training as training
from mini_llama.exercises import ExerciseError, exercise, expect, expect_close, expect_equal

__all__ = ["check_lr_at", "check_clip_by_global_norm"]

SCHEDULES = [
    ("the course's default", training.OptimConfig()),
    ("the paper's 2000 warm-up steps", training.OptimConfig(max_steps=10_000, lr=3e-4, warmup_steps=2000)),
    ("no warm-up, decay to 0", training.OptimConfig(max_steps=50, lr=1.0, warmup_steps=0, min_lr_ratio=0.0)),
    ("one warm-up step", training.OptimConfig(max_steps=20, lr=0.5, warmup_steps=1, min_lr_ratio=0.25)),
]


@exercise("Exercise 1 (the learning-rate schedule)")
def check_lr_at(lr_at) -> None:
    """`lr_at(step, cfg) -> float`: linear warm-up, cosine decay to min_lr_ratio of the peak, flat after max_steps."""
    for name, cfg in SCHEDULES:
        # every warm-up step near its ends, the decay's start, middle and end, and past the end
        steps = sorted(({0, 1, 2, cfg.warmup_steps - 1, cfg.warmup_steps, cfg.warmup_steps + 1,
                        (cfg.warmup_steps + cfg.max_steps) // 2, cfg.max_steps - 1, cfg.max_steps,
                        cfg.max_steps + 1, 2 * cfg.max_steps} | set(range(0, 2 * cfg.max_steps, 7))) - {-1})
        for step in steps:
            got, want = lr_at(step, cfg), training.lr_at(step, cfg)
            phase = "warm-up" if step < cfg.warmup_steps else "cosine decay" if step <= cfg.max_steps else \
                "after max_steps"
            if not isinstance(got, float | int) or abs(got - want) > 1e-9 * cfg.lr:
                raise ExerciseError(f"schedule '{name}' (lr={cfg.lr}, warmup_steps={cfg.warmup_steps}, max_steps="
                                    f"{cfg.max_steps}, min_lr_ratio={cfg.min_lr_ratio}), step {step} ({phase}): "
                                    f"got {got!r}, expected {want!r}")


def gradient_cases() -> list[tuple[str, list[torch.Tensor], float]]:
    "Gradients of a few shapes, with a global norm far above, just above, and below the threshold."
    generator = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (5,), (2, 2, 2)]
    grads = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    norm = float(torch.cat([g.flatten() for g in grads]).norm())
    return [("a global norm 10x the threshold", [g * 10 for g in grads], norm),
            ("one tensor large, the others small", [grads[0] * 100, grads[1] * 1e-3, grads[2] * 1e-3], 1.0),
            ("a global norm just below the threshold: unchanged", grads, norm * 1.01),
            ("a single tensor", [grads[1]], 0.5)]


@exercise("Exercise 2 (clipping by the global norm)")
def check_clip_by_global_norm(clip_by_global_norm) -> None:
    """`clip_by_global_norm(grads: list[Tensor], max_norm) -> (clipped: list[Tensor], total_norm: float)`, the inputs
    left as they were, as `torch.nn.utils.clip_grad_norm_` computes them (with its 1e-6)."""
    for name, grads, max_norm in gradient_cases():
        originals = [g.clone() for g in grads]
        clipped, total = clip_by_global_norm(grads, max_norm)
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in originals]
        for p, g in zip(params, originals, strict=True):
            p.grad = g.clone()
        want_total = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        what = f"case '{name}', max_norm {max_norm:.4g}"
        expect(all(torch.equal(g, o) for g, o in zip(grads, originals, strict=True)),
               f"{what}: the input gradients were changed; return clipped copies")
        expect_equal(f"{what}: the number of clipped tensors", len(clipped), len(grads))
        expect(abs(float(total) - want_total) <= 1e-9 * want_total,
               f"{what}: the total norm is {float(total):.6g}, expected {want_total:.6g} (the norm of all the "
               f"gradients as one vector)")
        for i, (got, p) in enumerate(zip(clipped, params, strict=True)):
            expect_close(f"{what}: clipped gradient {i}", got, p.grad, atol=1e-12, rtol=1e-9)
