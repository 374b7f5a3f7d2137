"""The `edge-veda` command line."""
from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator


class _CliError(Exception):
    """A user error found by the CLI itself (not by the library)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SKIPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = """\
exit status:
  0    success (also when the reader of stdout closes the pipe early, as `| head` does)
  1    error: the message and a hint are on stderr
  2    usage error: bad command line
  3    g2p: some words or input lines were skipped (each is reported on stderr); the rest
       were answered
  130  interrupted (Ctrl-C)

Set EDGE_VEDA_DEBUG=1 to also print Python tracebacks."""

# `say` never skips input: its table is the general one without code 3.
SAY_EXIT_CODES = "\n".join(line for line in EXIT_CODES.splitlines()
                            if not line.startswith(("  3 ", "       were answered")))

# A stdin line longer than this is reported and skipped: no word is near it, and buffering an
# endless line (a binary file piped in by mistake) must not take the machine's memory.
MAX_LINE_BYTES = 1 << 20


class _Skips:
    """Reports skipped input on stderr and remembers that something was skipped (exit 3)."""

    def __init__(self):
        self.count = 0

    def __call__(self, where: str, why: str) -> None:
        self.count += 1
        _say(f"edge-veda: {where}: {why}, skipped")


def _say(text: str) -> None:
    """A line on stderr; a closed stderr is not worth a traceback."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _stdin_lines():
    """Yields lists of (line number, raw bytes) as they arrive on stdin: os.read returns what the
    pipe holds, so an interactive user gets each line answered at once and a large file goes in
    big batches. Lines are split on b"\\n" before any decoding, so one bad line never takes the
    good lines of its chunk with it."""
    if sys.stdin is None:
        raise _CliError("stdin is closed", "give the words as arguments, or pipe them in")
    fd = sys.stdin.fileno()
    pending = bytearray()
    too_long = False  # the current line passed MAX_LINE_BYTES: drop bytes up to its newline
    number = 0
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        batch = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            number += 1
            if too_long:
                batch.append((number, None))
                too_long = False
            else:
                pending += data[start:newline]
                batch.append((number, bytes(pending) if len(pending) <= MAX_LINE_BYTES else None))
            pending.clear()
            start = newline + 1
        if not too_long:
            pending += data[start:]
            if len(pending) > MAX_LINE_BYTES:
                pending.clear()
                too_long = True
        if batch:
            yield batch
    if too_long or pending:
        yield [(number + 1, None if too_long else bytes(pending))]


def _decode_line(number: int, raw: bytes | None) -> tuple[str | None, str | None]:
    """(word, None), or (None, why it is skipped); blank lines give ("", None)."""
    if raw is None:
        return None, f"longer than {MAX_LINE_BYTES} bytes"
    if b"\0" in raw:
        return None, "contains a NUL byte"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 (byte {e.start + 1})"
    if number == 1:
        text = text.lstrip("\ufeff")  # a byte-order mark some editors put first
    return text.strip(), None  # strip() also removes the \r of CRLF line ends


def _argument_problem(word: str) -> str | None:
    if "\0" in word:
        return "contains a NUL character"
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8, decoded by Python as surrogates
        return "invalid UTF-8"
    return None  # an empty argument is an input too: an empty answer, as the library gives


def _interruptible(model, fn, *args):
    """Runs a native call on a helper thread so that Ctrl-C reaches this (main) thread at once and
    cancels the call, instead of waiting for the call to return first."""
    result: dict = {}

    def run():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # noqa: B036 - handed to the main thread
            result["error"] = e

    worker = threading.Thread(target=run, name="edge-veda-g2p", daemon=True)
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        model.cancel()
        worker.join(5.0)
        raise
    if "error" in result:
        raise result["error"]
    return result["value"]


def _answer(model, items: list[tuple[str, str]], out, skipped: _Skips) -> None:
    """Writes WORD<TAB>PHONEMES for each (where, word) item; a word the model refuses is reported
    and skipped, and the others are still answered."""
    from .errors import InvalidArgumentError

    words = [word for _, word in items]
    try:
        results = _interruptible(model, model.generate_batch, words)
    except InvalidArgumentError:
        results = []  # one word over a limit: answer the others one by one
        for where, word in items:
            try:
                results.append(_interruptible(model, model.generate, word))
            except InvalidArgumentError as e:
                skipped(where, e.message)
                results.append(None)
    out.write(b"".join(f"{word}\t{phonemes}\n".encode("utf-8")
                       for word, phonemes in zip(words, results) if phonemes is not None))
    out.flush()


