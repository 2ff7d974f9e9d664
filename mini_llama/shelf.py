"""The shelf of course stages: every artifact the course builds (tokenizer, base model, SFT model, and each later
stage), declared once.

Plain module, taught by no chapter (chapter 07b introduces it; each stage's chapter teaches its build). A `Stage` is
declared with its recipe (a dataclass of everything that decides the artifact), the stages it starts from and the
function that builds it. Its file is named by a digest of the recipe and of its parents' file names, so a changed
recipe, or a parent rebuilt, never reuses a stale file. `path(name)` builds what is missing (parents first), once,
under a lock, with the build's own progress bar; `load(name)` reads it with the stage's loader. `mini-llama recipe`
(`mini_llama.recipe`) measures every declared stage that is a chat or base model and checks each stage's aims.

The tokenizer is the root of the shelf and is declared here; every other stage is declared by the module of its
chapter (`pretrain` declares the base model, `sft` the SFT model, ...).
"""

import functools
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mini_llama.artifacts as artifacts
import mini_llama.checkpoint as checkpoint
import mini_llama.data as data
import mini_llama.tokenizer as tokenizer_lib


@dataclass
class Stage:
    """One artifact of the course. `build(recipe, inputs, path, progress)` writes the file at `path`, `inputs` mapping
    each parent's name to its built file; `loader(path)` reads it back."""
    name: str
    recipe: Any  # a dataclass instance: the course's default recipe
    build: Callable[[Any, dict[str, Path], Path, bool], None]
    parents: tuple[str, ...] = ()
    suffix: str = ".pt"
    loader: Callable[[Path], Any] = checkpoint.load_model_file
    # text naming what the build reads beyond its recipe (generated data whose generator may change), or None
    fingerprint: Callable[[Any], str] | None = None
    prompting: str | None = "chat"  # how the recipe asks it: "chat", "few-shot" (a base model), None: not measured
    # the stage's aims, checked by the recipe on its scoreboard rows (stage name -> eval.StageRow): (claim, met)
    aims: Callable[[dict], list[tuple[str, bool]]] | None = None
    # how the recipe measures a stage that is not a model to ask (a reward model), or a model's own figures beside its
    # row (PPO's distance from its start): its artifact -> named figures
    report: Callable[[Any], dict[str, float]] | None = None


STAGES: dict[str, Stage] = {}  # in the order declared: the course's order


def declare(stage: Stage) -> Stage:
    "Put a stage on the shelf (declaring a name again replaces it: a chapter's cell may run twice)."
    unknown = [p for p in stage.parents if p not in STAGES]
    if unknown:
        raise ValueError(f"stage {stage.name!r} starts from {unknown[0]!r}, which is not declared; declared: "
                         f"{list(STAGES)}")
    STAGES[stage.name] = stage
    return stage


def stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"no stage {name!r} on the shelf; declared: {list(STAGES)}")
    return STAGES[name]


def artifact_path(name: str, recipe: Any = None) -> Path:
    "Where the stage's file is (built or not): named by its recipe (the default unless given) and its parents' files."
    s = stage(name)
    recipe = s.recipe if recipe is None else recipe
    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode())
    for parent in s.parents:
        digest.update(artifact_path(parent).name.encode())
    if s.fingerprint is not None:
        digest.update(s.fingerprint(recipe).encode())
    return artifacts.cache_dir() / name / f"{name}-{digest.hexdigest()[:12]}{s.suffix}"


def path(name: str, recipe: Any = None, progress: bool = True) -> Path:
    "The stage's file, built first (its parents before it) when it is missing."
    s = stage(name)
    recipe = s.recipe if recipe is None else recipe
    inputs = {parent: path(parent, progress=progress) for parent in s.parents}
    return artifacts.build_once(artifact_path(name, recipe), lambda file: s.build(recipe, inputs, file, progress))


def read(name: str, file: Path):
    "A file the stage built, read by its loader (a build reads its parents' files, `inputs`, so)."
    return stage(name).loader(file)


def load(name: str, recipe: Any = None, progress: bool = True):
    "The stage's artifact, loaded (built first when it is missing)."
    return read(name, path(name, recipe, progress))


# The root: the course tokenizer, trained on the start of TinyWorld's training corpus.

@dataclass(frozen=True)
class TokenizerRecipe:
    "The course tokenizer: SentencePiece BPE with Llama 2's settings (chapter 01) on TinyWorld's first documents."
    vocab_size: int = 2048
    n_documents: int = 20_000
    world_seed: int = 0


def tokenizer_documents(recipe: TokenizerRecipe) -> list[str]:
    "The tokenizer's training text: the first documents of TinyWorld's training stream."
    world = data.make_world(seed=recipe.world_seed)
    return list(itertools.islice(data.iter_documents(world, split="train"), recipe.n_documents))


@functools.cache  # generating them takes about a second, and every artifact's name starts from the tokenizer's
def _documents_digest(recipe: TokenizerRecipe) -> str:
    # the text names the file, so a change to TinyWorld never reuses a stale tokenizer
    return hashlib.sha256("\x00".join(tokenizer_documents(recipe)).encode()).hexdigest()


def train_course_tokenizer(recipe: TokenizerRecipe, inputs: dict[str, Path], path: Path, progress: bool = True):
    "Train the course tokenizer from its recipe (seconds) and write it to `path`."
    tokenizer_lib.train_tokenizer(tokenizer_documents(recipe), path, recipe.vocab_size)


declare(Stage("tokenizer", TokenizerRecipe(), train_course_tokenizer, suffix=".model", loader=tokenizer_lib.Tokenizer,
              fingerprint=_documents_digest, prompting=None))


def course_tokenizer_path() -> Path:
    "The course tokenizer's model file (trained the first time it is asked for)."
    return path("tokenizer")


def course_tokenizer() -> tokenizer_lib.Tokenizer:
    "The course tokenizer (trained the first time it is asked for)."
    return load("tokenizer")
