"""Checks for chapter 05a's exercises (the model: blocks, the Transformer, the official configurations).

Plain module, taught by no chapter: `mini_llama.exercises` explains how a check reports.
"""

import torch

from mini_llama.config import ModelArgs
from mini_llama.exercises import ExerciseError, exercise, expect, expect_close, expect_equal
from mini_llama.model import Transformer, TransformerBlock, count_parameters

__all__ = ["check_post_norm_block", "check_tie_embeddings"]


def _post_norm_reference(block: TransformerBlock, x: torch.Tensor, freqs_cis: torch.Tensor) -> torch.Tensor:
    "The original Transformer's order with Llama's sub-layers: normalise after each residual addition."
    h = block.attention_norm(x + block.attention(x, freqs_cis))
    return block.ffn_norm(h + block.feed_forward(h))


def _random_model(seed: int) -> Transformer:
    "The `tiny` preset with random weights, norms included (ones would hide a norm applied in the wrong place)."
    generator = torch.Generator().manual_seed(seed)
    model = Transformer(ModelArgs.from_name("tiny")).init_weights(generator=generator)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.5 * torch.rand(p.shape, generator=generator))
    return model


@exercise("Exercise 1 (the post-norm block)")
def check_post_norm_block(post_norm_block) -> None:
    "`post_norm_block(block, x, freqs_cis)` must run `block`'s sub-layers in the post-norm order."
    model = _random_model(seed=0)
    generator = torch.Generator().manual_seed(1)
    for layer_id, block in enumerate(model.layers):
        for seqlen in (1, 9):
            x = 3 * torch.randn(2, seqlen, model.params.dim, generator=generator)  # a stream far from unit RMS
            freqs_cis = model.freqs_cis[:seqlen]
            with torch.no_grad():
                got = post_norm_block(block, x, freqs_cis)
                want = _post_norm_reference(block, x, freqs_cis)
                pre_norm = block(x, freqs_cis)
            case = f"layer {layer_id}, x of shape {tuple(x.shape)}"
            if isinstance(got, torch.Tensor) and got.shape == pre_norm.shape and torch.allclose(got, pre_norm):
                raise ExerciseError(f"{case}: this is the pre-norm block (Llama's own order); post-norm normalises "
                                    f"after each residual addition, not before each sub-layer")
            expect_close(case, got, want, atol=1e-5, rtol=1e-4)


@exercise("Exercise 2 (tied embeddings)")
def check_tie_embeddings(tie) -> None:
    "`tie(model) -> int` must make output and embedding one Parameter and return how many weights that saves."
    for name, args in {"tiny": ModelArgs.from_name("tiny"),
                       "dim=96, vocab 100": ModelArgs(dim=96, n_layers=1, n_heads=6, vocab_size=100)}.items():
        model = Transformer(args).init_weights(generator=torch.Generator().manual_seed(2))
        before = count_parameters(model)
        saved = tie(model)
        expect(model.output.weight is model.tok_embeddings.weight,
               f"{name}: model.output.weight is not the same Parameter as model.tok_embeddings.weight (equal "
               f"values are not enough: training would update the two copies apart)")
        expect_equal(f"{name}: the return value (weights saved)", saved, before - count_parameters(model))
        with torch.no_grad():  # the tied model still runs: one logit per vocabulary entry
            logits = model(torch.arange(8)[None])
        expect_equal(f"{name}: logits shape of the tied model", tuple(logits.shape), (1, 8, args.vocab_size))
