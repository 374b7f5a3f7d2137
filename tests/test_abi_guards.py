"""Every entry point, called with NULL and invalid arguments through the raw C ABI (cffi):
an error code and a message with a hint come back, nothing crashes, the context stays usable."""
import json
import os
import shutil

import pytest

from edge_veda._ffi import ffi, lib


def last_error(ctx=ffi.NULL) -> str:
    return ffi.string(lib.ev_last_error_message(ctx)).decode()


def assert_error(rc, code, ctx=ffi.NULL, contains=""):
    assert rc == code, (ffi.string(lib.ev_error_string(rc)).decode(), last_error(ctx))
    msg = last_error(ctx)
    assert msg.startswith(ffi.string(lib.ev_error_string(code)).decode() + ": ")
    assert "\nhint: " in msg, msg
    assert contains in msg


def make_config(path, **fields):
    cfg = ffi.new("ev_config*", lib.ev_config_default())
    keep = [ffi.new("char[]", os.fsencode(path))]
    cfg.model_path = keep[0]
    for k, v in fields.items():
        if isinstance(v, str):
            keep.append(ffi.new("char[]", v.encode()))
            v = keep[-1]
        setattr(cfg, k, v)
    return cfg, keep


@pytest.fixture()
def ctx(artifact_dir):
    cfg, keep = make_config(artifact_dir)
    err = ffi.new("ev_error_t*")
    c = lib.ev_init(cfg, err)
    assert c != ffi.NULL and err[0] == lib.EV_OK, last_error()
    yield c
    lib.ev_free(c)


def generate(ctx, text, params=ffi.NULL):
    out = ffi.new("char**")
    rc = lib.ev_generate(ctx, text.encode(), params, out)
    try:
        return rc, (ffi.string(out[0]).decode() if out[0] != ffi.NULL else None)
    finally:
        lib.ev_free_string(out[0])


def test_versions():
    assert lib.ev_abi_version() == lib.EV_ABI_VERSION
    assert ffi.string(lib.ev_version()).decode() == (
        f"{lib.EV_VERSION_MAJOR}.{lib.EV_VERSION_MINOR}.{lib.EV_VERSION_PATCH}")
    assert ffi.string(lib.ev_runtime_version()).decode().startswith("0.27")


def test_error_strings_cover_every_code():
    codes = [getattr(lib, n) for n in dir(lib) if n.startswith("EV_ERR_")]
    assert len(codes) >= 10
    for code in codes:
        name = ffi.string(lib.ev_error_string(code)).decode()
        assert name.startswith("EV_ERR_") and getattr(lib, name) == code
    assert ffi.string(lib.ev_error_string(12345)).decode() == "EV_ERR_UNKNOWN"


def test_defaults():
    cfg = lib.ev_config_default()
    assert cfg.struct_size == ffi.sizeof("ev_config")
    assert ffi.string(cfg.device) == b"cpu" and cfg.model_path == ffi.NULL
    p = lib.ev_generation_params_default()
    assert p.struct_size == ffi.sizeof("ev_generation_params")
    assert (p.max_tokens, p.temperature, p.top_p, p.top_k, p.repeat_penalty) == (0, 0.0, 1.0, 0, 1.0)
    assert p.seed == lib.EV_SEED_CONTEXT and p.num_stop_sequences == 0


def test_free_functions_accept_null():
    lib.ev_free(ffi.NULL)
    lib.ev_free_string(ffi.NULL)
    lib.ev_stream_free(ffi.NULL)
    lib.ev_phonemes_free(ffi.NULL)


def test_init_rejects_bad_configs(tmp_path, artifact_dir):
    err = ffi.new("ev_error_t*")
    assert lib.ev_init(ffi.NULL, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_INVALID_ARGUMENT, contains="config is NULL")
    assert lib.ev_init(ffi.NULL, ffi.NULL) == ffi.NULL  # out_error is optional

    cfg = ffi.new("ev_config*", lib.ev_config_default())
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_INVALID_ARGUMENT, contains="model_path")

    cfg, keep = make_config(artifact_dir)
    cfg.struct_size = 3
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_INVALID_ARGUMENT, contains="struct_size")

    cfg, keep = make_config(artifact_dir, device="metal")
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_UNSUPPORTED_DEVICE, contains='allowed devices: "cpu"')

    cfg, keep = make_config(artifact_dir, num_threads=-2)
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_INVALID_ARGUMENT, contains="num_threads")

    missing = tmp_path / "nope"
    cfg, keep = make_config(str(missing))
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], lib.EV_ERR_MODEL_NOT_FOUND, contains=str(missing))