def _text_chunks(max_chars: int, skipped: _Skips) -> Iterator[str]:
    """Running text from stdin in pieces of at most `max_chars` code points, cut at line ends
    (the text front end reads a line end as a space) or, inside an overlong line, at spaces."""
    chunk: list[str] = []
    size = 0
    for batch in _stdin_lines():
        for number, raw in batch:
            line, problem = _decode_line(number, raw)
            if problem:
                skipped(f"line {number}", problem)
                continue
            while len(line) > max_chars:  # an overlong line: cut at the last space that fits
                cut = line.rfind(" ", 0, max_chars)
                cut = cut if cut > 0 else max_chars
                if chunk:
                    yield "\n".join(chunk)
                    chunk, size = [], 0
                yield line[:cut]
                line = line[cut:].lstrip()
            if size + len(line) + 1 > max_chars and chunk:
                yield "\n".join(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
    if chunk:
        yield "\n".join(chunk)


def _cmd_g2p_text(args, skipped: _Skips) -> None:
    from .model import Model

    with Model.load(args.model, num_threads=args.threads) as model:
        out = sys.stdout.buffer
        for text in _text_chunks(model.status().max_input_chars, skipped):
            tokens = _interruptible(model, lambda t: model.phonemize(t, with_source=args.source), text)
            out.write(b"".join(("\t".join([tok[0], " ".join(tok[1])] + ([tok[2]] if args.source else []))
                                + "\n").encode("utf-8") for tok in tokens))
            out.flush()


def _cmd_say(args) -> int:
    if not 0.25 <= args.speed <= 4:  # the range of ev_synthesis_params.speed (NaN is outside it)
        args.parser.error(f"--speed must be between 0.25 and 4 (1 = the model's own pace), not {args.speed:g}")
    if args.text == "-":
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _CliError(f"stdin is not valid UTF-8 (byte {e.start})", "pass UTF-8 text") from None
    else:
        text = args.text
    if not text.strip():
        if args.text == "-":
            args.parser.error("stdin held no text to say (it was empty or only whitespace)")
        args.parser.error("give the text to say (or '-' to read it from stdin)")
    _voice_for_language(args)
    out = args.output
    place = _WavOutput(out, args.force)  # refuses before the model is loaded, not after synthesis
    try:
        samples, rate = _synthesize(args, text, place)
        place.finish(rate)
    finally:
        place.discard()
    print(f"{'stdout' if out == '-' else out}: {samples / rate:.2f} s at {rate} Hz", file=sys.stderr)
    return EXIT_OK


def _voice_for_language(args) -> None:
    """--lang chooses the voice (that language's default when --voice is not given) and the voice
    chooses the lexicon (b*: en-gb): a --voice of another language than --lang is a usage error.
    A voice of a language the English front end cannot speak (jf_alpha) reading text is
    accepted with a warning."""
    from .speech import ENGLISH_DEFAULT_VOICES, foreign_voice_warning, voice_info

    first = (args.voice or "").split(",")[0].split(":")[0].strip()
    if args.lang is not None:
        if args.voice is None:
            args.voice = ENGLISH_DEFAULT_VOICES[args.lang]
        elif voice_info(first)[0] != args.lang:
            args.parser.error(f"--lang {args.lang} contradicts --voice {args.voice} "
                              f"({voice_info(first)[0] or 'a voice of no known language'})\n"
                              f"hint: {_language_voices(args, args.lang)}; or leave out --lang "
                              f"(the voice chooses the lexicon)")
    warning = None if args.phonemes else foreign_voice_warning(args.voice)
    if warning is not None:
        import warnings

        _say(f"edge-veda: say: warning: {warning}")
        # Said once here; not again by SpeechModel (a UserWarning with the same text).
        warnings.filterwarnings("ignore", message=r"SpeechModel\.\w+: voice \S+ is ", category=UserWarning)


def _language_voices(args, language: str) -> str:
    """'en-gb voices: bf_alice, ...' from the model's own list (voice_info), or where they are."""
    from .speech import ENGLISH_DEFAULT_VOICES, SpeechModel, voice_info

    try:  # an artifact already here only: a usage error neither downloads nor compiles
        from .models.manager import ModelManager
        from .paths import is_built, local_build_dir

        model = args.model
        if not os.path.isdir(model):
            manager = ModelManager()
            model = manager.path(model) if manager.is_installed(model) else local_build_dir(model)
            if not is_built(model):
                raise FileNotFoundError(model)
        with SpeechModel.load(model, frontend=None, num_threads=1) as tts:
            names = [v for v in tts.voices() if voice_info(v)[0] == language]
        return f"{language} voices: {', '.join(names)}"
    except Exception:  # the hint only: the artifact may not be here yet
        return f"{language} voices start with {ENGLISH_DEFAULT_VOICES[language][0]} (edge-veda voices lists them)"


def _synthesize(args, text: str, place: "_WavOutput") -> tuple[int, int]:
    """Synthesizes `text` of any length (SpeechModel splits it at sentence ends into parts the
    model accepts) and hands each chunk to `place` as it is made; returns (samples, rate)."""
    from .speech import SpeechModel

    frontend = None if args.phonemes else args.frontend
    progress = sys.stderr.isatty()
    with SpeechModel.load(args.model, frontend=frontend, num_threads=args.threads) as tts:
        rate = tts.sample_rate
        kw = {"phonemes": text} if args.phonemes else {}
        written = [0]
        trim = _malloc_trim()

        def on_chunk(chunk) -> None:
            place.write(chunk.samples, rate)
            written[0] += len(chunk.samples)
            if trim is not None:
                trim(0)
            if progress:
                print(f"\redge-veda: say: {chunk.progress:4.0%}", end="", file=sys.stderr, flush=True)

        _interruptible(tts, lambda t: tts.synthesize_with_callback(None if args.phonemes else t, on_chunk,
                                                                   voice=args.voice, speed=args.speed, **kw), text)
        if progress:
            print(file=sys.stderr)
        return written[0], rate


def _malloc_trim():
    """glibc's malloc_trim, or None. The synthesis runs on a helper thread (_interruptible),
    whose malloc arena keeps what each sentence freed: trimmed after every chunk, a long text's
    peak RSS stays near one sentence's (tests/bench/test_bench_say_memory.py; without it about
    +40% on 2,000 words)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim  # absent from musl: AttributeError
    except (OSError, AttributeError):
        return None


def _wav_header(rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV holding `data_bytes` of samples (sizes over
    4 GiB, or a stream's unknown size given as 0xFFFFFFFF, are written as 0xFFFFFFFF)."""
    import struct

    riff = min(36 + data_bytes, 0xFFFFFFFF)
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", riff, b"WAVE", b"fmt ", 16, 1, 1, rate, 2 * rate, 2, 16,
                       b"data", min(data_bytes, 0xFFFFFFFF))


