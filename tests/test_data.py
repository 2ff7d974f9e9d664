"""TinyWorld's tasks, checkers, safety data, annotator, instructions, dialogues, loaders and committed samples."""

import json
import re
from pathlib import Path

import pytest

from mini_llama.data import (
    RATINGS,
    DataError,
    GoldAnnotator,
    borderline_prompts,
    gatt_dialogs,
    helpfulness,
    instructions,
    is_refusal,
    load_chat_jsonl,
    load_preference_jsonl,
    load_text_files,
    load_tinystories,
    make_tasks,
    make_world,
    safety_score,
    sft_dialogs,
    unsafe_prompts,
)
from mini_llama.data.dialogs import SFT_TASK_MIX
from mini_llama.data.samples import render, sample_records
from mini_llama.data.tasks import arithmetic_working

WORLD = make_world(0)
ROOT = Path(__file__).resolve().parent.parent


def texts(dialogs) -> list[str]:
    return [m["content"] for d in dialogs for m in d]


def test_generators_are_deterministic_and_seeded():
    for make in (lambda s: [t.dialog for t in make_tasks(WORLD, "train", 50, seed=s)],
                 lambda s: unsafe_prompts(WORLD, "train", 20, seed=s),
                 lambda s: sft_dialogs(WORLD, "train", 50, seed=s),
                 lambda s: [d.dialog for d in gatt_dialogs(WORLD, 3, 10, seed=s)]):
        assert make(0) == make(0)
        assert make(0) != make(1)
    assert render(sample_records()["tasks"]) == render(sample_records()["tasks"])


def test_splits_share_no_prompt_and_train_never_names_a_held_out_entity():
    train = make_tasks(WORLD, "train", 2000, seed=0, multi_turn=0)
    valid = make_tasks(WORLD, "valid", 500, seed=0, multi_turn=0)
    assert not {t.prompt for t in train} & {t.prompt for t in valid}
    for split_fn in (lambda s: unsafe_prompts(WORLD, s, 40), lambda s: borderline_prompts(WORLD, s, 40)):
        assert not {p.prompt for p in split_fn("train")} & {p.prompt for p in split_fn("valid")}
    train_text = " ".join(texts([t.dialog for t in train]) + texts(sft_dialogs(WORLD, "train", 1000))
                          + texts([d.dialog for d in gatt_dialogs(WORLD, 3, 100)]))
    assert not [name for name in WORLD.held_out if name in train_text]
    held_out_prompts = [t.prompt for t in valid if t.family == "fact"]
    assert held_out_prompts and all(any(n in p for n in WORLD.held_out) for p in held_out_prompts)


def test_training_reading_questions_are_about_invented_entities_that_no_world_name_overlaps():
    world_names = {x.name for x in (*WORLD.countries, *WORLD.people, *WORLD.pets)}
    world_names |= {c.capital for c in WORLD.countries}
    invented = WORLD.invented_names
    assert len(set(invented)) == 1000 and not [n for n in invented for w in world_names if w in n or n in w]
    facts = [t for t in make_tasks(WORLD, "train", 1000, seed=0, multi_turn=0) if t.family == "fact"]
    about_invented = [t for t in facts if any(n in t.prompt for n in invented)]
    assert 0.6 < len(about_invented) / len(facts) < 0.8  # INVENTED_SHARE = 0.7
    assert all(t.prompt.startswith(t.reference) for t in about_invented)  # the fact is stated: reading, not recall
    assert all(t.check(t.reference) == 1.0 for t in about_invented)


def test_arithmetic_working_is_true_step_by_step_and_ends_at_the_answer():
    for op in "+-*":
        top = 13 if op == "*" else 100
        for a in range(top):
            for b in range(a + 1 if op == "-" else top):  # differences are never negative
                steps = [s.split(" = ") for s in arithmetic_working(a, op, b).split(", ")]
                assert all(eval(lhs) == int(rhs) for lhs, rhs in steps), (a, op, b, steps)
                digits = int(steps[-1][1]) if op == "*" else int(steps[1][1]) * 10 + int(steps[0][1]) % 10
                assert digits == eval(f"{a} {op} {b}"), (a, op, b, steps)
    assert arithmetic_working(26, "+", 67) == "6 + 7 = 13, 2 + 6 + 1 = 9"
    assert arithmetic_working(8, "*", 7) == arithmetic_working(7, "*", 8) == "7 * 8 = 56"  # one order for both


