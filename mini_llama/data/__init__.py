"""TinyWorld: the course's synthetic data, generated from a seed, with ground truth for every stage.

Plain package, taught by no chapter (chapter 00 introduces it); see `datasets/README.md`.
"""

from mini_llama.data.corpus import CorpusMix, FactCompletion, fact_completions, iter_documents
from mini_llama.data.world import Country, Person, Pet, World, make_world

__all__ = ["Country", "CorpusMix", "FactCompletion", "Person", "Pet", "World", "fact_completions",
           "iter_documents", "make_world"]