def broken_copy(artifact_dir, tmp_path, edit=None, manifest_text=None, truncate=False):
    """A copy of the artifact with one defect; the manifest is re-sealed
    (manifest.json.sha256), so each case reaches the check it is about."""
    from edge_veda.compile import write_manifest_digest

    dst = tmp_path / "artifact"
    shutil.copytree(artifact_dir, dst)
    mpath = dst / "manifest.json"
    if edit:
        m = json.loads(mpath.read_text())
        edit(m)
        mpath.write_text(json.dumps(m))
    if manifest_text is not None:
        mpath.write_text(manifest_text)
    if truncate:
        lib_file = dst / json.loads(mpath.read_text())["module"]["library"]
        lib_file.write_bytes(lib_file.read_bytes()[:1000])
    write_manifest_digest(str(dst))
    return str(dst)


def rename_library(m, name):
    m["files"][name] = m["files"].pop(m["module"]["library"])
    m["module"]["library"] = name


@pytest.mark.parametrize("case, code, contains", [
    (dict(manifest_text="{not json"), "EV_ERR_MODEL_INVALID", "invalid JSON at byte 1: 'not'"),
    (dict(edit=lambda m: m.update(format_version=99)), "EV_ERR_MODEL_INVALID", "artifact format 99"),
    (dict(edit=lambda m: m.update(ev_abi_version=999)), "EV_ERR_MODEL_INVALID", "EV ABI 999"),
    (dict(edit=lambda m: m.update(kind="diffusion")), "EV_ERR_MODEL_INVALID", "supported kinds"),
    (dict(edit=lambda m: m["module"].update(library="../evil.so")), "EV_ERR_MODEL_INVALID", "plain file name"),
    (dict(edit=lambda m: rename_library(m, "gone.so")), "EV_ERR_MODEL_NOT_FOUND", "gone.so"),
    (dict(edit=lambda m: m["module"].update(library="other.so")), "EV_ERR_MODEL_INVALID", "does not list 'other.so'"),
    (dict(edit=lambda m: m["g2p"]["network"]["special_tokens"].update(output_eos=500)), "EV_ERR_MODEL_INVALID",
     "special_tokens"),
    (dict(edit=lambda m: m["functions"]["encode"].update(name="nope")), "EV_ERR_MODEL_INVALID", "no function 'nope'"),
    (dict(edit=lambda m: m.update(format_version=1)), "EV_ERR_MODEL_INVALID", "built by an older edge-veda"),
    (dict(truncate=True), "EV_ERR_MODEL_INVALID", "truncated"),
])
def test_init_rejects_broken_artifacts(artifact_dir, tmp_path, case, code, contains):
    path = broken_copy(artifact_dir, tmp_path, **case)
    cfg, keep = make_config(path)
    err = ffi.new("ev_error_t*")
    assert lib.ev_init(cfg, err) == ffi.NULL
    assert_error(err[0], getattr(lib, code), contains=contains)


