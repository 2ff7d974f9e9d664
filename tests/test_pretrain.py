"""Pretraining: packing, evaluation, exact resume; a run that survives its users: weights checked after each update,
settings refused by name, another run's folder or recipe refused, two checkpoints kept, a damaged one skipped, the CLI's
one-line endings."""

import dataclasses
import itertools

import pytest
import torch

from mini_llama.config import ModelArgs
from mini_llama.data import iter_documents, make_world
from mini_llama.model import Transformer
from mini_llama.pretrain import (
    PackedStream,
    TrainConfig,
    copy_accuracy,
    copy_probes,
    evaluate,
    name_copy_accuracy,
    train,
)
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


def test_probes_are_logged_beside_each_validation_loss_and_leave_the_run_as_it_would_be(tmp_path):
    plain, probed = tiny_model(), tiny_model()
    train(plain, CFG, stream(), tmp_path / "plain", valid_stream=stream(split="valid"), progress=False)
    seen = []
    probes = copy_probes(TOK, WORLD) | {"mode": lambda model: seen.append(model.training) or 0.5}
    history = train(probed, CFG, stream(), tmp_path / "probed", valid_stream=stream(split="valid"), progress=False,
                    probes=probes)
    logged = [h for h in history if "val_loss" in h]
    assert [h["step"] for h in logged] == [4, 8] and all(set(probes) <= set(h) for h in logged)
    assert not any("mode" in h for h in history if "val_loss" not in h)
    assert seen == [False, False] and probed.training  # read in eval mode, then training goes on
    assert logged[-1]["copy/held-out names"] == name_copy_accuracy(probed, TOK, WORLD.split_people("valid"))
    for (name, a), b in zip(plain.state_dict().items(), probed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # measuring changed nothing in the run


class Oracle(torch.nn.Module):
    """Logits that put each position's argmax on a chosen next token: the true one (`truth`), or the token `lag`
    positions back (a pure copier), or the true one except at the last position."""

    def __init__(self, mode: str, lag: int = 0):
        super().__init__()
        self.mode, self.lag = mode, lag

    def forward(self, tokens):
        wanted = torch.roll(tokens, -1, dims=1)  # the true next token (the last position's is a wrap-around)
        if self.mode == "copier":
            wanted = torch.roll(tokens, self.lag - 1, dims=1)  # the token lag positions before the next one
        if self.mode == "all but the last":
            wanted[:, -2] = (wanted[:, -2] + 1) % TOK.n_words  # the name's last piece, predicted wrong
        return torch.nn.functional.one_hot(wanted, TOK.n_words).float()


def test_the_copy_measures_count_what_is_copied_and_a_name_only_when_every_piece_is():
    assert copy_accuracy(Oracle("truth"), TOK) == (1.0, 1.0)
    first, second = copy_accuracy(Oracle("copier", lag=40), TOK, length=40)  # predicts what came 40 tokens before
    assert second == 1.0 and first < 0.1
    people = WORLD.split_people("valid")
    assert name_copy_accuracy(Oracle("truth"), TOK, people) == 1.0
    assert name_copy_accuracy(Oracle("all but the last"), TOK, people) == 0.0  # every name has two pieces or more
    assert name_copy_accuracy(tiny_model().eval(), TOK, people) == 0.0  # an untrained model copies no name


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


def test_weights_made_infinite_stop_the_run_and_no_checkpoint_keeps_them(tmp_path):
    # lr 1e37 is finite, but the second update overflows float32: the loss before it is finite, the weights after not
    exploding = dataclasses.replace(CFG, optim=OptimConfig(max_steps=8, warmup_steps=0, lr=1e37), checkpoint_every=1)
    with pytest.raises(FloatingPointError) as err:
        train(tiny_model(), exploding, stream(), tmp_path, progress=False)
    assert str(err.value) == ("the weights are not finite after the update at step 1 (learning rate 9.66e+36); the "
                              f"last good checkpoint, {tmp_path / 'checkpoint.pt'}, holds step 1 and is left as it was")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 1 and all(t.isfinite().all() for t in saved["model"].values())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("seq_len", 0), ("eval_every", 0), ("eval_batches", 0),
                                          ("checkpoint_every", -1)])
def test_a_train_config_that_cannot_run_is_refused_naming_the_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    assert str(err.value) == f"TrainConfig.{field} is {value}; expected an integer >= 1"


