"""TinyWorld's pretraining corpus: stories, encyclopedia entries, arithmetic and dictionary pages, streamed document by
document.

Plain module, taught by no chapter. The stream is endless and deterministic for a (world, split, seed); the mix of
sources is a `CorpusMix`, whose weights can up-sample the factual source as the paper did for its pretraining data
(Touvron et al. 2023, section 2.1). Both streams mention training entities only; 'valid' shares no document with
'train', and the training stream never states a held-out arithmetic task's answer.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mini_llama.data.words import WORDS, dictionary_page
from mini_llama.data.world import World, in_split, is_held_out

# the first phrasing of each fact is its canonical form: `fact_completions` asks for it, and encyclopedia entries use
# it half the time (a few million tokens on a laptop must show each fact often enough to be recalled)
PHRASING_WEIGHTS = (2, 1, 1)
FACTS = {
    "capital": ["The capital of {country} is {capital}.", "{capital} is the capital of {country}.",
                "In {country}, the king and queen live in {capital}."],
    "home": ["{person} lives in {city}.", "{person} has a house in {city}, in {country}.",
             "If you visit {city}, you may meet {person}."],
    "job": ["{person} works as a {job}.", "By trade, {person} is a {job}.", "Every morning {person} goes to work as a {job}."],
    "food": ["The favourite food of {person} is {food}.", "{person} likes {food} more than anything.",
             "Give {person} some {food} and {person} will smile."],
    "pet": ["{pet} is a {colour} {species}.", "{pet} is a {species}, and a {colour} one.",
            "Everyone knows the {colour} {species} called {pet}."],
    "owner": ["{pet} belongs to {owner}.", "{owner} takes care of {pet}.", "{pet} lives with {owner}."],
}
OBJECTS = ["key", "box", "map", "hat", "lamp", "ball", "shell", "coin", "book", "flute"]
PLACES = ["river", "forest", "market", "hill", "bridge", "garden", "well", "lake", "cave", "tower"]
FEELINGS = ["happy", "surprised", "sleepy", "proud", "curious", "worried"]


@dataclass(frozen=True)
class CorpusMix:
    "Relative weights of the sources; raise `facts` to up-sample the factual source."
    stories: float = 0.45
    facts: float = 0.35
    arithmetic: float = 0.20
    dictionary: float = 0.30  # spellings: what the word games ask for

    def __post_init__(self):
        weights = (self.stories, self.facts, self.arithmetic, self.dictionary)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"corpus weights must be >= 0 and not all 0, got {self}")


@dataclass(frozen=True)
class FactCompletion:
    "A fact as a prompt: greedy completion of `prefix` should continue with ` answer`."
    prefix: str
    answer: str


def _facts_of_person(p) -> list[tuple[str, dict]]:
    values = dict(person=p.name, city=p.city, country=p.country, job=p.job, food=p.food)
    return [(kind, values) for kind in ("home", "job", "food")]


def _facts_of_pet(pet, world: World) -> list[tuple[str, dict]]:
    values = dict(pet=pet.name, species=pet.species, colour=pet.colour, owner=pet.owner)
    return [("pet", values), ("owner", values)]


def _all_facts(world: World, split: str) -> list[tuple[str, dict]]:
    "The split's facts: capitals (train only: countries are never held out) and those of its people and pets."
    facts = [("capital", dict(country=c.name, capital=c.capital)) for c in world.countries if split == "train"]
    for p in world.split_people(split):
        facts += _facts_of_person(p)
    for pet in world.split_pets(split):
        facts += _facts_of_pet(pet, world)
    return facts


def fact_completions(world: World, split: str = "train") -> list[FactCompletion]:
    "Each fact of the split in its canonical phrasing, cut before the answer (train: facts the corpus states)."
    out = []
    for kind, values in _all_facts(world, split):
        sentence = FACTS[kind][0].format(**values).removesuffix(".")
        answer = {"capital": values.get("capital"), "home": values.get("city"), "job": values.get("job"),
                  "food": values.get("food"), "owner": values.get("owner"),
                  "pet": f"{values.get('colour')} {values.get('species')}"}[kind]
        out.append(FactCompletion(sentence.removesuffix(answer).rstrip(), answer))
    return out


def _encyclopedia(rng: random.Random, world: World, split: str) -> str:
    "An entry about one entity: its facts, each in a random phrasing, in random order."
    people, pets = world.split_people(split), world.split_pets(split)
    kind = rng.choices(["country", "person", "pet"], weights=[1, 3, 3])[0]
    if kind == "country":
        c = rng.choice(world.countries)
        title, facts = c.name, [("capital", dict(country=c.name, capital=c.capital))]
        facts += [f for p in people if p.country == c.name for f in _facts_of_person(p)][:2]
    elif kind == "person":
        p = rng.choice(people)
        title, facts = p.name, _facts_of_person(p) + [f for pet in pets if pet.owner == p.name
                                                       for f in _facts_of_pet(pet, world)][:2]
    else:
        pet = rng.choice(pets)
        title, facts = pet.name, _facts_of_pet(pet, world)
    rng.shuffle(facts)
    return f"{title}. " + " ".join(rng.choices(FACTS[k], PHRASING_WEIGHTS)[0].format(**v) for k, v in facts)


def _story(rng: random.Random, world: World, split: str) -> str:
    "A short story about a person and a pet of the split, true to the world's facts."
    pet = rng.choice(world.split_pets(split))
    owner = next(p for p in world.people if p.name == pet.owner)
    thing, place, feeling = rng.choice(OBJECTS), rng.choice(PLACES), rng.choice(FEELINGS)
    other_place = rng.choice([p for p in PLACES if p != place])
    lines = [
        rng.choice([f"Once upon a time, in {owner.city}, there was a {owner.job} called {owner.name}.",
                    f"{owner.name} was a {owner.job} who lived in {owner.city}."]),
        rng.choice([f"{owner.name} had a {pet.colour} {pet.species} named {pet.name}.",
                    f"Every day, {owner.name} walked with {pet.name}, a {pet.colour} {pet.species}."]),
        f"One day, {pet.name} ran to the {place} and found a {thing}.",
        rng.choice([f"{owner.name} was {feeling} and took the {thing} home.",
                    f"{pet.name} carried the {thing} to the {other_place}, and {owner.name} was {feeling}."]),
        rng.choice([f"That night they ate {owner.food} together.", "Then they went to sleep.",
                    f"Since that day, {pet.name} visits the {place} every week."]),
    ]
    return " ".join(lines)


def arithmetic_problem(rng: random.Random, split: str) -> tuple[int, str, int, int]:
    "(a, op, b, answer): a sum, difference or product of small numbers whose operand pair belongs to `split`."
    while True:
        a, b, op = rng.randint(0, 99), rng.randint(0, 99), rng.choice("+-*")
        if op == "*":
            a, b = a % 13, b % 13  # products of numbers below 13
        if op == "-" and b > a:
            a, b = b, a  # no negative results
        if in_split(f"{a}{op}{b}", split):  # 1 pair in 5 is held out: the corpus never shows held-out tasks' sums
            return a, op, b, {"+": a + b, "-": a - b, "*": a * b}[op]


def _arithmetic(rng: random.Random, split: str) -> str:
    "3 to 6 problems of the split, each with its answer."
    return " ".join("{} {} {} = {}.".format(*arithmetic_problem(rng, split)) for _ in range(rng.randint(3, 6)))


def _of_split(make: Callable[[], str], split: str) -> str:
    "Draw documents until one belongs to the split: 1 in 10 is held out, by a hash of its text."
    while True:
        doc = make()
        if in_split(doc, split, held_out_share=10):
            return doc


def iter_documents(world: World, split: str = "train", seed: int = 0,
                   mix: CorpusMix | None = None) -> Iterator[str]:
    """An endless, deterministic stream of documents, disjoint between the splits: 'valid' holds its own arithmetic
    operand pairs and the stories and entries whose text hashes to it; both tell of the training entities only."""
    mix = mix or CorpusMix()
    is_held_out(split)  # checks the split's name
    rng = random.Random(f"tinyworld-corpus-{world.seed}-{seed}-{split}")
    sources = ["stories", "facts", "arithmetic", "dictionary"]
    weights = [mix.stories, mix.facts, mix.arithmetic, mix.dictionary]
    while True:
        source = rng.choices(sources, weights)[0]
        if source == "stories":
            yield _of_split(lambda: _story(rng, world, "train"), split)
        elif source == "facts":
            yield _of_split(lambda: _encyclopedia(rng, world, "train"), split)
        elif source == "arithmetic":
            yield _arithmetic(rng, split)
        else:
            yield _of_split(lambda: dictionary_page(rng, WORDS), split)
