"""The shelf of course stages: a stage is one declaration; its file is named by its recipe and its parents' files,
built once under a lock, loaded by one loader, and measured by the recipe with its aims."""

import dataclasses
import threading
import time
from dataclasses import dataclass

import pytest
import torch

import mini_llama.pretrain  # noqa: F401 (declares the base model)
from mini_llama import artifacts, recipe, shelf
from mini_llama.checkpoint import save_model_file
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer


@dataclass
class ToyRecipe:
    "An untrained tiny chat model: enough to be built, cached, loaded and measured."
    seed: int = 0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "An empty artifact cache, and the shelf as it was after the test."
    monkeypatch.setenv("MINI_LLAMA_CACHE", str(tmp_path))
    monkeypatch.setattr(shelf, "STAGES", dict(shelf.STAGES))
    return tmp_path


def declare_toy(builds: list, name="toy", aims=None) -> shelf.Stage:
    def build(r: ToyRecipe, inputs, path, progress):
        builds.append(path)
        vocab = shelf.read("tokenizer", inputs["tokenizer"]).n_words
        model = Transformer(ModelArgs.from_name("tiny", vocab_size=vocab, max_seq_len=256))
        save_model_file(model.init_weights(generator=torch.Generator().manual_seed(r.seed)), path)

    return shelf.declare(shelf.Stage(name, ToyRecipe(), build, parents=("tokenizer",), aims=aims))


def test_a_declared_stage_is_built_once_cached_loaded_and_scored_in_the_recipe(cache, tmp_path_factory, capsys):
    builds = []
    declare_toy(builds, aims=lambda rows: [("the toy helps no one", rows["toy"].helpfulness < 0.5)])
    path = shelf.path("toy")
    assert builds == [path] and path.exists() and path.parent.parent == cache
    assert shelf.path("toy") == path and builds == [path]  # cached: not built again
    model = shelf.load("toy")
    twin = Transformer(model.params).init_weights(generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True))
    assert shelf.path("toy", ToyRecipe(seed=1)) != path and len(builds) == 2  # another recipe, another file
    assert "toy" in recipe.measured_stages()
    out = tmp_path_factory.mktemp("report")
    board, passed = recipe.run(out, stages=["toy"])
    assert [row.stage for row in board] == ["toy"] and passed
    assert "met: the toy helps no one" in (out / "README.md").read_text() and builds == [path, builds[1]]


def test_a_file_is_named_by_its_recipe_and_by_each_parents_file(cache):
    base = shelf.artifact_path("base")
    other_tokenizer = dataclasses.replace(shelf.stage("tokenizer"),
                                          recipe=shelf.TokenizerRecipe(vocab_size=1024))
    shelf.STAGES["tokenizer"] = other_tokenizer
    assert shelf.artifact_path("base") != base  # a new tokenizer means a new base model
    shelf.STAGES["tokenizer"] = dataclasses.replace(other_tokenizer, recipe=shelf.TokenizerRecipe())
    assert shelf.artifact_path("base") == base
    recipe_changed = dataclasses.replace(shelf.stage("base").recipe, n_layers=2)
    assert shelf.artifact_path("base", recipe_changed) != base


def test_a_stage_must_start_from_declared_stages(cache):
    with pytest.raises(ValueError, match="stage 'late' starts from 'nowhere', which is not declared"):
        shelf.declare(shelf.Stage("late", ToyRecipe(), print, parents=("nowhere",)))
    with pytest.raises(KeyError, match="no stage 'missing' on the shelf"):
        shelf.load("missing")


def test_two_builders_of_one_missing_artifact_build_it_once(tmp_path):
    calls = []

    def slow_build(path):
        calls.append(path)
        time.sleep(0.3)  # long enough for the second thread to find the file missing
        path.write_text("built")

    target = tmp_path / "artifact.bin"
    threads = [threading.Thread(target=artifacts.build_once, args=(target, slow_build)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [target] and target.read_text() == "built"