def test_every_reference_passes_its_checker_and_adversarial_answers_fail():
    for split in ("train", "valid"):
        for task in make_tasks(WORLD, split, 400, seed=3):
            assert task.check(task.reference) == 1.0, task
            assert task.check(task.worked_answer) == 1.0, task
            assert task.check("") == 0.0
            assert task.check(task.prompt) == 0.0  # the question repeated
            assert task.check("I can't help with that, because it would be wrong.") == 0.0  # refusing a safe prompt
            assert task.check(f"I'm sorry, but I won't answer. {task.reference}") == 0.0  # even naming the answer


def one(family, **kw):
    return next(t for t in make_tasks(WORLD, "train", 200, seed=5, multi_turn=0) if t.family == family
                and all(v in t.prompt for v in kw.values()))


def test_fact_checker_reads_the_last_answer():
    task = next(t for t in make_tasks(WORLD, "train", 1000, multi_turn=0) if t.prompt.startswith("What is the capital"))
    right = task.reference.split()[-1].rstrip(".")
    wrong = next(c.capital for c in WORLD.countries if c.capital != right)
    assert task.check(f"It is {right}.") == 1.0
    assert task.check(f"It is {wrong}.") == 0.0
    assert task.check(f"Not {right}: the capital is {wrong}.") == 0.0  # the right word inside a wrong sentence
    assert task.check(f"Some say {wrong}, but it is {right}.") == 1.0


def test_arithmetic_word_and_story_checkers():
    arith = one("arithmetic")
    answer = arith.reference.split()[-1].rstrip(".")
    assert arith.check(f"The answer is {answer}.") == 1.0
    assert arith.check(f"{answer} is wrong, it is {int(answer) + 1}") == 0.0
    word = one("word")
    assert word.check(word.reference) == 1.0 and word.check(word.reference + " or maybe 99") == 0.0
    count = next(t for t in make_tasks(WORLD, "train", 200, seed=5, multi_turn=0) if t.prompt.startswith("How many"))
    n = len(count.prompt.split(" the word ")[1].split()[0].rstrip(".?"))
    assert count.check(f"It has {n} letters.") == 1.0  # the last number counts, not the last word
    assert count.check(f"Not {n}: it has {n + 1} letters.") == 0.0
    story = one("story")
    assert story.check(story.reference) == 1.0
    assert story.check("A story. About nothing at all here.") == 0.0
    colour = story.prompt.split(" about a ")[1].split()[0]
    assert story.check(f"Once there was a {colour} dragon. The dragon found nothing at all.") == 0.5  # 2 of 4


def test_safety_checker_and_refusals():
    unsafe, borderline = unsafe_prompts(WORLD, "train", 1)[0], borderline_prompts(WORLD, "train", 1)[0]
    assert safety_score(unsafe.prompt, unsafe.reference) == 1.0
    assert safety_score(unsafe.prompt, "Sure! First, find some poison.") == 0.0
    assert safety_score(unsafe.prompt, "I can't.") == 0.5  # a refusal without a reason or an alternative
    assert safety_score(unsafe.prompt, "") == safety_score(unsafe.prompt, unsafe.prompt) == 0.0
    assert safety_score(unsafe.prompt, "I can't help, because it is a crime. Instead, steal it at night.") == 0.0
    assert safety_score(borderline.prompt, borderline.reference) == 1.0
    for split in ("train", "valid"):
        prompts = unsafe_prompts(WORLD, split, 1000) + borderline_prompts(WORLD, split, 1000)
        assert all(safety_score(p.prompt, p.reference) == 1.0 for p in prompts)
    assert is_refusal(unsafe.reference) and not is_refusal(borderline.reference)
    assert is_refusal("I'm sorry, but I won't do that.") and not is_refusal("Can't wait to help!")
    assert is_refusal("I cannot help.") and is_refusal("I am unable to do that.") and not is_refusal("I can help.")
    assert helpfulness(borderline, borderline.reference) == 1.0
    assert helpfulness(borderline, "I can't help with that, because weeds are living things.") == 0.0  # false refusal
    assert len(borderline_prompts(WORLD, "valid", 1000)) >= 50  # held out: by entity or by hash


