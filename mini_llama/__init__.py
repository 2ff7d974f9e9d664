"""Llama 2 rebuilt from the tokenizer to Ghost Attention: a course of notebooks and the package they export

Modules:

- `mini_llama.artifacts`: Where the course keeps what it builds (tokenizer, base model, SFT model, ...), and how it writes it."""

__version__ = "0.1.0"
