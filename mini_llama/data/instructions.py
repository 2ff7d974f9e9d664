"""TinyWorld's system instructions with checkers, and multi-turn dialogues under one instruction (for GAtt).

Plain module, taught by no chapter. An instruction is a system message that should hold for every later turn
("answer in capital letters"); `apply` turns a gold answer into one that obeys it, `check` scores any response.
Ghost Attention (Touvron et al. 2023, §3.3) is measured by how often the last turns of long dialogues still obey.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from mini_llama.data import checks
from mini_llama.data.tasks import make_task
from mini_llama.data.world import World

PIRATE_WORDS = ("arr", "matey", "ahoy", "aye")


@dataclass(frozen=True)
class SystemInstruction:
    name: str
    text: str  # the system message
    rule: Callable[[str], float]  # does a response obey? in [0, 1]
    apply: Callable[[str], str]  # a gold answer made to obey
    short: str = ""  # the terse form ("Style: pirate."), as GAtt's data uses half the time (Touvron et al. 2023, A.3.5)

    def check(self, response: str) -> float:
        "The rule's score, but 0 for an empty response or one that repeats the instruction (it obeys nothing)."
        if not response.strip() or self.text.lower().rstrip(".") in response.lower():
            return 0.0
        return self.rule(response)


def _capitals(response: str) -> float:
    return float(bool(response.strip()) and not any(c.islower() for c in response))


def _pirate(response: str) -> float:
    return float(any(w.lower() in PIRATE_WORDS for w in checks.words(response)))


def _ends_with(word: str, response: str) -> float:
    return float(checks.final_token(response) == word)


def _mentions_cat(response: str) -> float:
    return float(any(w.lower() in ("cat", "cats") for w in checks.words(response)))


def instructions() -> list[SystemInstruction]:
    "The instructions of TinyWorld's dialogues."
    out = [
        SystemInstruction("capitals", "Always answer in capital letters.", _capitals, str.upper,
                          "Style: capital letters."),
        SystemInstruction("pirate", "Speak like a pirate in every answer.", _pirate, lambda a: f"Arr, matey! {a}",
                          "Style: pirate."),
        SystemInstruction("cat", "Mention a cat in every answer.", _mentions_cat,
                          lambda a: f"{a} My cat agrees.", "Mention: a cat."),
    ]
    for n in (12, 20):
        out.append(SystemInstruction(f"max_{n}_words", f"Answer in at most {n} words.",
                                     lambda r, n=n: float(0 < len(r.split()) <= n),
                                     lambda a, n=n: " ".join(a.split()[:n]), f"Length: {n} words at most."))
    for word in ("friend", "indeed"):
        out.append(SystemInstruction(f"end_with_{word}", f"End every answer with the word '{word}'.",
                                     lambda r, w=word: _ends_with(w, r),
                                     lambda a, w=word: f"{a.rstrip('.!?')}, {w}.", f"Last word: {word}."))
    return out


# answers that every instruction can be applied to: the test of whether two instructions can hold at once
_PROBES = ("Kakoan is a blue parrot.", "31 + 84 = 115.", "The word goat is spelled g-o-a-t, so 4.")


def combine(first: SystemInstruction, second: SystemInstruction) -> SystemInstruction | None:
    """Both instructions at once (GAtt's data combines them at random, Touvron et al. 2023, A.3.5), or None when no
    order of applying them makes a gold answer obey both ("capital letters" then "end with 'friend'" fails; the
    other order holds)."""
    rule = lambda r: min(first.rule(r), second.rule(r))  # noqa: E731
    for a, b in ((first, second), (second, first)):
        apply = lambda x, a=a, b=b: b.apply(a.apply(x))  # noqa: E731
        if all(rule(apply(p)) == 1.0 for p in _PROBES):
            return SystemInstruction(f"{first.name}+{second.name}", f"{first.text} {second.text}", rule, apply,
                                     f"{first.short} {second.short}")
    return None


@dataclass
class GAttDialog:
    "A dialogue of `n_turns` user/assistant turns under one system instruction; every gold answer obeys it."
    instruction: SystemInstruction
    dialog: list[dict]


def gatt_dialogs(world: World, n_turns: int, n: int, seed: int = 0, split: str = "train") -> list[GAttDialog]:
    "n dialogues of n_turns turns (fact, arithmetic and word questions), each under a random instruction."
    if n_turns < 1:
        raise ValueError(f"n_turns must be >= 1, got {n_turns}")
    rng = random.Random(f"tinyworld-gatt-{world.seed}-{seed}-{split}")
    pool = instructions()
    out = []
    for _ in range(n):
        inst = rng.choice(pool)
        dialog = [{"role": "system", "content": inst.text}]
        for _ in range(n_turns):
            task = make_task(rng, world, split, rng.choice(["fact", "arithmetic", "word"]))
            dialog += [task.dialog[-1], {"role": "assistant", "content": inst.apply(task.reference)}]
        out.append(GAttDialog(inst, dialog))
    return out
