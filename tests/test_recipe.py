"""The main job: every stage measured by the same harness, a scoreboard printed and a report written."""

import torch

from mini_llama import recipe
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.tokenizer import course_tokenizer


def untrained_model() -> Transformer:
    torch.manual_seed(0)
    args = ModelArgs.from_name("tiny", vocab_size=course_tokenizer().n_words, max_seq_len=256)
    return Transformer(args).init_weights().eval()


def test_the_recipe_scores_every_stage_prints_the_scoreboard_and_writes_the_report(tmp_path, capsys):
    stages = [recipe.Stage("base (few-shot)", untrained_model, "few-shot"), recipe.Stage("SFT", untrained_model)]
    board, passed = recipe.run(tmp_path, stages)
    assert [row.stage for row in board] == ["base (few-shot)", "SFT"]
    assert not passed  # an untrained model helps no one: the recipe's aims are not met, and it says so
    assert board[1].helpfulness < recipe.SFT_HELPFULNESS_AIM
    printed, report = capsys.readouterr().out, (tmp_path / "README.md").read_text()
    assert board.markdown() in printed and board.markdown() in report
    assert f"NOT MET: SFT gold helpfulness {board[1].helpfulness:.3f} >= 0.8" in report
    assert "![scoreboard](scoreboard.png)" in report and (tmp_path / "scoreboard.png").stat().st_size > 10_000