def _pcm16(samples) -> bytes:
    import numpy as np

    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def _is_wav(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


class _WavOutput:
    """Where `say -o OUT` writes, decided before synthesis. "-": stdout. A character device or a
    FIFO (/dev/null, /dev/stdout on a pipe, a named pipe): written in place, never replaced by a
    regular file. Anything else: a temporary file made next to it, renamed over it once complete;
    an existing file is replaced only if it is empty or a WAV (the previous output), or with
    --force. A symlink is followed: its target is written, the link itself stays."""

    def __init__(self, out: str, force: bool):
        self.out, self.path, self.tmp = out, None, None
        if out == "-":
            if sys.stdout is None:
                raise _CliError("stdout is closed", "redirect it to a file or a pipe, or pass -o FILE")
            if sys.stdout.isatty():
                raise _CliError("refusing to write a WAV file to the terminal",
                                "redirect stdout (> out.wav), pipe it (| aplay), or pass -o FILE")
            return
        try:
            st = os.stat(out)  # follows symlinks: the rules apply to what the name leads to
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise _CliError(f"{out} is a directory", "pass a file name for the WAV, e.g. -o out.wav")
        if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            self.path = out
            return
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise _CliError(f"refusing to write to {out}: it is not a file, a FIFO or a character device",
                            "pass a file name for the WAV, e.g. -o out.wav, or - for stdout")
        if st is not None and st.st_size and not force and not _is_wav(out):
            raise _CliError(f"refusing to replace {out}: it exists and is not a WAV file",
                            "name another file, or pass --force to replace it")
        target = os.path.realpath(out) if os.path.islink(out) else out
        folder, name = os.path.split(target)
        try:
            # A unique name: a user's own OUT.part (or a directory of that name) is never touched.
            fd, self.tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder or ".")
        except OSError as e:  # reported under the name the user gave, not the temporary one
            raise OSError(e.errno, e.strerror, out) from None
        os.close(fd)
        # mkstemp makes the file 0600: give the WAV the mode the file had, or a new file's.
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(self.tmp, mode)
        self.path = target

    # To a pipe, a FIFO or a device (no seeking back), audio is held up to this many bytes
    # (~22 s at 24 kHz): a WAV that fits is written with its exact sizes, a longer one is
    # streamed with the sizes set to 0xFFFFFFFF (as streaming WAV writers do) once this is full.
    HOLD_BYTES = 1 << 20

    _file = None     # the open output: the temporary file, the device/FIFO, or stdout
    _held = None     # audio not written yet (stream outputs only), or None once streaming
    _rate = 0
    _bytes = 0       # PCM bytes written or held

    def write(self, samples, rate: int) -> None:
        """Adds a chunk of float32 samples: written at once to a file, held or streamed otherwise."""
        try:
            self._write(_pcm16(samples), rate)
        except OSError as e:
            raise self._named(e) from None

    def _named(self, e: OSError) -> OSError:
        if e.filename is None and self.out != "-":  # name OUT, so the hint is about OUT's disk
            return OSError(e.errno, e.strerror, self.out)
        return e

    def _write(self, data: bytes, rate: int) -> None:
        if self._file is None:
            self._rate = rate
            if self.out == "-":
                self._file = sys.stdout.buffer
            else:  # a device or FIFO opened for writing (never replaced), or the temporary file
                self._file = open(self.tmp if self.tmp is not None else self.path, "wb")
            if self.tmp is not None:
                self._file.write(_wav_header(rate, 0))  # sizes patched by finish()
            else:
                self._held = bytearray()
        self._bytes += len(data)
        if self._held is None:
            self._file.write(data)
            return
        self._held += data
        if len(self._held) > self.HOLD_BYTES:  # too long to hold: stream it from here on
            self._file.write(_wav_header(self._rate, 0xFFFFFFFF))
            self._file.write(self._held)
            self._file.flush()
            self._held = None

    def finish(self, rate: int) -> None:
        """Completes the WAV: exact sizes in the header where it can, then the file in place."""
        try:
            self._finish(rate)
        except OSError as e:
            raise self._named(e) from None

    def _finish(self, rate: int) -> None:
        if self._file is None:  # no audio at all: an empty WAV
            self._write(b"", rate)
        f = self._file
        if self.tmp is None:
            try:
                if self._held is not None:
                    f.write(_wav_header(self._rate, self._bytes) + self._held)
                    self._held = None
                f.flush()
            finally:
                if f is not sys.stdout.buffer:
                    f.close()
            return
        try:
            f.seek(0)
            f.write(_wav_header(self._rate, self._bytes))
            f.flush()
            os.fsync(f.fileno())  # complete on disk before it takes the old file's place
        finally:
            f.close()
        os.replace(self.tmp, self.path)
        self.tmp = None

    def discard(self) -> None:
        """Removes the temporary file after any failure (Ctrl-C included)."""
        if self._file is not None and self._file is not sys.stdout.buffer and not self._file.closed:
            try:
                self._file.close()
            except OSError:
                pass
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def _cmd_voices(args) -> int:
    from .speech import SpeechModel

    from .speech import voice_info

    with SpeechModel.load(args.model, frontend=None) as tts:
        for v in tts.voices():  # NAME<TAB>LANGUAGE<TAB>GENDER, the default first
            language, gender = voice_info(v)
            print(f"{v}\t{language or '-'}\t{gender or '-'}")
    return EXIT_OK