def test_every_entry_point_rejects_a_null_context():
    out = ffi.new("char**")
    info = ffi.new("ev_status_info*")
    info.struct_size = ffi.sizeof("ev_status_info")
    stream = ffi.new("ev_stream*")
    token = ffi.new("char**")
    phonemes = ffi.new("ev_phonemes**", ffi.cast("ev_phonemes*", 1))  # must be reset to NULL
    calls = {
        "ev_warmup": lambda: lib.ev_warmup(ffi.NULL),
        "ev_status": lambda: lib.ev_status(ffi.NULL, info),
        "ev_generate": lambda: lib.ev_generate(ffi.NULL, b"a", ffi.NULL, out),
        "ev_generate_stream": lambda: lib.ev_generate_stream(ffi.NULL, b"a", ffi.NULL, ffi.NULL, ffi.NULL),
        "ev_stream_begin": lambda: lib.ev_stream_begin(ffi.NULL, b"a", ffi.NULL, stream),
        "ev_stream_next": lambda: lib.ev_stream_next(ffi.NULL, ffi.cast("const char**", token), ffi.NULL),
        "ev_cancel": lambda: lib.ev_cancel(ffi.NULL),
        "ev_set_memory_pressure_callback": lambda: lib.ev_set_memory_pressure_callback(ffi.NULL, ffi.NULL, ffi.NULL),
        "ev_notify_memory_pressure": lambda: lib.ev_notify_memory_pressure(ffi.NULL, 1),
        "ev_phonemize": lambda: lib.ev_phonemize(ffi.NULL, b"a", ffi.NULL, phonemes),
    }
    for name, call in calls.items():
        assert_error(call(), lib.EV_ERR_INVALID_ARGUMENT)
    assert out[0] == ffi.NULL and stream[0] == ffi.NULL and phonemes[0] == ffi.NULL


def test_phonemize_guards_and_result(ctx, reference):
    """ev_phonemize: NULL and invalid arguments fail cleanly (out reset to NULL, context usable);
    the result is one block with struct_size, count, tokens, phonemes and sources."""
    out = ffi.new("ev_phonemes**")

    def params(**fields):
        p = ffi.new("ev_generation_params*", lib.ev_generation_params_default())
        for k, v in fields.items():
            setattr(p, k, v)
        return p

    failures = [
        (lambda: lib.ev_phonemize(ctx, ffi.NULL, ffi.NULL, out), "text is NULL"),
        (lambda: lib.ev_phonemize(ctx, b"a", ffi.NULL, ffi.NULL), "out is NULL"),
        (lambda: lib.ev_phonemize(ctx, b"caf\xc3", ffi.NULL, out), "not valid UTF-8"),
        (lambda: lib.ev_phonemize(ctx, b"a" * 5000, ffi.NULL, out), "longer than"),
        (lambda: lib.ev_phonemize(ctx, b"a", params(struct_size=0), out), "struct_size"),
        (lambda: lib.ev_phonemize(ctx, b"a", params(temperature=-1.0), out), "temperature"),
    ]
    for call, contains in failures:
        out[0] = ffi.cast("ev_phonemes*", 1)  # a failure must reset it to NULL
        assert_error(call(), lib.EV_ERR_INVALID_ARGUMENT, ctx, contains)
        assert out[0] == ffi.NULL or contains == "out is NULL"
        assert generate(ctx, "usable") == (lib.EV_OK, reference.predict("usable"))

    assert lib.ev_phonemize(ctx, "Hello, zyxqvbe!".encode(), ffi.NULL, out) == lib.EV_OK
    try:
        r = out[0]
        assert r.struct_size == ffi.sizeof("ev_phonemes") and r.count == 4
        got = [(ffi.string(r.tokens[i]).decode(), ffi.string(r.phonemes[i]).decode(), r.sources[i])
               for i in range(r.count)]
    finally:
        lib.ev_phonemes_free(out[0])
    assert got == [("hello", reference.predict("hello"), lib.EV_SOURCE_LEXICON),
                   (",", "", lib.EV_SOURCE_PUNCTUATION),
                   ("zyxqvbe", reference.predict("zyxqvbe"), lib.EV_SOURCE_MODEL),
                   ("!", "", lib.EV_SOURCE_PUNCTUATION)]
    for empty in (b"", b"   \t\n", "🙂".encode(), b"#$%^&*"):
        assert lib.ev_phonemize(ctx, empty, ffi.NULL, out) == lib.EV_OK
        assert out[0].count == 0
        lib.ev_phonemes_free(out[0])


