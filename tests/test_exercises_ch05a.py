"""Chapter 05a's exercise checks accept a correct answer, reject realistic wrong ones by name, and report an
unsolved exercise as such."""

import pytest
import torch

from mini_llama import layers
from mini_llama.exercises import ExerciseError, ch05a


def count_by_formula(args, n_kv_heads=None):
    "Per layer: wq, wo (d x d), wk, wv (d x n_kv hd), SwiGLU's three matrices, two norms; then embedding, output, norm."
    n_kv_heads = n_kv_heads or args.n_kv_heads
    hidden = layers.ffn_hidden_dim(args.dim, args.multiple_of, args.ffn_dim_multiplier)
    per_layer = 2 * args.dim ** 2 + 2 * args.dim * n_kv_heads * args.head_dim + 3 * args.dim * hidden + 2 * args.dim
    return args.n_layers * per_layer + 2 * args.vocab_size * args.dim + args.dim


def post_norm(block, x, freqs_cis):
    h = block.attention_norm(x + block.attention(x, freqs_cis))
    return block.ffn_norm(h + block.feed_forward(h))


def tie(model):
    saved = model.output.weight.numel()
    model.output.weight = model.tok_embeddings.weight
    return saved


def unsolved(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, answer", [(ch05a.check_parameter_formula, count_by_formula),
                                           (ch05a.check_post_norm_block, post_norm),
                                           (ch05a.check_tie_embeddings, tie)])
def test_correct_answers_pass(check, answer, capsys):
    check(answer)
    assert capsys.readouterr().out.endswith(": correct\n")


@pytest.mark.parametrize("check", [ch05a.check_parameter_formula, ch05a.check_post_norm_block,
                                   ch05a.check_tie_embeddings])
def test_unsolved_is_reported_not_raised(check, capsys):
    check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


def test_count_without_gqa_is_named():
    "Counting wk and wv as d x d (MHA) is right for 7B and 13B, wrong at the first configuration with GQA."
    with pytest.raises(ExerciseError, match=r"llama2-7b with n_kv_heads=8: got 6,738,415,616, expected"):
        ch05a.check_parameter_formula(lambda args: count_by_formula(args, n_kv_heads=args.n_heads))


def test_count_without_norms_is_named():
    with pytest.raises(ExerciseError, match=r"llama2-7b: got .* \(off by -266,240, -8,320 per layer"):
        ch05a.check_parameter_formula(lambda args: count_by_formula(args) - (2 * args.n_layers + 1) * args.dim)


def test_float_count_is_refused():
    with pytest.raises(ExerciseError, match="got a float, expected an int"):
        ch05a.check_parameter_formula(lambda args: float(count_by_formula(args)))


def test_pre_norm_answer_is_named():
    with pytest.raises(ExerciseError, match="this is the pre-norm block"):
        ch05a.check_post_norm_block(lambda block, x, freqs_cis: block(x, freqs_cis))


def test_post_norm_missing_final_norm_is_caught():
    def no_second_norm(block, x, freqs_cis):
        h = block.attention_norm(x + block.attention(x, freqs_cis))
        return h + block.feed_forward(h)
    with pytest.raises(ExerciseError, match=r"layer 0, x of shape \(2, 1, 64\): \d+ of 128 values differ"):
        ch05a.check_post_norm_block(no_second_norm)


def test_copied_weights_are_not_tied():
    def copy(model):
        with torch.no_grad():
            model.output.weight.copy_(model.tok_embeddings.weight)
        return model.output.weight.numel()
    with pytest.raises(ExerciseError, match="not the same Parameter"):
        ch05a.check_tie_embeddings(copy)


def test_tie_returning_the_share_is_caught():
    def share(model):
        n = model.output.weight.numel()
        model.output.weight = model.tok_embeddings.weight
        return n / sum(p.numel() for p in model.parameters())
    with pytest.raises(ExerciseError, match=r"tiny: the return value \(weights saved\): got 0\.14"):
        ch05a.check_tie_embeddings(share)
