"""Loaders for real data a user brings, each validating its input and naming the file and line of a bad record.

Plain module, taught by no chapter. Formats: plain text files (one document per file), TinyStories-style JSON or
JSONL (records with a `story` or `text` field), chat JSONL (`messages` with roles, or `instruction`/`input`/`output`),
and preference JSONL (`prompt`, `chosen`, `rejected`). A record of a JSON list is named by the line it starts on;
chat messages must come in Meta's order (an optional system message, then user and assistant in turn).
"""

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROLES = ("system", "user", "assistant")
BETWEEN_RECORDS = re.compile(r"[\s,]*")


class DataError(ValueError):
    "A bad record: the message names the file and the line."


@dataclass(frozen=True)
class PreferencePair:
    prompt: str | list[dict]
    chosen: str
    rejected: str


def load_text_files(paths: list[str | os.PathLike]) -> list[str]:
    "Each file's UTF-8 text as one document."
    return [_read_utf8(Path(path)) for path in paths]


def _read_utf8(path: Path) -> str:
    "The file's text; bytes that are not UTF-8 are a DataError naming the line, the byte and its offset."
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte {raw[err.start]:#04x} at offset {err.start})") from None


def _jsonl(path: Path):
    "Yield (line number, record) of a JSON-lines file, skipping blank lines."
    # the whole file is decoded first, so that a bad byte is reported by its line like a bad record;
    # newline=None splits lines as open() does (\n, \r\n or \r)
    for number, line in enumerate(io.StringIO(_read_utf8(path), newline=None), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg})") from None


def _text_field(path: Path, number: int, record, names: tuple[str, ...]) -> str:
    if not isinstance(record, dict):
        raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    for name in names:
        if name in record:
            if not isinstance(record[name], str):
                raise DataError(f"{path}:{number}: field {name!r} must be a string, got {type(record[name]).__name__}")
            return record[name]
    raise DataError(f"{path}:{number}: no {' or '.join(map(repr, names))} field (keys: {sorted(record)})")


def _json_list(path: Path):
    "Yield (line number, record) of a file holding one JSON list, each record numbered by the line it starts on."
    text = _read_utf8(path)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}:1: expected a JSON list of records, got {type(records).__name__}")
    decoder, end = json.JSONDecoder(), text.index("[") + 1
    line = 1 + text.count("\n", 0, end)
    for _ in records:  # decode again, element by element, to learn where each one starts (linear in the file)
        at = BETWEEN_RECORDS.match(text, end).end()
        line += text.count("\n", end, at)
        record, end = decoder.raw_decode(text, at)
        yield line, record
        line += text.count("\n", at, end)


def load_tinystories(path: str | os.PathLike) -> list[str]:
    "Stories from a JSON list (`.json`) or a JSONL file of records with a `story` (or `text`) field."
    path = Path(path)
    records = _json_list(path) if path.suffix == ".json" else _jsonl(path)
    return [_text_field(path, n, r, ("story", "text")) for n, r in records]


def _messages(path: Path, number: int, messages) -> list[dict]:
    "Validated messages in Meta's order: an optional system message, then user and assistant in turn."
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{path}:{number}: 'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
            raise DataError(f"{path}:{number}: message {i} must have a role in {ROLES} and a string content, got {m!r}")
    first = 1 if messages[0]["role"] == "system" else 0
    for i, m in enumerate(messages[first:], start=first):
        expected = ("user", "assistant")[(i - first) % 2]
        if m["role"] != expected:
            raise DataError(f"{path}:{number}: message {i} has role {m['role']!r} where {expected!r} was expected "
                            f"(an optional system message first, then user and assistant in turn)")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def load_chat_jsonl(path: str | os.PathLike) -> list[list[dict]]:
    "Dialogues from JSONL: `{\"messages\": [{\"role\", \"content\"}, ...]}` or `{\"instruction\", \"input\"?, \"output\"}`."
    path, dialogs = Path(path), []
    for number, record in _jsonl(path):
        if isinstance(record, dict) and "messages" in record:
            dialogs.append(_messages(path, number, record["messages"]))
            continue
        instruction = _text_field(path, number, record, ("instruction",))
        output = _text_field(path, number, record, ("output",))
        extra = record.get("input") or ""
        user = f"{instruction}\n\n{extra}" if extra else instruction
        dialogs.append([{"role": "user", "content": user}, {"role": "assistant", "content": output}])
    return dialogs


def load_preference_jsonl(path: str | os.PathLike) -> list[PreferencePair]:
    "Preference pairs from JSONL: `prompt` (a string or a list of messages), `chosen`, `rejected`."
    path, pairs = Path(path), []
    for number, record in _jsonl(path):
        chosen = _text_field(path, number, record, ("chosen",))
        rejected = _text_field(path, number, record, ("rejected",))
        if "prompt" not in record:
            raise DataError(f"{path}:{number}: no 'prompt' field (keys: {sorted(record)})")
        prompt = record["prompt"]
        prompt = prompt if isinstance(prompt, str) else _messages(path, number, prompt)
        pairs.append(PreferencePair(prompt, chosen, rejected))
    return pairs
