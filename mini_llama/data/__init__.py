"""TinyWorld: the course's synthetic data, generated from a seed, with ground truth for every stage.

Plain package, taught by no chapter (chapter 00 introduces it); see `datasets/README.md`.
"""

from mini_llama.data.annotator import RATINGS, SAFETY_BINS, GoldAnnotator, Preference, gold_value, helpfulness
from mini_llama.data.corpus import CorpusMix, FactCompletion, fact_completions, iter_documents
from mini_llama.data.dialogs import sft_dialogs
from mini_llama.data.instructions import GAttDialog, SystemInstruction, combine, gatt_dialogs, instructions
from mini_llama.data.loaders import (
    DataError,
    PreferencePair,
    load_chat_jsonl,
    load_preference_jsonl,
    load_text_files,
    load_tinystories,
)
from mini_llama.data.safety import (
    HELD_OUT_WRAPPERS,
    RISK_CATEGORIES,
    WRAPPERS,
    SafetyPrompt,
    borderline_prompts,
    is_refusal,
    is_unsafe_prompt,
    safety_score,
    unsafe_prompts,
)
from mini_llama.data.tasks import FAMILIES, Task, make_tasks
from mini_llama.data.world import Country, Person, Pet, World, make_world

__all__ = ["FAMILIES", "HELD_OUT_WRAPPERS", "RATINGS", "RISK_CATEGORIES", "SAFETY_BINS", "WRAPPERS", "CorpusMix",
           "Country", "DataError", "FactCompletion", "GAttDialog", "GoldAnnotator", "Person", "Pet", "Preference",
           "PreferencePair", "SafetyPrompt", "SystemInstruction", "Task", "World", "borderline_prompts", "combine",
           "fact_completions", "gatt_dialogs", "gold_value", "helpfulness", "instructions", "is_refusal", "is_unsafe_prompt",
           "iter_documents", "load_chat_jsonl", "load_preference_jsonl", "load_text_files", "load_tinystories",
           "make_tasks", "make_world", "safety_score", "sft_dialogs", "unsafe_prompts"]