def _cmd_g2p(args) -> int:
    from .model import Model

    if sys.stdout is None:
        raise _CliError("stdout is closed", "redirect the output to a file or a pipe")
    skipped = _Skips()
    if args.text:
        if args.words not in ([], ["-"]):
            args.parser.error("--text reads stdin: give no WORD arguments (for sentences as arguments, "
                              "quote them: edge-veda g2p \"Hello, world.\")")
        _cmd_g2p_text(args, skipped)
        return EXIT_SKIPPED if skipped.count else EXIT_OK
    if args.source:
        args.parser.error("--source goes with --text (edge-veda g2p --text --source < text.txt)")
    if not args.words:
        args.parser.error("give WORDs (or quoted sentences), '-' for one per line on stdin, or --text")
    if args.words == ["-"]:
        with Model.load(args.model, num_threads=args.threads) as model:
            out = sys.stdout.buffer
            for batch in _stdin_lines():
                items = []
                for number, raw in batch:
                    word, problem = _decode_line(number, raw)
                    if problem:
                        skipped(f"line {number}", problem)
                    elif word:
                        items.append((f"line {number}", word))
                if items:
                    _answer(model, items, out, skipped)
    else:
        items = []
        for i, word in enumerate(args.words, 1):
            problem = _argument_problem(word)
            if problem:
                skipped(f"argument {i}", problem)
            else:
                items.append((f"argument {i}", word))
        if items:
            with Model.load(args.model, num_threads=args.threads) as model:
                _answer(model, items, sys.stdout.buffer, skipped)
    return EXIT_SKIPPED if skipped.count else EXIT_OK


def _cmd_status(args) -> int:
    import os

    from . import ABI_VERSION, __version__, runtime_version
    from .paths import cache_root, local_build_dir
    from .config import library_dir

    print(f"edge-veda {__version__}")
    print(f"abi: {ABI_VERSION}")
    print(f"tvm runtime: {runtime_version()}")
    print(f"library: {library_dir()}")
    print(f"cache: {cache_root()}")
    from .models import ModelManager

    mm = ModelManager()
    for name in ("g2p-en", "kokoro"):  # the models `compile` builds, found as `models list` finds them
        if mm.is_installed(name):
            print(f"{name}: installed ({mm.path(name)})")
        elif mm.local_path(name):
            print(f"{name}: compiled ({mm.local_path(name)})")
        else:
            print(f"{name}: not compiled yet ({local_build_dir(name)})")
    return 0


