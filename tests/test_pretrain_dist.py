"""Scaling out: two gloo processes (FSDP, and DDP) follow the one-process run with the same global batch, and an FSDP
run resumes exactly from its one checkpoint file."""

import dataclasses
import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mini_llama.config import ModelArgs
from mini_llama.data import iter_documents, make_world
from mini_llama.distributed import full_state_dict, shard_stream, wrap_model
from mini_llama.model import Transformer
from mini_llama.pretrain import PackedStream, TrainConfig, train
from mini_llama.shelf import course_tokenizer
from mini_llama.training import OptimConfig, next_token_loss

CFG = TrainConfig(OptimConfig(max_steps=4, warmup_steps=2), batch_size=2, seq_len=32, checkpoint_every=100)


def run(rank: int, world_size: int, strategy: str, out_dir: str, port: int, stop_at: int | None = None,
        resume: bool = False):
    if world_size > 1:
        torch.set_num_threads(1)  # two processes on a shared machine
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    tok, world = course_tokenizer(), make_world(0)
    torch.manual_seed(0)
    model = Transformer(ModelArgs.from_name("tiny", vocab_size=tok.n_words, max_seq_len=64)).init_weights()
    model = wrap_model(model, strategy)
    stream = PackedStream(lambda: iter_documents(world, split="train", seed=0), tok, CFG.seq_len)
    cfg = dataclasses.replace(CFG, batch_size=CFG.batch_size * 2 // world_size)
    history = train(model, cfg, shard_stream(stream, rank, world_size), out_dir, stop_at=stop_at, resume=resume,
                    progress=False)
    losses = [h["loss"] for h in history]  # already the mean over ranks
    weights = full_state_dict(model)
    if rank == 0:
        torch.save((losses, weights), f"{out_dir}/result.pt")  # a file: a queue would deadlock the join
    if world_size > 1:
        dist.destroy_process_group()


def two_processes(strategy: str, out_dir, stop_at: int | None = None, resume: bool = False):
    mp.start_processes(run, args=(2, strategy, str(out_dir), free_port(), stop_at, resume), nprocs=2,
                       start_method="spawn")
    return torch.load(out_dir / "result.pt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("strategy", ["fsdp", "ddp"])
def test_two_gloo_processes_follow_one_process_with_the_same_global_batch(tmp_path, strategy):
    run(0, 1, strategy, str(tmp_path / "one"), 0)
    single_losses, single_w = torch.load(tmp_path / "one" / "result.pt")
    dist_losses, dist_w = two_processes(strategy, tmp_path / "two")
    assert dist_losses == pytest.approx(single_losses, rel=1e-5)
    for name, w in single_w.items():
        torch.testing.assert_close(dist_w[name], w, rtol=1e-4, atol=1e-5)


def test_an_fsdp_run_resumes_exactly_from_one_checkpoint_file(tmp_path):
    _, straight = two_processes("fsdp", tmp_path / "straight")
    two_processes("fsdp", tmp_path / "split", stop_at=2)
    state = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and sorted(p.name for p in (tmp_path / "split").glob("*.pt")) == ["checkpoint.pt",
                                                                                                "result.pt"]
    alone = Transformer(ModelArgs(**state["model_args"]))
    alone.load_state_dict(state["model"])  # whole tensors under Meta's names: one process can load it
    _, resumed = two_processes("fsdp", tmp_path / "split", resume=True)
    for name, w in straight.items():
        assert torch.equal(resumed[name], w), name
    metrics = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]  # written by rank 0 alone, each step once


def test_activation_checkpointing_recomputes_the_same_gradients():
    tok = course_tokenizer()
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = Transformer(ModelArgs.from_name("tiny", vocab_size=tok.n_words, max_seq_len=64)).init_weights()
        model = wrap_model(model, activation_checkpointing=recompute)  # alone: no process group, no sharding
        rows = torch.randint(0, tok.n_words, (2, 33), generator=torch.Generator().manual_seed(1))
        next_token_loss(model, rows).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=0, atol=0)


def test_unknown_strategy_is_refused_by_name():
    with pytest.raises(ValueError, match="'zero3'.*fsdp"):
        wrap_model(torch.nn.Linear(2, 2), "zero3")