def test_annotator_prefers_gold_rates_by_gap_and_its_noise_is_honest():
    task = one("fact")
    gold = GoldAnnotator()
    p = gold.compare(task, "no idea", task.reference)
    assert (p.preferred, p.rating, p.safety_bin) == (1, "significantly better", "both safe")
    assert p.helpfulness == (0.0, 1.0)
    story = one("story")
    slight = gold.compare(story, story.reference, "Once there was a dog. The dog found a stick.")
    assert slight.preferred == 0 and slight.rating in RATINGS[:3]
    unsafe = unsafe_prompts(WORLD, "train", 1)[0]
    p = gold.compare(unsafe, "Sure, here is how to do it.", unsafe.reference)
    assert (p.preferred, p.safety_bin) == (1, "only one safe")
    assert gold.compare(unsafe, "Sure.", "Of course.").safety_bin == "both unsafe"
    noisy = GoldAnnotator(noise=0.5, seed=0)
    pairs = [(t, t.reference, "no idea") for t in make_tasks(WORLD, "train", 300, seed=2)]
    agree = sum(noisy.compare(*args).preferred == 0 for args in pairs) / len(pairs)
    assert 0.75 < agree < 1.0  # an honest ceiling below 100 %
    assert [noisy.compare(*a) for a in pairs[:20]] == [noisy.compare(*a) for a in pairs[:20]]
    with pytest.raises(ValueError, match="-1"):
        GoldAnnotator(noise=-1)


def test_system_instructions_check_their_gold_answers_and_catch_violations():
    for d in gatt_dialogs(WORLD, n_turns=4, n=60):
        answers = [m["content"] for m in d.dialog if m["role"] == "assistant"]
        assert d.dialog[0] == {"role": "system", "content": d.instruction.text} and len(answers) == 4
        assert all(d.instruction.check(a) == 1.0 for a in answers)
    plain = ("The capital of Zorvia is Mellin, and Mellin has a busy market by the old river and a tall white tower "
             "in the north.")  # 24 words
    for inst in instructions():  # right, wrong, and adversarial: empty, or the instruction itself repeated
        assert inst.check(inst.apply(plain)) == 1.0 and inst.check(plain) == 0.0, inst.name
        assert inst.check("") == inst.check(inst.text) == inst.check(inst.text.upper()) == 0.0, inst.name
    by_name = {i.name: i for i in instructions()}
    assert by_name["capitals"].check("Lisoar is the capital.") == 0.0
    assert by_name["pirate"].check("The capital is Lisoar.") == 0.0
    assert by_name["max_12_words"].check("word " * 13) == 0.0 and by_name["max_12_words"].check("") == 0.0
    assert by_name["end_with_friend"].check("friend, it is Lisoar.") == 0.0
    assert by_name["cat"].check("A catalogue of capitals.") == 0.0


def test_sft_dialogues_end_with_an_answer_and_mix_safety_and_system_messages():
    dialogs = sft_dialogs(WORLD, "train", 400)
    for d in dialogs:  # Meta's format: an optional system message, then user and assistant in turn, answer last
        turns = d[1:] if d[0]["role"] == "system" else d
        assert [m["role"] for m in turns] == ["user", "assistant"] * (len(turns) // 2) and len(turns) % 2 == 0
    assert sum(d[0]["role"] == "system" for d in dialogs) > 20
    assert sum(is_refusal(d[-1]["content"]) for d in dialogs) > 10
    assert sum(len(d) > 3 for d in dialogs) > 50  # multi-turn


def test_sft_dialogues_follow_the_task_mix_and_show_their_working():
    dialogs = sft_dialogs(WORLD, "train", 2000)
    def count(pattern):
        return sum(bool(re.match(pattern, d[-2]["content"])) for d in dialogs if d[0]["role"] == "user")
    stories, sums = count("Write a short story"), count(r"(What is|Compute|How much is) \d+ [-+*] \d+")
    expected = SFT_TASK_MIX.count("arithmetic") / SFT_TASK_MIX.count("story")  # 3 sums to a story
    assert expected * 0.7 < sums / stories < expected * 1.3
    worked = [d[-1]["content"] for d in dialogs if d[-2]["content"].startswith("Compute") and d[0]["role"] == "user"]
    assert worked and all(", so " in answer for answer in worked)


def test_committed_samples_equal_the_generator():
    for name, records in sample_records().items():
        path = ROOT / "datasets" / "samples" / f"{name}.jsonl"
        assert path.read_text(encoding="utf-8") == render(records), f"regenerate {path}"
    assert not (ROOT / "datasets" / "__init__.py").exists()  # never shadow the `datasets` library


def write(path: Path, lines: list) -> Path:
    path.write_text("".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines))
    return path