def _cmd_compile(args) -> int:
    from .compile import compile_model
    from .errors import InvalidArgumentError

    target = None
    if args.target:
        try:
            target = json.loads(args.target)
        except ValueError as e:
            raise InvalidArgumentError(f"--target is not JSON ({e})", 'e.g. --target \'{"kind": "llvm", "mcpu": "znver4"}\'') from None
    if args.prefix and not args.static:
        raise InvalidArgumentError("--prefix names the symbol prefix of a static archive", "add --static")
    from .errors import CompilerNotInstalledError, pip_extra

    try:
        path = compile_model(args.model, args.output, target=target, cc=args.cc, force=args.force,
                             static=args.static, prefix=args.prefix, precision=args.precision)
    except CompilerNotInstalledError as e:  # the extras named as every hint names them
        extra = "kokoro" if args.model == "kokoro" else "compile"
        raise CompilerNotInstalledError(e.message, f"install the compiler: {pip_extra(extra)}; or compile on "
                                                   "a machine that has it and copy the directory here") from None
    print(path)
    return 0


def _cmd_link_check(args) -> int:
    from .linkcheck import run

    report = run(args.files, args.runtime, nm=args.nm)
    for line in report.lines:
        print(line)
    for problem in report.problems:
        _say(f"edge-veda: link-check: {problem}")
    return EXIT_OK if report.ok else EXIT_ERROR


def _manager(args):
    from .models import ModelManager

    return ModelManager(catalog_location=args.catalog, catalog_sha256=getattr(args, "catalog_sha256", None))


