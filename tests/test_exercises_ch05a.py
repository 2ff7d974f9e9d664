"""Chapter 05a's exercise checks accept a correct answer, reject realistic wrong ones by name, and report an
unsolved exercise as such."""

import pytest
import torch

from mini_llama.exercises import ExerciseError, ch05a


def post_norm(block, x, freqs_cis):
    h = block.attention_norm(x + block.attention(x, freqs_cis))
    return block.ffn_norm(h + block.feed_forward(h))


def tie(model):
    saved = model.output.weight.numel()
    model.output.weight = model.tok_embeddings.weight
    return saved


def unsolved(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, answer", [(ch05a.check_post_norm_block, post_norm),
                                           (ch05a.check_tie_embeddings, tie)])
def test_correct_answers_pass(check, answer, capsys):
    check(answer)
    assert capsys.readouterr().out.endswith(": correct\n")


@pytest.mark.parametrize("check", [ch05a.check_post_norm_block, ch05a.check_tie_embeddings])
def test_unsolved_is_reported_not_raised(check, capsys):
    check(unsolved)
    assert "not solved yet" in capsys.readouterr().out


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