def test_phonemize_is_unsupported_by_a_network_only_artifact(network_dir):
    cfg, keep = make_config(network_dir)
    err = ffi.new("ev_error_t*")
    c = lib.ev_init(cfg, err)
    assert c != ffi.NULL, last_error()
    try:
        out = ffi.new("ev_phonemes**")
        assert_error(lib.ev_phonemize(c, b"hello", ffi.NULL, out), lib.EV_ERR_UNSUPPORTED_OPERATION, c, "ev_phonemize")
        assert out[0] == ffi.NULL
        info = ffi.new("ev_status_info*")
        info.struct_size = ffi.sizeof("ev_status_info")
        assert lib.ev_status(c, info) == lib.EV_OK
        assert info.capabilities == lib.EV_CAP_GENERATE | lib.EV_CAP_GENERATE_BATCH
    finally:
        lib.ev_free(c)


def test_bad_arguments_on_a_live_context_leave_it_usable(ctx, reference):
    want = reference.predict("usable")
    out = ffi.new("char**")
    info = ffi.new("ev_status_info*")
    params = ffi.new("ev_generation_params*", lib.ev_generation_params_default())

    def bad_params(**fields):
        p = ffi.new("ev_generation_params*", lib.ev_generation_params_default())
        for k, v in fields.items():
            setattr(p, k, v)
        return p

    nan = float("nan")
    failures = [
        (lambda: lib.ev_generate(ctx, ffi.NULL, ffi.NULL, out), "prompt is NULL"),
        (lambda: lib.ev_generate(ctx, b"a", ffi.NULL, ffi.NULL), "out is NULL"),
        (lambda: lib.ev_generate(ctx, b"\xff\xfe", ffi.NULL, out), "not valid UTF-8"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(struct_size=0), out), "struct_size"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(temperature=-1.0), out), "temperature"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(temperature=nan), out), "temperature"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(top_p=0.0), out), "top_p"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(top_p=1.5), out), "top_p"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(top_k=-1), out), "top_k"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(repeat_penalty=0.0), out), "repeat_penalty"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(num_stop_sequences=2), out), "stop_sequences is NULL"),
        (lambda: lib.ev_generate(ctx, b"a", bad_params(num_stop_sequences=-1), out), "num_stop_sequences"),
        (lambda: lib.ev_status(ctx, ffi.NULL), "out is NULL"),
        (lambda: lib.ev_status(ctx, info), "struct_size"),  # struct_size left 0
        (lambda: lib.ev_generate_stream(ctx, b"a", ffi.NULL, ffi.NULL, ffi.NULL), "callback is NULL"),
        (lambda: lib.ev_generate_stream(ctx, ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL), "prompt is NULL"),
        (lambda: lib.ev_stream_begin(ctx, b"a", ffi.NULL, ffi.NULL), "out_stream is NULL"),
        (lambda: lib.ev_stream_begin(ctx, ffi.NULL, ffi.NULL, ffi.new("ev_stream*")), "prompt is NULL"),
        (lambda: lib.ev_notify_memory_pressure(ctx, 0), "level 0"),
        (lambda: lib.ev_notify_memory_pressure(ctx, 7), "level 7"),
    ]
    for call, contains in failures:
        rc = call()
        assert_error(rc, lib.EV_ERR_INVALID_ARGUMENT, ctx, contains)
        assert out[0] == ffi.NULL
        rc, text = generate(ctx, "usable")
        assert (rc, text) == (lib.EV_OK, want)

    # A NULL array entry among the stop sequences.
    arr = ffi.new("char*[]", [ffi.NULL])
    params.stop_sequences = arr
    params.num_stop_sequences = 1
    assert_error(lib.ev_generate(ctx, b"a", params, out), lib.EV_ERR_INVALID_ARGUMENT, ctx, "stop_sequences[0]")


