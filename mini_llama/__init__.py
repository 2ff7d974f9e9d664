"""Llama 2 rebuilt from the tokenizer to Ghost Attention: a course of notebooks and the package they export

Modules:

- `mini_llama.artifacts`: Where the course keeps what it builds (tokenizer, base model, SFT model, ...), and how it writes it.
- `mini_llama.data.corpus`: TinyWorld's pretraining corpus: stories, encyclopedia entries and arithmetic, streamed document by document.
- `mini_llama.data.world`: TinyWorld's world: fictional countries, cities, people and pets with known attributes, fixed by a seed."""

__version__ = "0.1.0"
