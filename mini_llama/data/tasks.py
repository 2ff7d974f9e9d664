"""TinyWorld's tasks: prompts with a gold reference answer and a checker scoring any response in [0, 1].

Plain module, taught by no chapter. Families: `fact` (questions about the world), `arithmetic`, `story` (constrained
short stories) and `word` (reverse, count, spell a word the corpus's dictionary spells; `words`). Most training fact
questions are about invented people and pets and state the fact in the prompt (reading practice that memory cannot
answer); the rest ask about training entities, half of them stating the fact. Arithmetic answers show their working,
digit by digit; word games recall the word's spelling first. Held-out tasks ('valid') ask about held-out entities,
always giving the fact in the prompt (reading, not recall), and use operand pairs, story constraints and words that
no training task uses.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from mini_llama.data import checks
from mini_llama.data.corpus import OBJECTS, PLACES, arithmetic_problem
from mini_llama.data.words import game_words, spelled
from mini_llama.data.world import COLOURS, JOBS, SPECIES, World, in_split, invented_person, invented_pet, is_held_out

FAMILIES = ("fact", "arithmetic", "story", "word")
INVENTED_SHARE = 0.7  # of the training fact questions: about invented entities, the fact stated in the prompt


@dataclass
class Task:
    "A chat prompt (`dialog`, last turn the user's), a gold answer and the checker of any answer."
    family: str
    dialog: list[dict]
    reference: str
    check: Callable[[str], float]
    working: str = ""  # steps that lead to the reference (arithmetic, word games), shown before it in a worked answer

    @property
    def prompt(self) -> str:
        return self.dialog[-1]["content"]

    @property
    def worked_answer(self) -> str:
        "The gold answer as a dialogue gives it: the working, if any, then the reference."
        return f"{self.working}, so {self.reference}" if self.working else self.reference


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
    invented = not held and rng.random() < INVENTED_SHARE
    kind = rng.choice(["home", "job", "owner", "colour"] + ([] if held or invented else ["capital"]))
    if kind == "capital":  # countries: train only
        c = rng.choice(world.countries)
        q, a, pool, ref = (f"What is the capital of {c.name}?", c.capital, {x.capital for x in world.countries},
                           f"The capital of {c.name} is {c.capital}.")
    elif kind in ("home", "job"):
        p = invented_person(rng, world) if invented else rng.choice(world.split_people(split))
        q, a, pool, ref = {
            "home": (f"Where does {p.name} live?", p.city, {x.capital for x in world.countries},
                     f"{p.name} lives in {p.city}."),
            "job": (f"What does {p.name} do for a living?", p.job, set(JOBS), f"{p.name} works as a {p.job}."),
        }[kind]
    else:
        pet = invented_pet(rng, world) if invented else rng.choice(world.split_pets(split))
        q, a, pool, ref = {
            "owner": (f"Who owns {pet.name}?", pet.owner, {x.name for x in world.people} | {pet.owner},
                      f"{pet.name} belongs to {pet.owner}."),
            "colour": (f"What colour is {pet.name}?", pet.colour, set(COLOURS),
                       f"{pet.name} is a {pet.colour} {pet.species}."),
        }[kind]
    # held-out entities are unknown: the prompt states the fact (reading). Training teaches reading on invented
    # entities, which no memory can answer (on known ones a model answers from memory and never learns to read),
    # and recall on the training entities, half of their prompts stating the fact too.
    reading = held or invented or rng.random() < 0.5
    prompt = f"{ref} {q}" if reading else q
    return Task("fact", [{"role": "user", "content": prompt}], ref, partial(check_choice, a, pool))


def arithmetic_working(a: int, op: str, b: int) -> str:
    """The steps to `a op b` that a small model can take one at a time (a scratchpad, as in Nye et al. 2021, "Show
    Your Work"): sums and differences digit by digit, units first, with the carry or borrow written out; products of
    the smaller factor by the larger, by tens and units when the larger is 10 or more."""
    (a1, a0), (b1, b0) = divmod(a, 10), divmod(b, 10)
    if op == "+":
        carry = (a0 + b0) // 10
        return f"{a0} + {b0} = {a0 + b0}, {a1} + {b1} + {carry} = {a1 + b1 + carry}"
    if op == "-":
        borrow = int(a0 < b0)
        return f"{a0 + 10 * borrow} - {b0} = {a0 + 10 * borrow - b0}, {a1} - {b1} - {borrow} = {a1 - b1 - borrow}"
    small, large = sorted((a, b))  # one order for both: a held-out 8 * 7 reuses a trained 7 * 8
    if large < 10:
        return f"{small} * {large} = {small * large}"
    units = large - 10
    return (f"{small} * 10 = {small * 10}, {small} * {units} = {small * units}, "
            f"{small * 10} + {small * units} = {small * large}")


def _arithmetic_task(rng: random.Random, split: str) -> Task:
    a, op, b, answer = arithmetic_problem(rng, split)
    q = rng.choice([f"What is {a} {op} {b}?", f"Compute {a} {op} {b}.", f"How much is {a} {op} {b}?"])
    return Task("arithmetic", [{"role": "user", "content": q}], f"{a} {op} {b} = {answer}.",
                partial(check_number, str(answer)), working=arithmetic_working(a, op, b))


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


def check_letters(answer: str, response: str) -> float:
    "1 if the response's last word has the answer's letters in order, dashed or not (reverse: 't-a-o-g' or 'taog')."
    final = checks.final_token(response)
    return float(final is not None and final.replace("-", "") == answer)


def _word_task(rng: random.Random, split: str) -> Task:
    """A word game on a word of the split; the worked answer recalls the word's dictionary entry first. The prompt
    writes the word as the dictionary does, unquoted: "'oven'" is cut into other pieces (' ov en ') than " oven", and
    the answer must copy the word's token, not translate pieces into it."""
    word = rng.choice(game_words(split))
    spelling = f"The word {word} is spelled {spelled(word)}"
    game = rng.choice(["reverse", "count", "spell"])
    if game == "reverse":
        q, ref, check = f"Reverse the word {word}.", f"backwards it is {spelled(word[::-1])}.", check_letters
        answer = word[::-1].lower()
    elif game == "count":
        q, ref, check = f"How many letters are in the word {word}?", f"it has {len(word)} letters.", check_number
        answer = str(len(word))
    else:
        q, ref, check = f"Spell the word {word} with dashes between the letters.", f"{spelling}.", check_final
        answer, spelling = spelled(word), ""
    return Task("word", [{"role": "user", "content": q}], ref, partial(check, answer), working=spelling)


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
    """n tasks of the split; a share `multi_turn` has one earlier turn (another task, with its worked answer). Families
    are drawn uniformly from `families`, so one listed twice comes twice as often."""
    families = families or FAMILIES
    rng = random.Random(f"tinyworld-tasks-{world.seed}-{seed}-{split}")
    tasks = []
    for _ in range(n):
        task = make_task(rng, world, split, rng.choice(families))
        if rng.random() < multi_turn:
            earlier = make_task(rng, world, split, rng.choice(families))
            task.dialog = earlier.dialog + [{"role": "assistant", "content": earlier.worked_answer}] + task.dialog
        tasks.append(task)
    return tasks
