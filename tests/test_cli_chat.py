"""`mini-llama chat` as a user meets it: flags checked before the model loads, a line that is not UTF-8 refused
without ending the conversation, Ctrl-C ending it with one line and exit status 130."""

import os
import select
import signal
import subprocess
import sys
import time

import pytest
import torch

from mini_llama.checkpoint import save_hf
from mini_llama.config import ModelArgs
from mini_llama.model import Transformer
from mini_llama.shelf import course_tokenizer_path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    "A tiny model in Hugging Face's layout with the course tokenizer beside it."
    folder = tmp_path_factory.mktemp("chat")
    torch.manual_seed(0)
    save_hf(Transformer(ModelArgs.from_name("tiny", vocab_size=2048, max_seq_len=96)).init_weights().eval(), folder)
    (folder / "tokenizer.model").write_bytes(course_tokenizer_path().read_bytes())
    return folder


@pytest.fixture
def damaged(tmp_path, checkpoint):
    "The checkpoint with an empty weights file: loading it fails, after everything else was checked."
    folder = tmp_path / "damaged"
    folder.mkdir()
    for name in ("config.json", "tokenizer.model"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def chat_command(folder, *flags) -> list[str]:
    return [sys.executable, "-m", "mini_llama.cli", "chat", "--checkpoint", str(folder), "--temperature", "0",
            "--max-gen-len", "4", *flags]


def run_chat(folder, *flags, script=b"") -> subprocess.CompletedProcess:
    return subprocess.run(chat_command(folder, *flags), input=script, capture_output=True, timeout=300)


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "nan"], "argument --temperature: nan is not a finite number"),
    (["--temperature", "inf"], "argument --temperature: inf is not a finite number"),
    (["--temperature", "-0.5"], "argument --temperature: -0.5 is negative; expected a number >= 0 (0 is greedy)"),
    (["--top-p", "0"], "argument --top-p: 0 is not in (0, 1]"),
    (["--top-p", "1.5"], "argument --top-p: 1.5 is not in (0, 1]"),
    (["--top-p", "nan"], "argument --top-p: nan is not a finite number"),
    (["--max-gen-len", "0"], "argument --max-gen-len: 0 is below 1; expected at least one token"),
    (["--max-gen-len", "2.5"], "argument --max-gen-len: '2.5' is not a whole number"),
])
def test_bad_flags_are_refused_before_the_model_loads(damaged, flags, message):
    # weights that cannot be read: a flag refused before the model loads is the only error shown
    result = run_chat(damaged, *flags)
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in stderr
    assert stderr.splitlines()[-1] == f"mini-llama chat: error: {message}"  # after argparse's usage lines
    assert "safetensors" not in stderr


def test_missing_folder_tokenizer_and_damaged_weights_are_one_line(tmp_path, checkpoint, damaged):
    result = run_chat(tmp_path / "nowhere")
    assert (result.returncode, result.stderr.decode()) == (1, f"--checkpoint {tmp_path / 'nowhere'}: no such folder\n")
    result = run_chat(checkpoint, "--tokenizer", str(tmp_path / "none.model"))
    assert (result.returncode, result.stderr.decode()) == (
        1, f"no tokenizer at {tmp_path / 'none.model'}: put tokenizer.model in the checkpoint folder or pass "
           f"--tokenizer\n")
    result = run_chat(damaged)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"mini-llama chat: {damaged / 'model.safetensors'} is not a readable "
                                             f"safetensors file (it is empty)")
    assert result.stderr.decode().count("\n") == 1
    result = run_chat(checkpoint, "--max-gen-len", "96")
    assert (result.returncode, result.stderr.decode()) == (
        1, "--max-gen-len 96 leaves no room for a prompt in the model's context of 96 tokens\n")


def test_a_line_that_is_not_utf8_is_refused_and_the_conversation_goes_on(checkpoint):
    good = run_chat(checkpoint, script=b"Who owns Bostand?\nAnd where does Rakes live?\n")
    result = run_chat(checkpoint, script=b"Who owns Bostand?\nnot \xff\xfe UTF-8\nAnd where does Rakes live?\n")
    assert result.returncode == 0 and result.stderr == b""
    out = result.stdout.decode()
    assert out.count("[that line is not valid UTF-8 text and was not sent: type it again]") == 1
    # the same two answers as without the bad line: it reached neither the model nor the dialog
    assert out.replace("you> [that line is not valid UTF-8 text and was not sent: type it again]\n", "") \
        == good.stdout.decode()
    assert out.count("llama> ") == 2


def read_until(stream, marker: bytes, timeout: float = 120) -> bytes:
    "Read from a pipe until `marker` arrives (the chat prompt, written without a newline)."
    seen, deadline = b"", time.monotonic() + timeout
    while not seen.endswith(marker):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no {marker!r} after {timeout} s; got {seen!r}")
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            raise EOFError(f"the chat ended before {marker!r}; got {seen!r}")
        seen += chunk
    return seen


def test_ctrl_c_ends_the_chat_with_one_line_and_status_130(checkpoint):
    # SIGINT as a terminal sends it, with Python's default handler even if this test's runner ignores SIGINT
    proc = subprocess.Popen(chat_command(checkpoint), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        read_until(proc.stdout, b"you> ")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stderr.decode() == "\n[interrupted: chat ended]\n"