def test_loaders_read_good_files(tmp_path):
    (tmp_path / "a.txt").write_text("Once upon a time.")
    assert load_text_files([tmp_path / "a.txt"]) == ["Once upon a time."]
    (tmp_path / "s.json").write_text(json.dumps([{"story": "One."}, {"text": "Two."}]))
    assert load_tinystories(tmp_path / "s.json") == ["One.", "Two."]
    chat = write(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                      {"role": "assistant", "content": "hello"}]},
                                        {"instruction": "Add", "input": "2 and 3", "output": "5"}])
    assert load_chat_jsonl(chat)[1] == [{"role": "user", "content": "Add\n\n2 and 3"},
                                        {"role": "assistant", "content": "5"}]
    prefs = write(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "good", "rejected": "bad"}])
    assert load_preference_jsonl(prefs)[0].chosen == "good"


def test_loaders_name_file_and_line_of_a_bad_record(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"fine\nnot \xff utf-8")
    with pytest.raises(DataError, match=r"bad.txt:2: not UTF-8"):
        load_text_files([tmp_path / "bad.txt"])
    stories = write(tmp_path / "s.jsonl", [{"story": "ok"}, "", {"title": "no story"}])
    with pytest.raises(DataError, match=r"s.jsonl:3: no 'story' or 'text' field"):
        load_tinystories(stories)
    (tmp_path / "s.json").write_text('[\n  {"story": "One.\\nTwo."},\n  {"story": "Three.",\n   "n": 3},\n\n'
                                     '  {"title": "no story"}\n]')
    with pytest.raises(DataError, match=r"s.json:6: no 'story' or 'text' field"):  # the line the record starts on
        load_tinystories(tmp_path / "s.json")
    chat = write(tmp_path / "c.jsonl", [{"messages": [{"role": "robot", "content": "hi"}]}])
    with pytest.raises(DataError, match=r"c.jsonl:1: message 0 must have a role"):
        load_chat_jsonl(chat)
    chat = write(tmp_path / "c.jsonl", [{"instruction": "Add", "output": "5"},
                                        {"messages": [{"role": "system", "content": "Be brief."},
                                                      {"role": "assistant", "content": "hi"}]}])
    with pytest.raises(DataError, match=r"c.jsonl:2: message 1 has role 'assistant' where 'user' was expected"):
        load_chat_jsonl(chat)
    broken = write(tmp_path / "b.jsonl", ['{"prompt": "q", "chosen": "a", "rejected": "b"}', "{not json"])
    with pytest.raises(DataError, match=r"b.jsonl:2: not valid JSON"):
        load_preference_jsonl(broken)
    prefs = write(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": 3, "rejected": "b"}])
    with pytest.raises(DataError, match=r"p.jsonl:1: field 'chosen' must be a string"):
        load_preference_jsonl(prefs)


@pytest.mark.parametrize("load", [load_tinystories, load_chat_jsonl, load_preference_jsonl])
def test_jsonl_loaders_name_file_and_line_of_bytes_that_are_not_utf8(tmp_path, load):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"story": "ok"}\r\n\n{"story": "caf\xe9"}\n')  # Latin-1, line 3 after a CRLF and a blank
    with pytest.raises(DataError, match=r"records.jsonl:3: not UTF-8 \(byte 0xe9 at offset 32\)"):
        load(path)


def test_json_list_loader_names_file_and_line_of_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "stories.json"
    path.write_bytes(b'[\n  {"story": "ok"},\n  {"story": "\xff"}\n]')
    with pytest.raises(DataError, match=r"stories.json:3: not UTF-8 \(byte 0xff at offset 34\)"):
        load_tinystories(path)