def _progress_printer(name: str):
    """A tqdm bar on a terminal; plain lines (every 10%, or every 10 MB without a length) otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=name, unit="B", unit_scale=True, file=sys.stderr)

        def on_progress(p):
            bar.total = p.total
            bar.n = p.bytes_done
            bar.refresh()
            if p.done:
                bar.close()
        return on_progress
    last = [-1]

    def on_progress(p):
        step = (p.bytes_done * 10 // p.total) if p.total else p.bytes_done // (10 << 20)
        if step != last[0] or p.done:
            last[0] = step
            total = f"/{p.total}" if p.total else ""
            print(f"{name}: {p.bytes_done}{total} bytes, {p.rate / 1e6:.1f} MB/s"
                  f"{' done' if p.done else ''}", file=sys.stderr, flush=True)
    return on_progress


def _cmd_models(args) -> int:
    from . import models

    mm = _manager(args)
    if args.action == "list":
        found = mm.list()
        for m in found:
            note = "\t(local build)" if m.local else (f"\t(broken: {m.problem})" if m.problem else "")
            print(f"{m.name}\t{m.version}\t{m.path}{note}")
        if not found:
            print("no models installed or built here (edge-veda models pull NAME; g2p-en is compiled "
                  "on first use: edge-veda g2p WORD)", file=sys.stderr)
        return 0
    if args.action == "pull":
        path = mm.pull(args.name, progress=_progress_printer(args.name))
        print(path)
        return 0
    if args.action == "verify":
        if _names_a_directory(args.name):  # any artifact directory, e.g. compile's -o DIR
            path = args.name
            if not os.path.isdir(path):
                raise _CliError(f"{path} is not a directory",
                                "name an artifact directory (one holding manifest.json), or a model name "
                                "(`edge-veda models list` shows them)")
            from . import artifact
            from .errors import EdgeVedaError

            problems = artifact.verify(path)
            if not problems:
                try:
                    artifact.read_manifest(path)  # the format version ev_init reads
                except EdgeVedaError as e:
                    problems.append(e.message)
        else:
            path, problems = mm.verify_report(args.name)
        if not problems:
            print(f"{args.name}: ok")
            return 0
        print(f"{args.name}: CORRUPT ({path})")
        for p in problems:
            print(f"  {p}")
        if path == args.name:
            from .artifact import REBUILD_HINT as fix
        else:
            fix = (f"edge-veda models rm {args.name}, then pull it again" if path == mm.path(args.name)
                   else f"delete {path}; it is rebuilt on next use")
        print(f"hint: {fix}", file=sys.stderr)
        return 1
    if args.action == "rm":
        if not mm.remove(args.name):
            print(f"{args.name} is neither installed nor built on this machine (`edge-veda models list` "
                  "shows what is)", file=sys.stderr)
            return 1
        return 0
    if args.action == "path":
        print(mm.locate(args.name)[0])
        return 0
    if args.action == "pack":
        print(models.pack(args.artifact, args.output))
        return 0
    if args.action == "serve":
        from .models.server import make_server

        server = make_server(args.directory, args.host, args.port)
        host = args.host if args.host not in ("0.0.0.0", "::", "") else "THIS-MACHINE"
        url = f"http://{host}:{server.server_port}/catalog.json"
        print(f"serving {os.path.abspath(args.directory)} at {url}", file=sys.stderr)
        print(f"catalog sha256: {server.catalog_sha256}", file=sys.stderr)
        for name in server.catalog_names or ["NAME"]:
            print(f"pull with: edge-veda models pull {name} --catalog '{url}#sha256={server.catalog_sha256}'",
                  file=sys.stderr)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("note: this is plain HTTP; anyone on the network can alter what it sends. Pull with the "
                  "#sha256= pin above (read it here, not over the network): the tarballs' hashes come "
                  "from the pinned catalog.", file=sys.stderr)
        sys.stderr.flush()
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0
    raise AssertionError(args.action)


def _thread_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative: use 0 (one per core) or more")
    return n  # _run lowers it to the CPUs this process may use


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return value  # the range is checked by _cmd_say, in the words of the option's help


class _VersionAction(argparse.Action):
    """--version: loads the library only when asked (the version is the library's own)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the library, ABI and TVM runtime versions and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from . import ABI_VERSION, __version__, runtime_version

        print(f"edge-veda {__version__} (abi {ABI_VERSION}, tvm runtime {runtime_version()})")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-veda", description="Run TVM-compiled on-device models.",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action=_VersionAction)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    g2p = sub.add_parser("g2p", help="English words and sentences to ARPAbet phonemes",
                         description="Prints one line per input: INPUT<TAB>PHONEMES. An input is a word "
                                     "or a sentence: quote an argument with spaces (\"Hello, world.\"); "
                                     "a sentence gives each word's phonemes and each punctuation token, "
                                     "separated by ' | ' (HH AH0 L OW1 | , | W ER1 L D | .). Dictionary "
                                     "words take CMUdict's first pronunciation, other words the network's; "
                                     "numbers are spelled out (123 -> one hundred twenty-three). "
                                     "With '-' reads one input per line from stdin, the fast path for "
                                     "word lists (UTF-8; a line that is not valid UTF-8 or holds a NUL "
                                     "byte is reported on stderr and skipped, the others are answered). "
                                     "With --text reads running text from stdin (lines of any length) "
                                     "and prints one line per token: TOKEN<TAB>PHONEMES (punctuation has "
                                     "none; tokens are normalized: lowercase, numbers spelled out).",
                         epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g2p.add_argument("words", nargs="*", metavar="WORD",
                     help="words or quoted sentences, or '-' for one per line on stdin")
    g2p.add_argument("--text", action="store_true",
                     help="read running text from stdin; print TOKEN<TAB>PHONEMES per word/punctuation")
    g2p.add_argument("--source", action="store_true",
                     help="with --text: a third column saying where the phonemes came from "
                          "(lexicon, model, punctuation)")
    g2p.add_argument("--model", default="g2p-en", help="model name or artifact directory")
    g2p.add_argument("--threads", type=_thread_count, default=0,
                     help="threads decoding words in parallel (0 = one per core; at most the "
                          "CPUs this process may use)")
    g2p.set_defaults(func=_cmd_g2p, parser=g2p)

    say = sub.add_parser("say", help="text to speech: write a WAV file (model kokoro)",
                         description="Synthesizes TEXT (English, through the g2p-en front end) or, with "
                                     "--phonemes, phonemes in the model's symbols, into a 16-bit mono WAV.",
                         epilog=SAY_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    say.add_argument("text", metavar="TEXT", help="the text to say, or '-' to read it from stdin")
    say.add_argument("-o", "--output", required=True,
                     help="WAV file to write ('-': stdout); an existing file that is not a WAV is "
                          "refused unless --force; a FIFO or device is written in place")
    say.add_argument("--force", action="store_true", help="replace OUTPUT even if it is not a WAV file")
    say.add_argument("--voice", help="a voice (edge-veda voices; default af_heart) or a blend like "
                                     "'af_heart:0.7,bf_emma:0.3'; a b* voice reads British English")
    say.add_argument("--lang", choices=["en-us", "en-gb"],
                     help="the text's English: without --voice, that language's default voice (en-us: "
                          "af_heart, en-gb: bf_emma); with --voice, the voice must be of that language "
                          "(the voice chooses the lexicon)")
    say.add_argument("--speed", type=_speed, default=1.0, help="speaking rate, 0.25 to 4 (default 1)")
    say.add_argument("--phonemes", action="store_true", help="TEXT is phonemes in the model's symbols")
    say.add_argument("--model", default="kokoro", help="TTS model name or artifact directory")
    say.add_argument("--frontend", default="g2p-en", help="G2P model for text (name or artifact directory)")
    say.add_argument("--threads", type=_thread_count, default=0,
                     help="kernel threads (0 = one per core; at most the CPUs this process may use)")
    say.set_defaults(func=_cmd_say, parser=say)

    voices = sub.add_parser("voices", help="list the voices of a TTS model: name, language, gender (default first)")
    voices.add_argument("--model", default="kokoro", help="TTS model name or artifact directory")
    voices.set_defaults(func=_cmd_voices, parser=voices)

    st = sub.add_parser("status", help="library, ABI and TVM versions; cache location")
    st.set_defaults(func=_cmd_status)

    comp = sub.add_parser("compile", help="build a model artifact with TVM")
    from .compile import MODELS

    comp.add_argument("model", choices=MODELS, help="model to build")
    comp.add_argument("-o", "--output", required=True, help="artifact directory to write")
    comp.add_argument("--target", help='TVM target as JSON, e.g. \'{"kind": "llvm", "mcpu": "znver4"}\' '
                                       "(default: this machine's CPU)")
    comp.add_argument("--cc", help="C++ cross compiler linking the library, e.g. aarch64-linux-gnu-g++, or a "
                                   "command line: 'python3 -m ziglang cc -target aarch64-macos.12.0' (Mach-O)")
    comp.add_argument("--force", action="store_true",
                      help="replace an existing directory that is not an artifact of MODEL: an artifact "
                           "is replaced, anything else is moved aside to DIR.replaced-TIME (never deleted)")
    comp.add_argument("--static", action="store_true",
                      help="write a static system-lib archive (link it into the program, as on iOS) "
                           "instead of a shared library")
    comp.add_argument("--prefix", help="symbol prefix of the --static archive: a C identifier of 8-64 "
                                       "characters, unique per model in a program (default: ev_<name>_)")
    comp.add_argument("--precision", default="fp32", choices=("fp32", "int8"),
                      help="fp32 (default), or int8: kokoro's vocoder convolutions with int8 weights and "
                           "16-bit activations (faster; a small, measured loss: BENCHMARKS.md)")
    comp.set_defaults(func=_cmd_compile)

    lc = sub.add_parser("link-check", help="check static model archives and runtime libraries before linking",
                        description="Reads nm output; fails on a prefix defined twice, a model archive that "
                                    "bundles a runtime copy, a lost lib0.o, or a file that is not a model "
                                    "archive (see docs/static-linking.md).")
    lc.add_argument("--nm", help="nm tool: nm, llvm-nm, aarch64-linux-gnu-nm... (default: llvm-nm if present, else nm)")
    lc.add_argument("--runtime", action="append", default=[], metavar="FILE",
                    help="a runtime library linked on purpose (libedge_veda.a, libtvm_runtime.a); repeatable")
    lc.add_argument("files", nargs="+", metavar="FILES", help="model archives (libNAME.a) to link")
    lc.set_defaults(func=_cmd_link_check)

    mod = sub.add_parser("models", help="installed models, catalogs, downloads")
    mod.add_argument("--catalog", help="catalog URL or path, optionally URL#sha256=HEX "
                                       "(default: $EDGE_VEDA_CATALOG, else built in)")
    msub = mod.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="installed models and models built on this machine")
    for action, text in (("pull", "download, verify and install"),
                         ("verify", "re-hash an installed or locally built model, or any artifact DIRECTORY"),
                         ("rm", "remove an installed model and its build on this machine"),
                         ("path", "print an installed or locally built model's directory")):
        ap_ = msub.add_parser(action, help=text, description=(
            "Checks what ev_init checks before loading: manifest.json against manifest.json.sha256, "
            "the files it names (module, weights) listed and plain, every listed file against its size "
            "and SHA-256. NAME is an installed or locally built model; an argument with a '/' (./DIR, "
            "/path/to/DIR) or that is no valid model name is an artifact directory. Exit 0: ok; 1: "
            "corrupt or not found.") if action == "verify" else None)
        ap_.add_argument("name", metavar="NAME_OR_DIR" if action == "verify" else "NAME", help={
            "verify": "a model name, or an artifact directory (./DIR)",
            "pull": "a model the catalog lists (g2p-en and kokoro are also compiled on first use)",
            "rm": "an installed model, or a model built on this machine (`edge-veda models list` shows both)",
            "path": "an installed or locally built model (`edge-veda models list` shows them)"}[action])
        if action == "pull":
            # SUPPRESS: a --catalog given before `pull` must not be reset by this one's default
            ap_.add_argument("--catalog", default=argparse.SUPPRESS,
                             help="catalog URL or path, optionally URL#sha256=HEX")
            ap_.add_argument("--catalog-sha256", metavar="HEX",
                             help="the catalog's SHA-256 (as `models serve` prints it): a catalog with "
                                  "other bytes is refused before it is parsed")
    pk = msub.add_parser("pack", help="tar an artifact and write a catalog listing it")
    pk.add_argument("artifact", help="artifact directory")
    pk.add_argument("-o", "--output", required=True, help="directory for the tarball and catalog.json")
    sv = msub.add_parser("serve", help="serve a packed directory over HTTP (with Range support)")
    sv.add_argument("directory", help="a directory written by `edge-veda models pack`")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for the LAN: plain HTTP, "
                                                        "pull with the printed #sha256= pin)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0: any free port)")
    mod.set_defaults(func=_cmd_models)
    return ap


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so that the interpreter's final flush of
    what is still buffered does not print a second BrokenPipeError at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _user_error_types() -> tuple:
    """Exceptions that report a problem with the user's input, files or network, not a bug."""
    types: list = [OSError, UnicodeError, _CliError]
    try:
        from .models import CatalogError, DownloadError
        from .models.archive import UnsafeArchiveError

        types += [CatalogError, DownloadError, UnsafeArchiveError]
    except ImportError:  # pragma: no cover - a broken install; the error shows elsewhere
        pass
    return tuple(types)


