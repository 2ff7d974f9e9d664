"""Pretraining: packing, evaluation, exact resume, a NaN stop that keeps the last checkpoint."""

import dataclasses
import itertools

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.data import iter_documents, make_world
from mini_llama.model import Transformer
from mini_llama.pretrain import PackedStream, TrainConfig, evaluate, train
from mini_llama.shelf import course_tokenizer
from mini_llama.training import OptimConfig

TOK = course_tokenizer()
WORLD = make_world(0)


def stream(seq_len=32, split="train") -> PackedStream:
    return PackedStream(lambda: iter_documents(WORLD, split=split, seed=0), TOK, seq_len)


def tiny_model(seed=0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelArgs.from_name("tiny", vocab_size=TOK.n_words, max_seq_len=64)).init_weights()


def test_packing_keeps_every_token_once_and_every_document_whole():
    s = stream(seq_len=31)
    rows = [s.next_row() for _ in range(50)]
    assert all(len(r) == 32 for r in rows)
    flat = [t for r in rows for t in r]
    docs = itertools.islice(iter_documents(WORLD, seed=0), s.docs_read)
    expected = [t for d in docs for t in TOK.encode(d, bos=True, eos=True)]
    assert flat == expected[: len(flat)] and expected[len(flat):] == s.buffer
    marks = [t for t in flat if t in (TOK.bos_id, TOK.eos_id)]  # documents whole: bos, eos, bos, eos, ...
    assert marks[::2] == [TOK.bos_id] * len(marks[::2]) and marks[1::2] == [TOK.eos_id] * len(marks[1::2])


def test_stream_position_round_trips():
    a = stream()
    a.next_batch(7)
    b = stream()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.next_batch(5), b.next_batch(5))


CFG = TrainConfig(OptimConfig(max_steps=8, warmup_steps=2, lr=3e-3), batch_size=4, seq_len=32, checkpoint_every=100,
                  eval_every=4, eval_batches=1)


def test_evaluate_reads_the_stream_from_its_start_every_time():
    model, valid = tiny_model(), stream(split="valid")
    first = evaluate(model, valid, batch_size=4, n_batches=2)
    assert evaluate(model, valid, batch_size=4, n_batches=2) == first  # not the batches after the first call's
    assert evaluate(model, stream(split="valid"), batch_size=4, n_batches=2) == first
    valid.next_batch(3)  # a stream read elsewhere is rewound too
    assert evaluate(model, valid, batch_size=4, n_batches=2) == first


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = tiny_model()
    train(whole, CFG, stream(), tmp_path / "whole", progress=False)
    first = tiny_model()
    train(first, CFG, stream(), tmp_path / "split", stop_at=4, progress=False)
    resumed = tiny_model(seed=123)  # other weights: everything must come from the checkpoint
    history = train(resumed, CFG, stream(), tmp_path / "split", resume=True, progress=False)
    assert [h["step"] for h in history] == [5, 6, 7, 8]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 8


def test_a_crashed_run_resumes_from_its_last_checkpoint_and_logs_each_step_once(tmp_path, monkeypatch):
    import json

    import mini_llama.pretrain as pretrain

    cfg = dataclasses.replace(CFG, checkpoint_every=3)
    whole = tiny_model()
    train(whole, cfg, stream(), tmp_path / "whole", progress=False)
    save = pretrain.save_checkpoint

    def crash_at_step_6(path, model, optimizer, step, *args):
        if step == 6:
            raise KeyboardInterrupt("the machine went away")
        save(path, model, optimizer, step, *args)

    monkeypatch.setattr(pretrain, "save_checkpoint", crash_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), cfg, stream(), tmp_path / "crash", progress=False)
    monkeypatch.setattr(pretrain, "save_checkpoint", save)
    assert torch.load(tmp_path / "crash" / "checkpoint.pt", weights_only=True)["step"] == 3  # steps 4-6 are lost
    resumed = tiny_model(seed=1)
    train(resumed, cfg, stream(), tmp_path / "crash", resume=True, progress=False)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    lines = (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 9))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    cfg = dataclasses.replace(CFG, checkpoint_every=2)
    train(tiny_model(), cfg, stream(), tmp_path, stop_at=2, progress=False)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    # step 2's update makes the weights infinite
    exploding = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr=float("inf")))
    with pytest.raises(FloatingPointError, match=r"nan at step 3.*checkpoint.pt, is left as it was"):
        train(tiny_model(), exploding, stream(), tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_help_explains_the_flags(capsys):
    from mini_llama.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--config", "--data", "--steps", "--batch-size", "--lr", "--resume", "--strategy", "--compile",
                 "--activation-checkpointing", "torchrun", "0.95"):
        assert flag in text, flag


def test_cli_resume_continues_from_the_saved_step_and_data_position(tmp_path):
    import json

    from mini_llama.cli import main

    flags = ["pretrain", "--batch-size", "2", "--seq-len", "32", "--warmup-steps", "1", "--steps", "4"]
    main([*flags, "--out", str(tmp_path / "once")])
    main([*flags[:-1], "2", "--out", str(tmp_path / "twice")])
    main([*flags, "--out", str(tmp_path / "twice"), "--resume"])
    once, twice = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True) for d in ("once", "twice"))
    assert twice["step"] == 4 and once["data"] == twice["data"]
    lines = (tmp_path / "twice" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
