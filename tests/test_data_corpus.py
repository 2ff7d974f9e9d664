"""TinyWorld's world and corpus: determinism, held-out entities, facts stated by the corpus."""

import itertools
import os
import subprocess
import sys

import pytest

from mini_llama.data import CorpusMix, fact_completions, iter_documents, make_tasks, make_world
from mini_llama.data.words import dictionary_entry, game_words, spelled


def take(world, n=300, **kw):
    return list(itertools.islice(iter_documents(world, **kw), n))


def test_same_seed_same_bytes_other_seed_differs():
    assert take(make_world(0)) == take(make_world(0))
    assert make_world(0) == make_world(0)
    assert take(make_world(1)) != take(make_world(0))
    assert take(make_world(0), seed=1) != take(make_world(0))


def test_train_stream_never_mentions_held_out_entities():
    world = make_world(0)
    assert world.held_out
    text = " ".join(take(world, 3000))
    assert not [name for name in world.held_out if name in text]


def test_valid_stream_is_disjoint_from_train():
    world = make_world(0)
    train, valid = set(take(world, 10000)), set(take(world, 2000, split="valid"))
    assert len(valid) > 1500 and not train & valid  # pet entries have few variants: without the split they coincide
    problems = lambda docs: {line.split(" = ")[0] for d in docs if " = " in d for line in d.rstrip(".").split(". ")}
    held_out_tasks = {t.reference.split(" = ")[0] for t in make_tasks(world, "valid", 300, families=("arithmetic",))}
    assert problems(valid) and not problems(train) & (problems(valid) | held_out_tasks)  # no held-out sum in training


def test_train_facts_are_stated_by_the_corpus_and_valid_facts_are_held_out():
    world = make_world(0)
    text = " ".join(take(world, 20000, mix=CorpusMix(stories=0, facts=1, arithmetic=0, dictionary=0)))
    train = fact_completions(world, "train")
    stated = [f for f in train if f"{f.prefix} {f.answer}." in text]
    assert len(stated) / len(train) > 0.95
    valid = fact_completions(world, "valid")
    assert valid and all(any(name in f.prefix for name in world.held_out) for f in valid)
    assert not {f.prefix for f in valid} & {f.prefix for f in train}


def test_arithmetic_is_right():
    world = make_world(0)
    for doc in take(world, 200, mix=CorpusMix(stories=0, facts=0, arithmetic=1, dictionary=0)):
        for line in doc.rstrip(".").split(". "):
            left, right = line.split(" = ")
            a, op, b = left.split()
            assert int(right) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="'test'"):
        next(iter_documents(make_world(0), split="test"))
    with pytest.raises(ValueError, match="weights"):
        CorpusMix(stories=-1)
    with pytest.raises(ValueError, match="1.5"):
        make_world(0, held_out_fraction=1.5)


DIGEST = """
import hashlib, itertools
from mini_llama.data import iter_documents, make_world
from mini_llama.data.samples import render, sample_records
world, h = make_world(0), hashlib.sha256()
for doc in itertools.islice(iter_documents(world, "valid"), 2000):
    h.update(doc.encode())
for records in sample_records().values():
    h.update(render(records).encode())
print(h.hexdigest())
"""


def test_bytes_do_not_depend_on_the_process():
    "Another interpreter with another string-hash seed makes the same bytes (no set order leaks into the data)."
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = {subprocess.run([sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True, cwd=root,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(digests) == 1 and len(digests.pop()) == 65


def test_dictionary_spells_every_game_word():
    world = make_world(0)
    text = " ".join(take(world, 30000, mix=CorpusMix(stories=0, facts=0, arithmetic=0, dictionary=1)))
    for split in ("train", "valid"):  # held-out game words are spelled too: spelling is knowledge, like facts
        missing = [w for w in game_words(split) if f"The word {w} is spelled {spelled(w)}." not in text]
        assert not missing, missing[:5]
    assert dictionary_entry("Goat") == "The word Goat is spelled g-o-a-t. It has 4 letters. Backwards it is t-a-o-g."


def test_word_games_hold_out_their_words_and_recall_the_spelling():
    world = make_world(0)
    train, valid = set(game_words("train")), set(game_words("valid"))
    assert len(train) >= 300 and len(valid) >= 80 and not train & valid  # hundreds in SFT: memorising cannot pay
    tasks = make_tasks(world, "train", 3000, families=("word",), multi_turn=0)
    assert not {t.prompt.split(" the word ")[1].split()[0].rstrip(".?") for t in tasks} & valid
    reverse = next(t for t in tasks if t.prompt.startswith("Reverse"))
    word = reverse.prompt.split(" the word ")[1].split()[0].rstrip(".?")
    assert reverse.worked_answer.startswith(f"The word {word} is spelled {spelled(word)}, so backwards it is ")
    assert reverse.check(f"It is {spelled(word[::-1])}.") == reverse.check(f"It is {word[::-1]}.") == 1.0
    assert reverse.check(f"It is {spelled(word)}.") == float(word == word[::-1])
    spell = next(t for t in tasks if t.prompt.startswith("Spell"))
    assert spell.check(spell.worked_answer) == 1.0 and spell.check(spell.prompt.split()[3]) == 0.0  # dashes asked
