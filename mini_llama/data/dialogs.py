"""TinyWorld's supervised fine-tuning data: complete chat dialogues with gold assistant answers.

Plain module, taught by no chapter. A mix of task dialogues (single- and multi-turn), safety dialogues (the gold
refusal to an unsafe prompt, the gold help for a borderline one, each bare or under one of the attack wrappers that
training uses), everyday requests with their help (`everyday`) and dialogues under a system instruction.
"""

import random

from mini_llama.data.everyday import everyday_dialogs
from mini_llama.data.instructions import gatt_dialogs
from mini_llama.data.safety import borderline_prompts, unsafe_prompts
from mini_llama.data.tasks import make_tasks
from mini_llama.data.world import World

# the task families of SFT dialogues, one listed twice drawn twice as often: a story is a template the model learns
# from a few hundred examples; reading a stated fact, working a sum and copying a game's word take many more
SFT_TASK_MIX = ("fact", "fact", "arithmetic", "arithmetic", "arithmetic", "story", "word", "word")


def sft_dialogs(world: World, split: str, n: int, seed: int = 0, safety_share: float = 0.15,
                system_share: float = 0.15, everyday_share: float = 0.0) -> list[list[dict]]:
    """n dialogues ending with a gold assistant answer; shares of safety, system-instruction and everyday dialogues
    (training data only: a held-out split takes everyday_share=0)."""
    shares = {"safety_share": safety_share, "system_share": system_share, "everyday_share": everyday_share}
    if min(shares.values()) < 0 or sum(shares.values()) > 1:
        raise ValueError(f"each share must be at least 0 and together at most 1, got {shares}")
    rng = random.Random(f"tinyworld-sft-{world.seed}-{seed}-{split}")
    tasks = iter(make_tasks(world, split, n, seed=seed, families=SFT_TASK_MIX))
    # three borderline prompts to each unsafe one: wrappers and trigger words come with both. In chapter 08's
    # development, SFT models with one to five helps to a refusal (and three versions of the corpus) refused 6 % to
    # 30 % of held-out borderline prompts, without a trend: mostly prompts whose template they had never seen
    safety = unsafe_prompts(world, split, max(1, n // 20), seed) + borderline_prompts(world, split, max(1, 3 * n // 20), seed)
    system = iter(gatt_dialogs(world, n_turns=2, n=n, seed=seed, split=split))
    everyday = iter(everyday_dialogs(world, split, n, seed) if everyday_share else [])
    out = []
    for _ in range(n):
        r = rng.random()
        if r < safety_share:
            p = rng.choice(safety)
            out.append(p.dialog + [{"role": "assistant", "content": p.reference}])
        elif r < safety_share + system_share:
            d = next(system).dialog
            out.append(d[: 3 if rng.random() < 0.5 else 5])  # the system message and one or two turns
        elif r < safety_share + system_share + everyday_share:
            out.append(next(everyday))
        else:
            task = next(tasks)
            out.append(task.dialog + [{"role": "assistant", "content": task.worked_answer}])
    return out
