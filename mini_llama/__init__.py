"""Llama 2 rebuilt from the tokenizer to Ghost Attention: a course of notebooks and the package they export

Modules:

- `mini_llama.artifacts`: Where the course keeps what it builds (tokenizer, base model, SFT model, ...), and how it writes it.
- `mini_llama.cli`: The `mini-llama` command line. Plain module, taught by no chapter: each subcommand calls the package.
- `mini_llama.data.annotator`: TinyWorld's gold annotator: two responses to a prompt in, a preference with the paper's ratings out.
- `mini_llama.data.checks`: Gold checkers' shared rules: how an answer is read out of a free-form response.
- `mini_llama.data.corpus`: TinyWorld's pretraining corpus: stories, encyclopedia entries, arithmetic and dictionary pages, streamed document by document.
- `mini_llama.data.dialogs`: TinyWorld's supervised fine-tuning data: complete chat dialogues with gold assistant answers.
- `mini_llama.data.everyday`: TinyWorld's everyday requests: harmless how-to questions with a helpful answer, for supervised fine-tuning only.
- `mini_llama.data.instructions`: TinyWorld's system instructions with checkers, and multi-turn dialogues under one instruction (for GAtt).
- `mini_llama.data.loaders`: Loaders for real data a user brings, each validating its input and naming the file and line of a bad record.
- `mini_llama.data.safety`: TinyWorld's safety data: prompts asking for the world's harms, prompts that only sound harmful, and the gold safety checker.
- `mini_llama.data.samples`: Writes the small samples committed in `datasets/samples/`: a few records of every TinyWorld data set.
- `mini_llama.data.tasks`: TinyWorld's tasks: prompts with a gold reference answer and a checker scoring any response in [0, 1].
- `mini_llama.data.words`: TinyWorld's dictionary: the words of the word games, and how the corpus spells each of them.
- `mini_llama.data.world`: TinyWorld's world: fictional countries, cities, people and pets with known attributes, fixed by a seed.
- `mini_llama.distributed`: Scaling `mini_llama.pretrain.train` out over processes. Plain module, taught by no chapter (chapter 07b explains why).
- `mini_llama.eval`: The evaluation harness: a model's answers to held-out TinyWorld prompts, scored by the gold checkers.
- `mini_llama.recipe`: The main job, `mini-llama recipe`: build every stage of the course from nothing, measure each, write a report.
- `mini_llama.shelf`: The shelf of course stages: every artifact the course builds (tokenizer, base model, SFT model, and each later stage), declared once."""

__version__ = "0.1.0"
