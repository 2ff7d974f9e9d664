"""Scaling `mini_llama.pretrain.train` out over processes. Plain module, taught by no chapter (chapter 07b explains why).

The same entry point runs alone or under `torchrun --nproc_per_node=N`: `setup()` reads torchrun's environment,
`shard_stream` gives every rank its own slice of each global batch, and `wrap_model` shards the model with PyTorch
FSDP (`fully_shard`, parameters, gradients and optimiser state split across ranks) or replicates it DDP-style
(`replicate`, gradients all-reduced). Both are PyTorch's composable APIs: the wrapped model is still a
`Transformer`, so `train()` runs on it unchanged. Activation checkpointing (recompute each block in the backward
pass instead of storing its activations) and `torch.compile` (per block) are options.
"""

import os

import torch
import torch.distributed as dist
from torch.distributed._composable import checkpoint, replicate
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard

STRATEGIES = ("fsdp", "ddp")


def device() -> torch.device:
    "Where this process trains: its GPU (set by `setup` under torchrun) if there is one, else the CPU."
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def setup(backend: str | None = None) -> tuple[int, int]:
    "Join the process group torchrun described in the environment; (rank, world_size), (0, 1) when run alone."
    if "RANK" not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


class ShardedStream:
    "A packed stream read by every rank in step: each batch call reads the global batch and keeps this rank's rows."

    def __init__(self, stream, rank: int, world_size: int):
        self.stream, self.rank, self.world_size = stream, rank, world_size

    def next_batch(self, batch_size: int) -> torch.Tensor:
        rows = self.stream.next_batch(batch_size * self.world_size)  # (world_size * bs, seq_len + 1)
        return rows[self.rank * batch_size:(self.rank + 1) * batch_size]  # (bs, seq_len + 1)

    def state_dict(self) -> dict:
        return self.stream.state_dict()  # every rank has read the same documents

    def load_state_dict(self, state: dict):
        self.stream.load_state_dict(state)


def shard_stream(stream, rank: int, world_size: int):
    "The stream itself when alone; otherwise this rank's share of it (`batch_size` rows per rank)."
    return stream if world_size == 1 else ShardedStream(stream, rank, world_size)


def wrap_model(model: torch.nn.Module, strategy: str = "fsdp", activation_checkpointing: bool = False,
               compile: bool = False) -> torch.nn.Module:
    "Shard (fsdp) or replicate (ddp) `model` across the process group, each block first, in place."
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    for block in model.layers:
        if activation_checkpointing:
            checkpoint(block)
        if compile:
            block.compile()
        if strategy == "fsdp" and dist.is_initialized():
            fully_shard(block)  # one all-gather per block: only one block's full weights live at a time
    if dist.is_initialized():
        fully_shard(model) if strategy == "fsdp" else replicate(model)
    return model


def is_main() -> bool:
    "True on rank 0, or when running alone: the process that writes files and prints."
    return not dist.is_initialized() or dist.get_rank() == 0


def mean_over_ranks(value: float) -> float:
    "The mean of a per-rank number (a loss over that rank's rows) across ranks: the global batch's loss."
    if not dist.is_initialized():
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # NCCL reduces GPU tensors only
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / dist.get_world_size()


def full_state_dict(model: torch.nn.Module) -> dict:
    "Every parameter whole, on every rank (FSDP keeps only a shard of each as a DTensor)."
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone()
            for k, v in model.state_dict().items()}


def checkpoint_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """The model's and the optimiser's state with every tensor whole and keyed by parameter name, gathered on rank 0
    (the other ranks get empty dicts): one checkpoint file, which one process or any number of ranks can load."""
    return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_checkpoint_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, model_state: dict,
                          optim_state: dict):
    "Load `checkpoint_state`'s two dicts into a model and its optimiser, sharded (each rank keeps its shard) or not."
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))