@pytest.mark.parametrize("change, field, was, now", [
    (dict(batch_size=8), "config.batch_size", 4, 8),
    (dict(seq_len=16), "config.seq_len", 32, 16),
    (dict(optim=OptimConfig(max_steps=8, warmup_steps=2, lr=1e-3)), "config.optim.lr", 0.003, 0.001),
])
def test_a_resume_with_another_recipe_is_refused_naming_the_field_and_both_values(tmp_path, change, field, was, now):
    train(tiny_model(), CFG, stream(), tmp_path, stop_at=2, progress=False)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError) as err:
        train(tiny_model(), dataclasses.replace(CFG, **change), stream(), tmp_path, resume=True, progress=False)
    assert str(err.value) == (f"{tmp_path / 'checkpoint.pt'} was written by a run with {field}={was!r}, but this run "
                              f"has {field}={now!r}: resume with the same settings, or choose another --out")
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved


def test_a_resume_with_another_seed_or_model_is_refused(tmp_path):
    train(tiny_model(), CFG, stream(), tmp_path, stop_at=2, progress=False, recipe={"seed": 0})
    with pytest.raises(ValueError, match=r"with recipe.seed=0, but this run has recipe.seed=1: "):
        train(tiny_model(), CFG, stream(), tmp_path, resume=True, progress=False, recipe={"seed": 1})
    wider = Transformer(ModelArgs.from_name("tiny", vocab_size=TOK.n_words, max_seq_len=128))
    with pytest.raises(ValueError, match=r"model_args.max_seq_len=64, but this run has model_args.max_seq_len=128"):
        train(wider, CFG, stream(), tmp_path, resume=True, progress=False, recipe={"seed": 0})
    # a longer run is no other recipe: max_steps may grow
    longer = dataclasses.replace(CFG, optim=dataclasses.replace(CFG.optim, max_steps=10))
    history = train(tiny_model(), longer, stream(), tmp_path, resume=True, progress=False, recipe={"seed": 0})
    assert [h["step"] for h in history] == list(range(3, 11))


def test_a_new_run_never_replaces_a_run_in_its_folder(tmp_path):
    train(tiny_model(), CFG, stream(), tmp_path, stop_at=2, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError) as err:
        train(tiny_model(), CFG, stream(), tmp_path, progress=False)
    assert str(err.value) == (f"{tmp_path} already holds a run (checkpoint.pt, metrics.jsonl): pass resume=True "
                              "(--resume) to continue it, or choose another --out")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_second_run_in_the_same_folder_is_refused_at_once(tmp_path):
    from mini_llama.artifacts import locked

    with locked(tmp_path / "run.lock", wait=False):  # another run (flock: another open file, even in one process)
        with pytest.raises(BlockingIOError) as err:
            train(tiny_model(), CFG, stream(), tmp_path, progress=False)
    assert str(err.value) == (f"{tmp_path} is in use by another run, which holds {tmp_path / 'run.lock'}: wait for it "
                              "to end, or choose another --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.lock"]


