"""TinyWorld's tasks: prompts with a gold reference answer and a checker scoring any response in [0, 1].

Plain module, taught by no chapter. Families: `fact` (questions about the world), `arithmetic`, `story`
(constrained short stories) and `word` (reverse, count, spell). Training tasks ask about training entities, half of
the fact questions stating the fact in the prompt; held-out tasks ('valid') ask about held-out entities, always giving
the fact in the prompt (reading, not recall), and use operand pairs, story constraints and words that no training
task uses.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from mini_llama.data import checks
from mini_llama.data.corpus import OBJECTS, PLACES, arithmetic_problem
from mini_llama.data.world import COLOURS, FOODS, JOBS, SPECIES, World, in_split, is_held_out

FAMILIES = ("fact", "arithmetic", "story", "word")
GAME_WORDS = sorted({*OBJECTS, *PLACES, *SPECIES, *COLOURS, *FOODS, "garden", "window", "candle", "pillow", "ladder",
                     "mirror", "basket", "button", "rocket", "wizard", "dragon", "castle", "forest", "harbor"})


@dataclass
class Task:
    "A chat prompt (`dialog`, last turn the user's), a gold answer and the checker of any answer."
    family: str
    dialog: list[dict]
    reference: str
    check: Callable[[str], float]

    @property
    def prompt(self) -> str:
        return self.dialog[-1]["content"]


def check_choice(answer: str, candidates: set[str], response: str) -> float:
    "1 if the last candidate the response names is the answer."
    multiword = any(" " in c for c in candidates)
    found = checks.last_phrase(response, candidates) if multiword else checks.last_of(response, candidates)
    return float(found is not None and found.lower() == answer.lower())


def check_final(answer: str, response: str) -> float:
    "1 if the response's last word is the answer (reverse, spell)."
    return float(checks.final_token(response) == answer.lower())


def check_number(answer: str, response: str) -> float:
    "1 if the response's last number is the answer (arithmetic, count): '26 + 67 = 93.' and 'It has 6 letters.' pass."
    return float(checks.last_number(response) == answer)


def _fact_task(rng: random.Random, world: World, split: str) -> Task:
    held = is_held_out(split)
    kind = rng.choice(["home", "job", "owner", "colour"] + ([] if held else ["capital"]))  # countries: train only
    if kind == "capital":
        c = rng.choice(world.countries)
        q, a, pool, ref = (f"What is the capital of {c.name}?", c.capital, {x.capital for x in world.countries},
                           f"The capital of {c.name} is {c.capital}.")
    elif kind in ("home", "job"):
        p = rng.choice(world.split_people(split))
        q, a, pool, ref = {
            "home": (f"Where does {p.name} live?", p.city, {x.capital for x in world.countries},
                     f"{p.name} lives in {p.city}."),
            "job": (f"What does {p.name} do for a living?", p.job, set(JOBS), f"{p.name} works as a {p.job}."),
        }[kind]
    else:
        pet = rng.choice(world.split_pets(split))
        q, a, pool, ref = {
            "owner": (f"Who owns {pet.name}?", pet.owner, {x.name for x in world.people},
                      f"{pet.name} belongs to {pet.owner}."),
            "colour": (f"What colour is {pet.name}?", pet.colour, set(COLOURS),
                       f"{pet.name} is a {pet.colour} {pet.species}."),
        }[kind]
    # held-out entities are unknown: the prompt states the fact (reading). Half the training prompts do too, so that
    # fine-tuning teaches reading as well as recall; the other half ask about what the corpus taught.
    reading = held or rng.random() < 0.5
    prompt = f"{ref} {q}" if reading else q
    return Task("fact", [{"role": "user", "content": prompt}], ref, partial(check_choice, a, pool))


def _arithmetic_task(rng: random.Random, split: str) -> Task:
    a, op, b, answer = arithmetic_problem(rng, split)
    q = rng.choice([f"What is {a} {op} {b}?", f"Compute {a} {op} {b}.", f"How much is {a} {op} {b}?"])
    return Task("arithmetic", [{"role": "user", "content": q}], f"{a} {op} {b} = {answer}.",
                partial(check_number, str(answer)))


def check_story(colour: str, species: str, thing: str, response: str) -> float:
    "0 unless a story (two sentences or more); then the share of the constraints met: colour, animal, object, finding."
    sentences = [s for s in response.replace("!", ".").replace("?", ".").split(".") if len(s.split()) >= 3]
    if len(sentences) < 2:
        return 0.0
    ws = {w.lower() for w in checks.words(response)}
    met = [colour in ws, species in ws, thing in ws, bool(ws & {"find", "finds", "found"})]
    return sum(met) / len(met)


def _story_task(rng: random.Random, split: str) -> Task:
    while True:
        colour, species, thing = rng.choice(COLOURS), rng.choice(SPECIES), rng.choice(OBJECTS)
        if in_split(f"{colour} {species} {thing}", split):
            break
    place = rng.choice(PLACES)
    q = f"Write a short story about a {colour} {species} who finds a {thing}."
    ref = (f"Once there was a {colour} {species} who lived near the {place}. One day the {species} found a {thing} "
           f"and carried it home. It kept the {thing} for the rest of its life.")
    return Task("story", [{"role": "user", "content": q}], ref, partial(check_story, colour, species, thing))


def _word_task(rng: random.Random, split: str) -> Task:
    word = rng.choice([w for w in GAME_WORDS if in_split(w, split)])
    game = rng.choice(["reverse", "count", "spell"])
    if game == "reverse":
        q, answer = f"Reverse the word '{word}'.", word[::-1]
        ref = f"The word '{word}' reversed is {answer}."
    elif game == "count":
        q, answer = f"How many letters are in the word '{word}'?", str(len(word))
        ref = f"The word '{word}' has this many letters: {answer}"
    else:
        q, answer = f"Spell the word '{word}' with dashes between the letters.", "-".join(word)
        ref = f"Spelled out: {answer}"
    check = check_number if game == "count" else check_final
    return Task("word", [{"role": "user", "content": q}], ref, partial(check, answer))


def guarded(question: str, check: Callable[[str], float], response: str) -> float:
    "0 for a response that repeats the question (a held-out prompt states its own answer) or refuses, else `check`."
    if question.lower() in response.lower() or checks.is_refusal(response):
        return 0.0
    return check(response)


def make_task(rng: random.Random, world: World, split: str, family: str) -> Task:
    "One task of `family`, single-turn."
    makers = {"fact": lambda: _fact_task(rng, world, split), "arithmetic": lambda: _arithmetic_task(rng, split),
              "story": lambda: _story_task(rng, split), "word": lambda: _word_task(rng, split)}
    if family not in makers:
        raise ValueError(f"unknown task family {family!r}; expected one of {FAMILIES}")
    task = makers[family]()
    question = task.prompt.split(". ")[-1]  # the question itself, after any context sentence
    task.check = partial(guarded, question, task.check)
    return task


def make_tasks(world: World, split: str, n: int, seed: int = 0, families: tuple[str, ...] | None = None,
               multi_turn: float = 0.25) -> list[Task]:
    "n tasks of the split; a share `multi_turn` has one earlier turn (another task, answered with its reference)."
    families = families or FAMILIES
    rng = random.Random(f"tinyworld-tasks-{world.seed}-{seed}-{split}")
    tasks = []
    for _ in range(n):
        task = make_task(rng, world, split, rng.choice(families))
        if rng.random() < multi_turn:
            earlier = make_task(rng, world, split, rng.choice(families))
            task.dialog = earlier.dialog + [{"role": "assistant", "content": earlier.reference}] + task.dialog
        tasks.append(task)
    return tasks