def _names_a_directory(arg: str) -> bool:
    """`models verify ARG`: a path rather than a model name (a name never holds '/')."""
    from .errors import InvalidArgumentError
    from .models.catalog import check_name

    if "/" in arg or arg in (".", ".."):
        return True
    try:
        check_name(arg)
    except InvalidArgumentError:
        return True
    return False


def _os_hint(e: OSError) -> str:
    """What to do about an OSError that reached the CLI: the cache root, a full disk (stdout
    included), permissions, a path that is not a directory."""
    import errno

    from .paths import cache_root

    name = os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else ""
    root = os.path.abspath(cache_root())
    in_cache = bool(name) and os.path.isabs(name) and os.path.commonpath([root, os.path.abspath(name)]) == root
    if in_cache:
        where = "$EDGE_VEDA_HOME" if os.environ.get("EDGE_VEDA_HOME") else "the default cache"
        return (f"edge-veda keeps its models under {root} ({where}), which must be a directory you can "
                "write to: point EDGE_VEDA_HOME at one (e.g. export EDGE_VEDA_HOME=~/.local/share/edge-veda) "
                "or unset it")
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        if not name:
            return ("the output could not be written: free space on the disk stdout goes to, or "
                    "redirect it elsewhere (> FILE on another disk)")
        return f"free space on the disk of {name}, or choose another location"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"you cannot write or read {name or 'this file'}: fix its permissions or choose another location"
    if e.errno in (errno.ENOTDIR, errno.ENOENT, errno.EISDIR):
        return f"check the path {name}: every part of it must exist, and be a directory but the last" if name \
            else "check the paths you named"
    return "check the files and directories named above (and EDGE_VEDA_DEBUG=1 shows where it happened)"


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return str(e) or type(e).__name__


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `edge-veda`: what it can do, not a usage error
        parser.print_help()
        return EXIT_OK
    from .errors import EdgeVedaError

    if getattr(args, "threads", 0):
        from .model import usable_cpus

        cpus = usable_cpus()
        if args.threads > cpus:  # SpeechModel.load lowers it too, silently; here the user hears why
            _say(f"edge-veda: --threads {args.threads} is more than the {cpus} CPUs this process may use; "
                 f"using {cpus}")
            args.threads = cpus

    debug = os.environ.get("EDGE_VEDA_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except EdgeVedaError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _say(f"edge-veda: error: {e.message}")
        if e.hint:
            _say(f"hint: {e.hint}")
        return EXIT_ERROR
    except Exception as e:
        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(e, _user_error_types()):
            _say(f"edge-veda: error: {_describe(e)}")
            hint = getattr(e, "hint", "") or (_os_hint(e) if isinstance(e, OSError) else "")
            if hint:
                _say(f"hint: {hint}")
            return EXIT_ERROR
        # A bug in edge-veda, not in the input: still no traceback unless asked for.
        _say(f"edge-veda: internal error: {type(e).__name__}: {e}")
        _say("hint: this is a bug in edge-veda; run again with EDGE_VEDA_DEBUG=1 for the traceback "
             "and report it")
        return EXIT_ERROR


def main(argv=None) -> int:
    """The `edge-veda` entry point; returns the exit status (see EXIT_CODES)."""
    try:
        return _run(argv)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