def test_the_last_two_checkpoints_are_kept(tmp_path):
    train(tiny_model(), dataclasses.replace(CFG, checkpoint_every=2), stream(), tmp_path, stop_at=6, progress=False)
    names = ("checkpoint.pt", "checkpoint.prev.pt")
    steps = {name: torch.load(tmp_path / name, weights_only=True)["step"] for name in names}
    assert steps == {"checkpoint.pt": 6, "checkpoint.prev.pt": 4}


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_last_checkpoint_resumes_from_the_one_before(tmp_path, capsys, damage):
    cfg = dataclasses.replace(CFG, checkpoint_every=2)
    whole = tiny_model()
    train(whole, cfg, stream(), tmp_path / "whole", progress=False)
    train(tiny_model(), cfg, stream(), tmp_path / "run", stop_at=4, progress=False)
    latest, previous = tmp_path / "run" / "checkpoint.pt", tmp_path / "run" / "checkpoint.prev.pt"
    latest.write_bytes(b"" if damage == "empty" else latest.read_bytes()[: latest.stat().st_size // 2])
    capsys.readouterr()
    resumed = tiny_model(seed=1)
    history = train(resumed, cfg, stream(), tmp_path / "run", resume=True, progress=False)
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and message.startswith(f"{latest} is not a readable PyTorch file")
    assert message.endswith(f"; resuming from the checkpoint before it, {previous}\n")
    assert history[0]["step"] == 3  # from step 2, the one before
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_resume_drops_a_half_written_metrics_line_and_a_killed_save_s_temporary_files(tmp_path):
    import json

    train(tiny_model(), CFG, stream(), tmp_path, stop_at=4, progress=False)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "lo')  # the process died in the middle of the line
    ours = [tmp_path / ".checkpoint.pt.k1ll3d.tmp", tmp_path / ".metrics.jsonl.k1ll3d.tmp"]
    theirs = tmp_path / ".notes.txt.k1ll3d.tmp"  # not a file of the run's: kept
    for p in [*ours, theirs]:
        p.write_bytes(b"half")
    train(tiny_model(), CFG, stream(), tmp_path, resume=True, progress=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 9))
    assert not any(p.exists() for p in ours) and theirs.exists()


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


CLI_FLAGS = ["pretrain", "--batch-size", "2", "--seq-len", "32", "--warmup-steps", "1", "--steps", "2"]


@pytest.mark.parametrize("flags, message", [
    (["--grad-accum", "0"], "OptimConfig.grad_accum is 0; expected at least 1 micro-batch per optimiser step"),
    (["--seq-len", "0"], "TrainConfig.seq_len is 0; expected an integer >= 1"),
    (["--lr", "inf"], "OptimConfig.lr is inf; expected a finite learning rate > 0"),
    (["--steps", "0"], "OptimConfig.max_steps is 0; expected at least 1 optimiser step"),
])
def test_cli_refuses_settings_that_cannot_train_in_one_line(tmp_path, flags, message):
    from mini_llama.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*CLI_FLAGS, *flags, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == f"mini-llama pretrain: {message}"
    assert not (tmp_path / "run").exists()


def test_cli_lr_inf_exits_non_zero_with_one_line_and_writes_no_checkpoint(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mini_llama.cli", *CLI_FLAGS[:-1], "1", "--lr", "inf",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr == "mini-llama pretrain: OptimConfig.lr is inf; expected a finite learning rate > 0\n"
    assert not (tmp_path / "run").exists()


def test_cli_weights_made_infinite_end_in_one_line_without_a_checkpoint(tmp_path):
    from mini_llama.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*CLI_FLAGS[:-1], "3", "--lr", "1e37", "--warmup-steps", "0", "--out", str(tmp_path)])
    assert exit_info.value.code == ("mini-llama pretrain: the weights are not finite after the update at step 1 "
                                    "(learning rate 7.75e+36); no checkpoint was written")
    assert not (tmp_path / "checkpoint.pt").exists()


def test_cli_refuses_to_replace_a_run_or_resume_it_with_another_seed(tmp_path):
    from mini_llama.cli import main

    main([*CLI_FLAGS, "--out", str(tmp_path)])
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main([*CLI_FLAGS, "--out", str(tmp_path)])
    assert exit_info.value.code == (f"mini-llama pretrain: {tmp_path} already holds a run (checkpoint.pt, "
                                    "metrics.jsonl): pass resume=True (--resume) to continue it, or choose another "
                                    "--out")
    with pytest.raises(SystemExit) as exit_info:
        main([*CLI_FLAGS, "--out", str(tmp_path), "--resume", "--seed", "1"])
    assert exit_info.value.code == (f"mini-llama pretrain: {tmp_path / 'checkpoint.pt'} was written by a run with "
                                    "recipe.seed=0, but this run has recipe.seed=1: resume with the same settings, "
                                    "or choose another --out")
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved


def test_cli_refuses_data_with_fewer_than_two_documents(tmp_path):
    from mini_llama.cli import main

    doc = tmp_path / "one.txt"
    doc.write_text("Once upon a time there was one document.")
    with pytest.raises(SystemExit) as exit_info:
        main([*CLI_FLAGS, "--data", str(doc), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == (f"mini-llama pretrain: --data {doc} gives 1 document(s); expected at least 2, one "
                                    "to train on and one held out for validation")


def test_cli_ctrl_c_ends_in_one_line_with_status_130_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    import mini_llama.training as training
    from mini_llama.cli import main

    assert main([*CLI_FLAGS, "--out", str(tmp_path)]) == 0  # a checkpoint at step 2
    step = training.optimizer_step

    def ctrl_c_at_step_4(model, optimizer, cfg, at, loss):
        if at == 3:
            raise KeyboardInterrupt
        return step(model, optimizer, cfg, at, loss)

    monkeypatch.setattr(training, "optimizer_step", ctrl_c_at_step_4)
    capsys.readouterr()
    assert main([*CLI_FLAGS[:-1], "6", "--out", str(tmp_path), "--resume"]) == 130
    err = capsys.readouterr().err  # the progress bar, then one line
    assert err.endswith("\n") and "Traceback" not in err
    assert err.splitlines()[-1] == (f"mini-llama pretrain: interrupted; the last good checkpoint, "
                                    f"{tmp_path / 'checkpoint.pt'}, holds step 2 and is left as it was; continue with "
                                    "--resume")
    monkeypatch.setattr(training, "optimizer_step", step)
    assert main([*CLI_FLAGS[:-1], "6", "--out", str(tmp_path), "--resume"]) == 0
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 6
