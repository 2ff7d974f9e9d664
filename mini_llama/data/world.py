"""TinyWorld's world: fictional countries, cities, people and pets with known attributes, fixed by a seed.

Plain module, taught by no chapter (chapter 00 introduces TinyWorld). Every name is built here from syllables, so a
model cannot know any fact about the world before reading the corpus, and every fact has one true answer. A share
of the people and pets is held out: no training text mentions them, so evaluation can ask about unseen entities.
"""

import random
import zlib
from dataclasses import dataclass, field
from functools import cached_property

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "pl", "st", "th"]
NUCLEI = ["a", "e", "i", "o", "u", "ai", "ou", "ee", "oa"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "th", "nd"]
COLOURS = ["red", "blue", "green", "yellow", "black", "white", "brown", "grey", "orange", "purple"]
SPECIES = ["cat", "dog", "fox", "owl", "goat", "rabbit", "horse", "parrot", "turtle", "hedgehog"]
JOBS = ["baker", "farmer", "teacher", "painter", "sailor", "doctor", "miller", "weaver", "potter", "singer"]
FOODS = ["bread", "apples", "soup", "cheese", "honey", "plums", "rice", "pears", "fish", "cake"]


@dataclass(frozen=True)
class Country:
    name: str
    capital: str


@dataclass(frozen=True)
class Person:
    name: str
    city: str
    country: str
    job: str
    food: str  # favourite food


@dataclass(frozen=True)
class Pet:
    name: str
    species: str
    colour: str
    owner: str  # a Person's name


@dataclass
class World:
    "The entities of one seed; `held_out` names the people and pets that no training text mentions."
    seed: int
    countries: list[Country]
    people: list[Person]
    pets: list[Pet]
    held_out: frozenset[str] = field(default_factory=frozenset)

    def split_people(self, split: str) -> list[Person]:
        return [p for p in self.people if (p.name in self.held_out) == is_held_out(split)]

    def split_pets(self, split: str) -> list[Pet]:
        return [p for p in self.pets if (p.name in self.held_out) == is_held_out(split)]

    @cached_property
    def invented_names(self) -> list[str]:
        """1,000 names of people and pets the world does not have, none containing or contained in one of its names
        (held-out ones included): for training questions that state their own facts, which only reading answers."""
        world_names = [x.name for x in (*self.countries, *self.people, *self.pets)]
        world_names += [c.capital for c in self.countries]
        rng, taken, out = random.Random(f"tinyworld-invented-{self.seed}"), set(world_names), []
        while len(out) < 1000:
            out += [name for name in _names(rng, 1000 - len(out), taken, (2, 2))
                    if not any(w in name or name in w for w in world_names)]
        return out


def is_held_out(split: str) -> bool:
    "True for 'valid' (held out), False for 'train'; any other name is an error."
    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
    return split == "valid"


def in_split(key: str, split: str, held_out_share: int = 5) -> bool:
    "Assign a key (operands, a word, a document) to one split by a stable hash: 1 in `held_out_share` is held out."
    return (zlib.crc32(key.encode()) % held_out_share == 0) == is_held_out(split)


def _names(rng: random.Random, n: int, taken: set[str], syllables: tuple[int, int]) -> list[str]:
    "n new capitalised names of 2-3 syllables, distinct from each other and from `taken`."
    out = []
    while len(out) < n:
        k = rng.randint(*syllables)
        name = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) for _ in range(k)) + rng.choice(CODAS)
        name = name.capitalize()
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def invented_person(rng: random.Random, world: World) -> Person:
    "A person the world does not have, with a name from `world.invented_names` and random attributes."
    country = rng.choice(world.countries)
    return Person(rng.choice(world.invented_names), country.capital, country.name, rng.choice(JOBS), rng.choice(FOODS))


def invented_pet(rng: random.Random, world: World) -> Pet:
    "A pet the world does not have, owned by another invented name."
    name, owner = rng.sample(world.invented_names, 2)
    return Pet(name, rng.choice(SPECIES), rng.choice(COLOURS), owner)


def make_world(seed: int = 0, n_countries: int = 24, n_people: int = 120, n_pets: int = 120,
               held_out_fraction: float = 0.2) -> World:
    "A world fixed by `seed`: the same seed gives the same world, entity for entity."
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    rng, taken = random.Random(seed), set()
    country_names, capitals = _names(rng, n_countries, taken, (2, 3)), _names(rng, n_countries, taken, (2, 2))
    countries = [Country(c, cap) for c, cap in zip(country_names, capitals, strict=True)]
    people = []
    for name in _names(rng, n_people, taken, (2, 2)):
        country = rng.choice(countries)
        people.append(Person(name, country.capital, country.name, rng.choice(JOBS), rng.choice(FOODS)))
    pets = [Pet(name, rng.choice(SPECIES), rng.choice(COLOURS), rng.choice(people).name)
            for name in _names(rng, n_pets, taken, (2, 2))]
    held = rng.sample([p.name for p in people], int(held_out_fraction * n_people))
    held_people = set(held)
    # a pet is held out with its owner, so that no training text links a held-out person to anything
    held += [p.name for p in pets if p.owner in held_people]
    return World(seed, countries, people, pets, frozenset(held))
