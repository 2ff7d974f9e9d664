"""The course's final chat model leaves the course: written with `save_hf` and `save_hf_tokenizer`, loaded by
`transformers` alone, asked through its own chat template, it gives mini_llama's greedy answers on held-out prompts."""

import pytest
import torch

from mini_llama import checkpoint, data, generation, recipe, shelf
from mini_llama.tokenizer import encode_dialog

transformers = pytest.importorskip("transformers")


def final_chat_stage() -> str:
    "The last chat model of the course's stages (the recipe imports every stage's module)."
    return [name for name in recipe.measured_stages() if shelf.stage(name).prompting == "chat"][-1]


def held_out_dialogs(n_tasks: int = 12, n_with_system: int = 4) -> list[list[dict]]:
    "Validation-split questions the model never trained on, some under a system message, from a seed of this test."
    world = data.make_world(seed=0)
    tasks = [t.dialog for t in data.make_tasks(world, "valid", n_tasks, seed=77)]
    convs = data.gatt_dialogs(world, n_turns=1, n=n_with_system, seed=77, split="valid")
    return tasks + [c.dialog[:2] for c in convs]  # the system message and the first question


def test_final_model_exported_chats_through_transformers_as_it_does_here(tmp_path):
    transformers.utils.logging.set_verbosity_error()
    ours, tokenizer = shelf.load(final_chat_stage()), shelf.course_tokenizer()
    folder = checkpoint.save_hf_tokenizer(shelf.course_tokenizer_path(), checkpoint.save_hf(ours, tmp_path / "final"))
    theirs = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    for dialog in held_out_dialogs():
        prompt = hf_tokenizer.apply_chat_template(dialog, add_generation_prompt=True, tokenize=False)
        ids = hf_tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        assert ids[0].tolist() == encode_dialog(tokenizer, dialog)
        with torch.no_grad():
            out = theirs.generate(ids, max_new_tokens=48, do_sample=False, eos_token_id=tokenizer.eos_id,
                                  pad_token_id=tokenizer.eos_id)[0, ids.shape[1]:].tolist()
        answer = out[: out.index(tokenizer.eos_id)] if tokenizer.eos_id in out else out
        expected = generation.generate(ours, [ids[0].tolist()], max_gen_len=48, temperature=0.0)[0]
        assert answer == expected, dialog
        assert hf_tokenizer.decode(answer, skip_special_tokens=True) == tokenizer.decode(expected)