def test_generate_batch_guards(ctx, reference):
    outs = ffi.new("char*[]", 2)
    prompts = [ffi.new("char[]", b"one"), ffi.new("char[]", b"two")]
    arr = ffi.new("char*[]", prompts)
    assert_error(lib.ev_generate_batch(ffi.NULL, arr, 2, ffi.NULL, outs), lib.EV_ERR_INVALID_ARGUMENT)
    assert_error(lib.ev_generate_batch(ctx, ffi.NULL, 2, ffi.NULL, outs), lib.EV_ERR_INVALID_ARGUMENT, ctx, "prompts is NULL")
    assert_error(lib.ev_generate_batch(ctx, arr, 2, ffi.NULL, ffi.NULL), lib.EV_ERR_INVALID_ARGUMENT, ctx, "outs is NULL")
    assert_error(lib.ev_generate_batch(ctx, arr, -1, ffi.NULL, outs), lib.EV_ERR_INVALID_ARGUMENT, ctx, "count is -1")
    with_null = ffi.new("char*[]", [prompts[0], ffi.NULL])
    assert_error(lib.ev_generate_batch(ctx, with_null, 2, ffi.NULL, outs), lib.EV_ERR_INVALID_ARGUMENT, ctx, "prompts[1]")
    bad = ffi.new("char[]", b"\xff")  # kept alive: the array only points at it
    bad_utf8 = ffi.new("char*[]", [prompts[0], bad])
    assert_error(lib.ev_generate_batch(ctx, bad_utf8, 2, ffi.NULL, outs), lib.EV_ERR_INVALID_ARGUMENT, ctx, "UTF-8")
    assert outs[0] == ffi.NULL and outs[1] == ffi.NULL  # nothing half-filled after a failure
    assert lib.ev_generate_batch(ctx, arr, 0, ffi.NULL, outs) == lib.EV_OK
    assert lib.ev_generate_batch(ctx, arr, 2, ffi.NULL, outs) == lib.EV_OK
    try:
        assert [ffi.string(outs[i]).decode() for i in range(2)] == [reference.predict("one"), reference.predict("two")]
    finally:
        lib.ev_free_string(outs[0])
        lib.ev_free_string(outs[1])


def test_stream_next_guards(ctx):
    tok = ffi.new("const char**")
    assert_error(lib.ev_stream_next(ffi.NULL, tok, ffi.NULL), lib.EV_ERR_INVALID_ARGUMENT)
    s = ffi.new("ev_stream*")
    assert lib.ev_stream_begin(ctx, b"cat", ffi.NULL, s) == lib.EV_OK
    try:
        assert_error(lib.ev_stream_next(s[0], ffi.NULL, ffi.NULL), lib.EV_ERR_INVALID_ARGUMENT, ctx, "out_token")
        tokens = []
        while (rc := lib.ev_stream_next(s[0], tok, ffi.NULL)) == lib.EV_OK:
            tokens.append(ffi.string(tok[0]).decode())
        assert rc == lib.EV_ERR_STREAM_END
        assert lib.ev_stream_next(s[0], tok, ffi.NULL) == lib.EV_ERR_STREAM_END
        assert " ".join(tokens) == generate(ctx, "cat")[1]
    finally:
        lib.ev_stream_free(s[0])


def test_status_reads_only_what_struct_size_covers(ctx, artifact_dir):
    info = ffi.new("ev_status_info*")
    info.struct_size = ffi.sizeof("ev_status_info")
    assert lib.ev_status(ctx, info) == lib.EV_OK
    assert info.initialized == 1 and info.weights_loaded == 1
    assert ffi.string(info.device) == b"cpu"
    assert ffi.string(info.artifact_path).decode() == artifact_dir
    assert ffi.string(info.model_name) == b"g2p-en"
    assert info.memory_used_bytes > 1_000_000

    old = ffi.new("ev_status_info*")
    old.struct_size = ffi.offsetof("ev_status_info", "memory_used_bytes")  # an older, smaller struct
    old.memory_used_bytes = 12345
    assert lib.ev_status(ctx, old) == lib.EV_OK
    assert old.weights_loaded == 1 and old.memory_used_bytes == 12345  # untouched beyond struct_size


def test_last_error_is_per_context_and_thread(ctx):
    import threading

    out = ffi.new("char**")
    assert lib.ev_generate(ctx, ffi.NULL, ffi.NULL, out) == lib.EV_ERR_INVALID_ARGUMENT
    seen = []
    t = threading.Thread(target=lambda: seen.append(last_error(ctx)))
    t.start()
    t.join()
    assert seen == [""]  # another thread has no error
    assert "prompt is NULL" in last_error(ctx)
    assert last_error(ffi.NULL) == ""  # ...and ev_init errors are kept apart from context errors
