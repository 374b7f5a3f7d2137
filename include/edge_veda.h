/*
 * edge_veda.h — the Edge Veda C ABI.
 *
 * This header is the only contract between libedge_veda and its hosts (C, C++, Python/cffi,
 * Dart FFI, Swift, Kotlin/JNI). It is written so that an FFI that computes struct layouts
 * from declarations alone gets them right on every target:
 *
 *   - only fixed-width integers, float, double, size_t (callback only), pointers and opaque
 *     handles; no unions, bitfields, varargs or C enums in signatures (enum-like values are
 *     int32_t constants, because the size of a C enum is implementation-defined);
 *   - every struct starts with `uint32_t struct_size` and grows only by appending fields:
 *     the library reads no field beyond what `struct_size` covers, so a host compiled against
 *     an older header keeps working with a newer library;
 *   - callbacks return void. Token and audio callbacks get pointers that are valid only until
 *     they return, so they must run synchronously on the thread that made the call and copy
 *     (Dart: NativeCallable.isolateLocal or Pointer.fromFunction on the isolate making the
 *     call; a NativeCallable.listener runs after the memory is gone). The memory-pressure
 *     callback gets values only, so a listener may serve it (dart/README.md);
 *   - no C++ exception, abort or crash crosses this boundary: every entry point checks its
 *     arguments and reports failure through an ev_error_t.
 *
 * OWNERSHIP (the one rule): what the library allocates, the library frees (ev_free,
 * ev_free_string, ev_stream_free, ev_phonemes_free, ev_audio_free, ev_voice_list_free); what
 * the caller allocates, the caller frees. Input pointers are
 * borrowed only for the duration of the call unless a function says otherwise.
 *
 * ERRORS: functions return EV_OK (0) or a negative ev_error_t. The detailed message of the
 * last failure is kept per calling thread (like errno) and read with ev_last_error_message()
 * right after the failing call, on the same thread. Messages end with a line "hint: ..."
 * saying what to do (the paths tried, the values allowed).
 *
 * THREADS: unless a function says otherwise, a context may be used from any thread and from
 * several threads at once: each context serializes its calls with an internal lock.
 * Separate contexts run in parallel. ev_cancel() never waits for that lock.
 */
#ifndef EDGE_VEDA_H
#define EDGE_VEDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define EV_BEGIN_DECLS extern "C" {
#define EV_END_DECLS }
#else
#define EV_BEGIN_DECLS
#define EV_END_DECLS
#endif

#if defined(_WIN32) && defined(EV_BUILDING_LIBRARY)
#define EV_API __declspec(dllexport)
#elif defined(_WIN32)
#define EV_API __declspec(dllimport)
#elif defined(__GNUC__)
#define EV_API __attribute__((visibility("default")))
#else
#define EV_API
#endif

/* ------------------------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------------------------ */

/* Library version (semantic). */
#define EV_VERSION_MAJOR 0
#define EV_VERSION_MINOR 1
#define EV_VERSION_PATCH 0

/*
 * ABI version: bumped whenever an existing function, struct field or constant changes in an
 * incompatible way. Appending a field to a struct or adding a function does not bump it.
 * A host checks `ev_abi_version() == EV_ABI_VERSION` at start-up (as with sqlite3's
 * sqlite3_libversion_number() == SQLITE_VERSION_NUMBER), and `ev_abi_minor() >= EV_ABI_MINOR`
 * (EV_ABI_MINOR is defined in the "Appended in ABI minor 1" section, with what each minor added).
 */
#define EV_ABI_VERSION 1

EV_BEGIN_DECLS

/* Returns the library version as a static string "MAJOR.MINOR.PATCH".
 * Ownership: static storage; do not free. Thread-safe. */
EV_API const char* ev_version(void);

/* Returns the EV_ABI_VERSION the library was built with. Thread-safe. */
EV_API int32_t ev_abi_version(void);

/* ------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------ */

typedef int32_t ev_error_t;

#define EV_OK 0
#define EV_ERR_INVALID_ARGUMENT -1   /* a NULL pointer, an out-of-range value, a bad struct_size */
#define EV_ERR_MODEL_NOT_FOUND -2    /* the artifact directory or one of its files is missing */
#define EV_ERR_MODEL_INVALID -3      /* manifest unreadable, wrong format/ABI version, bad file */
#define EV_ERR_UNSUPPORTED_DEVICE -4 /* the device string names no device this build supports */
#define EV_ERR_OUT_OF_MEMORY -5      /* an allocation failed */
#define EV_ERR_RUNTIME -6            /* the TVM runtime reported an error */
#define EV_ERR_CANCELLED -7          /* ev_cancel() stopped the call; the context stays usable */
#define EV_ERR_INVALID_STATE -8      /* the call does not fit the object's state */
#define EV_ERR_STREAM_END -9         /* ev_stream_next(): no more tokens (not a failure) */
#define EV_ERR_INTERNAL -10          /* a bug in libedge_veda; please report it */

/* Returns a static, human-readable name for an error code ("EV_ERR_INVALID_ARGUMENT", ...);
 * unknown codes give "EV_ERR_UNKNOWN". Ownership: static; do not free. Thread-safe. */
EV_API const char* ev_error_string(ev_error_t code);

/* ------------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------------ */

/* Opaque context: one loaded model artifact plus its runtime state. */
typedef struct ev_context_s* ev_context;

/* Device selectors accepted in ev_config.device. */
#define EV_DEVICE_CPU "cpu"

typedef struct ev_config {
    uint32_t struct_size;       /* sizeof(ev_config) as the caller compiled it */
    int32_t num_threads;        /* worker threads; 0 = library default; > EV_MAX_THREADS is clamped */
    const char* model_path;     /* artifact directory (holding manifest.json); required */
    const char* device;         /* "cpu"; NULL means "cpu" */
    uint64_t memory_limit_bytes; /* 0 = no limit; see below */
    uint64_t seed;              /* seed of the context's sampling RNG */
    int32_t auto_unload_on_memory_pressure; /* 1: release weights under pressure, reload lazily */
    int32_t use_mmap;           /* 1: map the weights file instead of reading it */
} ev_config;

/* num_threads: the threads of TVM's kernel thread pool (parallel loops in compiled kernels) and
 * of ev_generate_batch's workers. use_mmap: 1 maps the artifact's weights file read-only, once
 * per context, shared by every thread's VM; 0 reads it into memory instead.
 * memory_limit_bytes: tracked memory (weights + working buffers, ev_status_info) above it after
 * a call fires the memory pressure callback (and with auto_unload_on_memory_pressure releases
 * the weights). Kinds whose working memory grows with the input (tts) also keep each call
 * within it: a synthesis that would hold more than the limit at once stops with
 * EV_ERR_OUT_OF_MEMORY before it uses that memory (split the text, or raise the limit).
 * (ev_generation_params.max_tokens above the model's limit, manifest limits.max_output_tokens,
 * is clamped to it.)
 *
 * Returns a config with every field at its default (struct_size = sizeof(ev_config),
 * model_path = NULL, device = "cpu", num_threads = 0, memory_limit_bytes = 0, seed = 0,
 * auto_unload_on_memory_pressure = 0, use_mmap = 1). Returned by value; nothing to free.
 * Thread-safe. */
EV_API ev_config ev_config_default(void);

/* Seed value in ev_generation_params meaning "continue the context's RNG stream": each
 * generation (each prompt of a batch, in order; a stream when it begins) takes the next seed
 * from the context's RNG, which ev_config.seed starts. So the same config seed and the same
 * sequence of calls give the same outputs, whichever entry points make the calls. */
#define EV_SEED_CONTEXT UINT64_C(0xFFFFFFFFFFFFFFFF)

typedef struct ev_generation_params {
    uint32_t struct_size;       /* sizeof(ev_generation_params) as the caller compiled it */
    int32_t max_tokens;         /* output tokens at most; <= 0 = the model's default */
    float temperature;          /* 0 = greedy (argmax); > 0 samples from softmax(logits / T) */
    float top_p;                /* nucleus sampling mass in (0, 1]; 1 = off */
    int32_t top_k;              /* keep the k most likely tokens; 0 = off */
    float repeat_penalty;       /* > 0; 1 = off; > 1 discourages tokens already produced */
    uint64_t seed;              /* EV_SEED_CONTEXT, or a seed that makes this call reproducible */
    const char* const* stop_sequences; /* borrowed for the call; NULL when num_stop_sequences = 0 */
    int32_t num_stop_sequences; /* output stops before the first occurrence of any of them */
    int32_t reserved0;          /* keep 0 */
} ev_generation_params;

/* Returns the library's defaults (struct_size set, max_tokens = 0 (model default),
 * temperature = 0, top_p = 1, top_k = 0, repeat_penalty = 1, seed = EV_SEED_CONTEXT, no stop
 * sequences). Returned by value; nothing to free. Thread-safe. */
EV_API ev_generation_params ev_generation_params_default(void);

/* ------------------------------------------------------------------------------------------
 * Context lifetime
 * ------------------------------------------------------------------------------------------ */

/*
 * Loads the artifact at config->model_path and returns a ready context, or NULL on failure.
 * model_path is the artifact directory, or a directory an app bundle puts it under: the first
 * of model_path, model_path/tvm_output, model_path/Resources, model_path/Contents/Resources that
 * holds manifest.json is used (EV_ERR_MODEL_NOT_FOUND lists every path tried).
 * Before any byte of the artifact runs, manifest.json is checked against manifest.json.sha256
 * and every file the manifest lists against its size and SHA-256 (docs/artifact-format.md);
 * a mismatch is EV_ERR_MODEL_INVALID.
 * config: borrowed for the call only (its strings are copied). out_error: optional; receives
 * EV_OK or the failure code. On failure the message is read with ev_last_error_message(NULL)
 * on the same thread.
 * Ownership: the caller owns the returned context and releases it with ev_free().
 * Thread-safe (contexts are independent).
 */
EV_API ev_context ev_init(const ev_config* config, ev_error_t* out_error);

/*
 * Releases a context and everything it owns. Accepts NULL (does nothing). Called from inside
 * one of ctx's own callbacks it does nothing (the re-entrancy rule, see ev_token_callback).
 * Calls already running on ctx in other threads are cancelled and waited for: they return
 * EV_ERR_CANCELLED, then ev_free releases the context. After ev_free returns, the memory
 * pressure callback never fires again. Starting a new call on ctx after ev_free has begun is
 * undefined behaviour (as with free()).
 */
EV_API void ev_free(ev_context ctx);

/* Runs one small inference so that the first real call is not slower than the rest (loads
 * weights if they were unloaded, touches every kernel). Thread-safe (serialized). */
EV_API ev_error_t ev_warmup(ev_context ctx);

typedef struct ev_status_info {
    uint32_t struct_size;         /* caller sets sizeof(ev_status_info) before the call */
    int32_t initialized;          /* 1 when the context is ready for calls */
    int32_t weights_loaded;       /* 0 after a memory-pressure unload, until the next call */
    int32_t num_threads;          /* effective threads (after the EV_MAX_THREADS clamp) */
    uint64_t memory_used_bytes;   /* tracked bytes: weights + working buffers */
    uint64_t memory_limit_bytes;  /* as configured; 0 = none */
    const char* device;           /* e.g. "cpu" */
    const char* artifact_path;    /* the artifact directory as given to ev_init */
    const char* model_name;       /* manifest "name" */
    const char* model_kind;       /* manifest "kind" */
    /* Appended in ABI minor 2 (read them only when struct_size covers them). */
    uint32_t capabilities;        /* EV_CAP_* bits: the operations this model's kind supports */
    int32_t weights_mapped;       /* 1 when the weights file is memory-mapped (ev_config.use_mmap) */
    uint64_t weights_bytes;       /* bytes of weights, held once however many threads run */
    int32_t max_input_chars;      /* longest prompt accepted, in code points */
    int32_t reserved0;            /* 0 */
    /* Appended in ABI minor 5 (read them only when struct_size covers them). */
    int32_t sample_rate;          /* audio models: samples per second; 0 otherwise */
    int32_t voice_count;          /* audio models: voices (ev_voices lists them); 0 otherwise */
    float last_frontend_ms;       /* the last synthesis: time in the text front end (G2P) */
    float last_durations_ms;      /* the last synthesis: time in the first stage (durations) */
    float last_audio_ms;          /* the last synthesis: time in the second stage (audio) */
    int32_t has_frontend;         /* 1 when ev_set_frontend gave this context a front end */
} ev_status_info;

/*
 * Fills *out with the context's status. out->struct_size must be set by the caller; fields
 * beyond it are not written. The strings are owned by the context: do not free them; they
 * stay valid until ev_free(ctx). Thread-safe, and since ABI minor 6 it never waits for a
 * running call: it answers at once with what the last finished call (or load) left, so a host
 * may poll it while a long synthesis runs on another thread.
 */
EV_API ev_error_t ev_status(ev_context ctx, ev_status_info* out);

/* ------------------------------------------------------------------------------------------
 * Generation
 * ------------------------------------------------------------------------------------------ */

/*
 * Runs the model on a NUL-terminated UTF-8 prompt and stores the output text in *out.
 * INPUT LIMIT (every generate/stream function): a prompt of more code points than the model's
 * limit (manifest limits.max_input_chars, default 1024) fails with EV_ERR_INVALID_ARGUMENT;
 * the check reads at most 4 * limit + 4 bytes of the prompt.
 * params: NULL means ev_generation_params_default(); borrowed for the call.
 * Ownership: on EV_OK, *out is a NUL-terminated UTF-8 string allocated by the library; free it
 * with ev_free_string(). On failure *out is set to NULL and nothing needs freeing.
 * A failed call leaves the context usable. Thread-safe (serialized per context).
 */
EV_API ev_error_t ev_generate(ev_context ctx, const char* prompt,
                              const ev_generation_params* params, char** out);

/*
 * Runs the model on `count` prompts and stores one output per prompt in outs[0..count-1].
 * prompts: `count` NUL-terminated UTF-8 strings, borrowed for the call. outs: an array of
 * `count` char* owned by the caller; the library sets every element: on EV_OK each is a string
 * allocated by the library (free each with ev_free_string), on failure each is NULL.
 * Plain greedy decoding runs the prompts on up to ev_config.num_threads threads; other params
 * run them in order on the calling thread (so a seed gives the same results as one call each).
 * Thread-safe (serialized per context: the batch holds the context for its duration).
 * ev_cancel() stops the batch between prompts.
 */
EV_API ev_error_t ev_generate_batch(ev_context ctx, const char* const* prompts, int32_t count,
                                    const ev_generation_params* params, char** outs);

/* Frees a string returned by the library (ev_generate, ev_generate_batch). Accepts NULL.
 * Thread-safe: a string may be freed on any thread, once. */
EV_API void ev_free_string(char* str);

/*
 * Token callback: called once per output token, synchronously, on the thread that called
 * ev_generate_stream. `token` is NUL-terminated UTF-8 owned by the library and valid only
 * during the callback (copy it to keep it; a callback that runs later, such as Dart's
 * NativeCallable.listener, would read freed memory). token_id is the model's output id, or -1 for a
 * token that is not one (model kind "g2p": the word separator "|" and punctuation tokens).
 * RE-ENTRANCY RULE (token, audio and memory-pressure callbacks): a callback must not call back
 * into its own context. Such a call returns EV_ERR_INVALID_STATE at once (every ev_* function
 * that takes the context, e.g. ev_generate*, ev_stream_*, ev_status, ev_warmup, ev_phonemize,
 * ev_synthesize*, ev_voices, ev_list_voices, ev_set_frontend, ev_set_memory_pressure_callback,
 * ev_notify_memory_pressure); ev_free of the callback's own context does nothing (free it after
 * the call returns). ev_cancel is allowed: from a callback it stops the call running that
 * callback, and only that one. Other contexts may be called, with one limit that keeps every
 * call finite: a call that would wait for a context the calling thread's own call is using (a
 * G2P front end's callback calling the TTS context that uses it: that synthesis needs the front
 * end), or for a context held by a thread that is itself waiting for this thread's context (a
 * cycle), returns EV_ERR_INVALID_STATE instead of waiting forever.
 */
typedef void (*ev_token_callback)(void* user_data, const char* token, int32_t token_id);

/*
 * Like ev_generate, but delivers each output token to `callback` as soon as it is decoded.
 * user_data is passed through untouched. Returns EV_OK, EV_ERR_CANCELLED, or an error.
 * Thread-safe (serialized per context).
 */
EV_API ev_error_t ev_generate_stream(ev_context ctx, const char* prompt,
                                     const ev_generation_params* params,
                                     ev_token_callback callback, void* user_data);

/* Pull-style streaming for hosts that cannot take callbacks. */
typedef struct ev_stream_s* ev_stream;

/*
 * Starts a generation and returns a stream in *out_stream (NULL on failure). The prompt and
 * params are copied. The stream keeps ctx alive in the sense that ctx must not be freed before
 * ev_stream_free(stream). Ownership: the caller frees the stream with ev_stream_free().
 */
EV_API ev_error_t ev_stream_begin(ev_context ctx, const char* prompt,
                                  const ev_generation_params* params, ev_stream* out_stream);

/*
 * Decodes the next token. On EV_OK, *out_token points to a NUL-terminated string owned by the
 * stream, valid until the next ev_stream_next or ev_stream_free on it, and *out_token_id (if
 * not NULL) receives its id. Returns EV_ERR_STREAM_END when the output is complete.
 * A stream is used by one thread at a time.
 */
EV_API ev_error_t ev_stream_next(ev_stream stream, const char** out_token, int32_t* out_token_id);

/* Releases a stream and the token it last returned. Accepts NULL. Call it before
 * ev_free(ctx) of the stream's context, and not while another thread is inside
 * ev_stream_next on the same stream. */
EV_API void ev_stream_free(ev_stream stream);

/*
 * Asks the call running on ctx to stop; it returns EV_ERR_CANCELLED within one decode step
 * (generation, phonemization) or one kernel of the model (synthesis, in either stage:
 * milliseconds, BENCHMARKS.md). Calls that
 * other threads have already started on ctx and that wait for it are cancelled too; from inside
 * a token or audio callback only the call running that callback is. Safe from any thread,
 * including signal-free callbacks; never blocks. A cancel that arrives when no call is running
 * is dropped (it does not affect the next call).
 */
EV_API ev_error_t ev_cancel(ev_context ctx);

/* ------------------------------------------------------------------------------------------
 * Memory pressure
 * ------------------------------------------------------------------------------------------ */

/*
 * Memory pressure callback: current_bytes is the context's tracked memory and limit_bytes its
 * configured limit (0 when none). Called on the thread that caused the event: the thread
 * inside an ev_* call on ctx whose allocation crossed the limit, or the thread that called
 * ev_notify_memory_pressure. It must return quickly and must not call into the same context.
 */
typedef void (*ev_memory_pressure_callback)(void* user_data, size_t current_bytes,
                                            size_t limit_bytes);

/*
 * Registers (or with callback = NULL, removes) the context's memory pressure callback.
 * user_data is passed back untouched; the caller keeps it alive while registered. After this
 * returns, the previous callback is never called again. Thread-safe (serialized).
 */
EV_API ev_error_t ev_set_memory_pressure_callback(ev_context ctx,
                                                  ev_memory_pressure_callback callback,
                                                  void* user_data);

/* Levels for ev_notify_memory_pressure, from the OS (iOS didReceiveMemoryWarning, Android
 * onTrimMemory). */
#define EV_MEMORY_PRESSURE_MODERATE 1
#define EV_MEMORY_PRESSURE_CRITICAL 2

/*
 * Tells the context that the OS reports memory pressure. The callback (if any) fires on this
 * thread; with auto_unload_on_memory_pressure the weights are released and reloaded on the
 * next call. Thread-safe (serialized).
 */
EV_API ev_error_t ev_notify_memory_pressure(ev_context ctx, int32_t level);

/* ------------------------------------------------------------------------------------------
 * Diagnostics
 * ------------------------------------------------------------------------------------------ */

/*
 * Returns the message of the last failed ev_* call made by the calling thread on ctx, or, with
 * ctx = NULL, of the last failed ev_init on this thread; "" when there is none. The message
 * ends with a "hint: ..." line. Ownership: thread-local storage of the library; do not free;
 * valid until the next ev_* call on this thread. Never fails.
 */
EV_API const char* ev_last_error_message(ev_context ctx);

/* Returns the TVM runtime version the library was built against. Ownership: static storage;
 * do not free. Thread-safe. */
EV_API const char* ev_runtime_version(void);

/* ------------------------------------------------------------------------------------------
 * Appended in ABI minor 1
 * ------------------------------------------------------------------------------------------ */

/*
 * ABI minor version: bumped whenever functions, struct fields or constants are appended
 * (EV_ABI_VERSION stays). As with ONNX Runtime's OrtGetApiBase()->GetApi(ORT_API_VERSION), a
 * host compiled against this header needs a library with ev_abi_minor() >= the EV_ABI_MINOR it
 * was compiled with; a newer library serves older hosts. 0 was the first ABI (no
 * ev_abi_minor function: a library without the symbol is minor 0).
 * Minor 1 appended: EV_ABI_MINOR, ev_abi_minor, EV_MAX_THREADS.
 * Minor 2 appended: EV_ERR_UNSUPPORTED_OPERATION, EV_CAP_*, the ev_status_info fields after
 * model_kind.
 * Minor 3 appended: EV_CAP_PHONEMIZE, EV_SOURCE_*, ev_phonemes, ev_phonemize,
 * ev_phonemes_free.
 * Minor 4 appended: ev_system_lib_model, ev_register_system_lib_model.
 * Minor 5 appended: EV_CAP_SYNTHESIZE, EV_TTS_INPUT_*, ev_synthesis_params,
 * ev_synthesis_params_default, ev_audio, ev_synthesize, ev_audio_free, ev_audio_chunk,
 * ev_audio_callback, ev_synthesize_stream, ev_voices, ev_set_frontend.
 * Minor 6 appended: ev_voice_list, ev_list_voices, ev_voice_list_free; and fixed: ev_status no
 * longer waits for a running call.
 * Minor 7 appended: ev_phonemes.source_begin/source_end, ev_audio.word_source_begin/
 * word_source_end (where each token or word is in the input text).
 */
#define EV_ABI_MINOR 7

/* Returns the EV_ABI_MINOR the library was built with. Thread-safe. */
EV_API int32_t ev_abi_minor(void);

/* Largest effective ev_config.num_threads: each thread of ev_generate_batch owns a VM with
 * its own working buffers (the weights are shared, held once), so larger values are clamped to
 * this (ev_status reports the effective value). */
#define EV_MAX_THREADS 64

/* ------------------------------------------------------------------------------------------
 * Appended in ABI minor 2: model kinds
 * ------------------------------------------------------------------------------------------ */

/* A model's kind (manifest "kind", ev_status_info.model_kind) decides which operations it
 * supports; ev_status_info.capabilities lists them. Calling another returns this code. */
#define EV_ERR_UNSUPPORTED_OPERATION -11

#define EV_CAP_GENERATE 1        /* ev_generate, ev_generate_stream, ev_stream_begin/next */
#define EV_CAP_GENERATE_BATCH 2  /* ev_generate_batch */

/* ------------------------------------------------------------------------------------------
 * Appended in ABI minor 3: text to phonemes, token by token (model kind "g2p")
 * ------------------------------------------------------------------------------------------ */

#define EV_CAP_PHONEMIZE 4       /* ev_phonemize, ev_phonemes_free */

/* Where a token's phonemes came from (ev_phonemes.sources). */
#define EV_SOURCE_LEXICON 1      /* the artifact's pronunciation lexicon (CMUdict for g2p-en) */
#define EV_SOURCE_MODEL 2        /* predicted by the network (the word is not in the lexicon) */
#define EV_SOURCE_PUNCTUATION 3  /* a punctuation token; passes through with no phonemes */

/* One phonemized text: `count` tokens (words and punctuation) in text order. Allocated by the
 * library as one block; every pointer points inside it. Fields are appended only; read those
 * struct_size covers. */
typedef struct ev_phonemes {
    uint32_t struct_size;         /* sizeof(ev_phonemes) as the library filled it */
    int32_t count;                /* number of tokens (0 for empty text, emoji, symbols) */
    const char* const* tokens;    /* count NUL-terminated strings: the word (normalized:
                                     lowercase, numbers spelled out, accents stripped) or the
                                     punctuation token */
    const char* const* phonemes;  /* count NUL-terminated strings: space-separated phonemes;
                                     "" for punctuation */
    const int32_t* sources;       /* count EV_SOURCE_* values */
    /* Appended in ABI minor 7 (read them only when struct_size covers them). */
    const int64_t* source_begin;  /* count byte offsets into the input text: where the source
                                     word each token was read from begins ("1984" for
                                     "nineteen" and "eighty-four": tokens of one source word
                                     share its span); -1 when unknown */
    const int64_t* source_end;    /* count ends (one past the last byte); -1 when unknown */
} ev_phonemes;

/*
 * Turns a NUL-terminated UTF-8 text into phonemes, one entry per word or punctuation token, and
 * stores the result in *out. Numbers, accents and punctuation are normalized as g2p-en does
 * (docs/lexicon-format.md); each word is looked up in the lexicon first, and only the rest run
 * the network. The input limit of ev_generate applies to the whole text.
 * params: NULL means ev_generation_params_default(); max_tokens bounds each word's phonemes,
 * sampling parameters affect network words only, stop sequences are ignored; borrowed for the
 * call. Models whose kind lacks it (ev_status_info.capabilities without EV_CAP_PHONEMIZE)
 * return EV_ERR_UNSUPPORTED_OPERATION.
 * Ownership: on EV_OK, *out is allocated by the library; free it with ev_phonemes_free(). On
 * failure *out is set to NULL and nothing needs freeing. A failed call leaves the context
 * usable. Thread-safe (serialized per context); ev_cancel() stops it between words.
 */
EV_API ev_error_t ev_phonemize(ev_context ctx, const char* text, const ev_generation_params* params,
                               ev_phonemes** out);

/* Frees a result of ev_phonemize (all its strings and arrays at once). Accepts NULL.
 * Thread-safe: a result may be freed on any thread, once, before or after ev_free of its
 * context. */
EV_API void ev_phonemes_free(ev_phonemes* phonemes);

/* ---- Minor 4: system-lib model archives (docs/static-linking.md) ---- */

/* What a model archive built by `edge-veda compile --static` says about itself. Fields are
 * appended only; the library reads those struct_size covers. */
typedef struct ev_system_lib_model {
    uint32_t struct_size;       /* sizeof(ev_system_lib_model) as the archive was compiled */
    int32_t ev_abi_version;     /* EV_ABI_VERSION the archive was compiled against */
    const char* prefix;         /* its system-lib symbol prefix, e.g. "ev_g2p_en_" */
    const char* tvm_version;    /* the TVM that compiled its kernels, e.g. "0.27.0.post1" */
    const char* name;           /* the model's name, for messages */
} ev_system_lib_model;

/*
 * Called by a model archive's static constructor (code `edge-veda compile --static` puts into
 * the archive) when the program, or the library the archive is linked into, starts; apps do
 * not call it. Records the archive so that ev_init can name the prefixes that are linked when
 * a manifest asks for one that is not, and refuse an archive built for another TVM (major.minor)
 * or ABI version, with a hint, before any of its code runs.
 * Ownership: borrows `model` and its strings for the life of the process (constants in the
 * archive). NULL, a struct_size too small, or NULL/empty strings are ignored. Registering a
 * prefix again keeps the first (two archives with one prefix: `edge-veda link-check` says so
 * before linking). Thread-safe; may run before main.
 */
EV_API void ev_register_system_lib_model(const ev_system_lib_model* model);

/* ---- Minor 5: speech synthesis (model kind "tts": Kokoro-82M; docs/tts.md) ---- */

#define EV_CAP_SYNTHESIZE 8      /* ev_synthesize, ev_synthesize_stream, ev_voices */

#define EV_TTS_INPUT_TEXT 0      /* text, turned into phonemes by the front end (ev_set_frontend) */
#define EV_TTS_INPUT_PHONEMES 1  /* phonemes in the model's own symbols (Kokoro: its vocabulary) */

/* Parameters of one synthesis. Start from ev_synthesis_params_default(); fields are appended
 * only. */
typedef struct ev_synthesis_params {
    uint32_t struct_size;         /* sizeof(ev_synthesis_params) */
    int32_t input;                /* EV_TTS_INPUT_* (default EV_TTS_INPUT_TEXT) */
    float speed;                  /* speaking rate, 0.25 to 4 (default 1) */
    int32_t reserved0;            /* 0 */
    const char* voice;            /* NULL: the model's default; a name, or a blend "a:0.7,b:0.3" */
} ev_synthesis_params;

/* Returns the defaults (text input, speed 1, the model's default voice). Thread-safe. */
EV_API ev_synthesis_params ev_synthesis_params_default(void);

/* A synthesized utterance: mono float samples, and when the input is split into words, where
 * each word is. Allocated by the library as one block; every pointer points inside it. Fields
 * are appended only; read those struct_size covers. */
typedef struct ev_audio {
    uint32_t struct_size;         /* sizeof(ev_audio) as the library filled it */
    int32_t sample_rate;          /* samples per second (24000 for Kokoro) */
    int64_t sample_count;         /* number of samples */
    const float* samples;         /* sample_count samples, nominally in [-1, 1] */
    int32_t word_count;           /* entries of words, word_start and word_end */
    int32_t reserved0;            /* 0 */
    const char* const* words;     /* word_count NUL-terminated strings, in input order */
    const int64_t* word_start;    /* word_count first samples of the words */
    const int64_t* word_end;      /* word_count ends (one past the last sample) */
    /* Appended in ABI minor 7 (read them only when struct_size covers them). `words` holds the
     * words as spoken ("doctor", "nineteen", "eighty-four"); these say which bytes of the input
     * text each was read from ("Dr.", "1984", "1984": words of one source word share its
     * span). -1 when the input was phonemes. */
    const int64_t* word_source_begin; /* word_count byte offsets into the input */
    const int64_t* word_source_end;   /* word_count ends (one past the last byte) */
} ev_audio;

/*
 * Synthesizes `input` (NUL-terminated UTF-8: text, or phonemes with EV_TTS_INPUT_PHONEMES) and
 * stores the audio in *out. Input longer than the model's token window is split at sentence,
 * then phrase, then word boundaries and synthesized piece by piece; the input limit of
 * ev_generate (ev_status_info.max_input_chars) applies to the whole input. Text input needs a
 * front end (ev_set_frontend); without one it is EV_ERR_INVALID_STATE. params: NULL means
 * ev_synthesis_params_default(); borrowed for the call. Kinds without it return
 * EV_ERR_UNSUPPORTED_OPERATION.
 * Ownership: on EV_OK, *out is allocated by the library; free it with ev_audio_free(). On
 * failure *out is NULL. A failed call leaves the context usable. Thread-safe (serialized per
 * context); ev_cancel() stops it within one kernel with EV_ERR_CANCELLED. Input with nothing to
 * say (no symbol of the model, or only spaces) is EV_ERR_INVALID_ARGUMENT; audio that is not
 * finite (damaged weights) is EV_ERR_MODEL_INVALID, never a result.
 */
EV_API ev_error_t ev_synthesize(ev_context ctx, const char* input, const ev_synthesis_params* params,
                                ev_audio** out);

/* Frees a result of ev_synthesize. Accepts NULL. Thread-safe, once per result. */
EV_API void ev_audio_free(ev_audio* audio);

/* One chunk of a streamed synthesis, as the callback sees it. */
typedef struct ev_audio_chunk {
    uint32_t struct_size;         /* sizeof(ev_audio_chunk) as the library filled it */
    int32_t chunk_index;          /* 0, 1, 2, ... */
    int64_t start_sample;         /* where samples[0] is in the whole utterance */
    int64_t sample_count;         /* samples in this chunk */
    const float* samples;         /* borrowed: valid only during the callback */
    int32_t is_final;             /* 1 on the last chunk of the call */
    float progress;               /* fraction of the input synthesized so far, 0 to 1 */
} ev_audio_chunk;

/* Receives each chunk synchronously on the calling thread; the chunk and its samples are
 * valid only until it returns (copy them; not for Dart's NativeCallable.listener, see the
 * rules at the top). Must not call back into the same context (only ev_cancel is allowed
 * there). */
typedef void (*ev_audio_callback)(const ev_audio_chunk* chunk, void* user_data);

/*
 * Like ev_synthesize, but delivers the audio as it is made, in order, the last chunk with
 * is_final = 1: pieces are also cut at sentence ends, and a piece is vocoded in parts, each ending
 * between two words, when that brings audio sooner: the stream's first part is its first word or
 * two (first audio after a fraction of the first sentence's time), and no later part is longer
 * than twice the audio before it. The parts of a sentence share its durations (the joined audio
 * has the sentence's length and timing exactly) and are crossfaded over 100 ms at each cut; their
 * sound differs slightly from the sentence vocoded whole (docs/tts.md, "Streaming"). The chunks
 * joined are the utterance. Returns EV_OK, EV_ERR_CANCELLED
 * (ev_cancel from any thread or from the callback: no further chunks), or an error.
 * user_data is passed through untouched. Thread-safe (serialized per context).
 */
EV_API ev_error_t ev_synthesize_stream(ev_context ctx, const char* input, const ev_synthesis_params* params,
                                       ev_audio_callback callback, void* user_data);

/*
 * Stores the model's voice names, comma-separated, the default first, in *out_names (a name
 * holding a comma cannot be told apart here: ev_list_voices, ABI minor 6, returns an array).
 * Ownership: *out_names is allocated by the library; free it with ev_free_string(). Thread-safe
 * (serialized per context). Kinds without voices return EV_ERR_UNSUPPORTED_OPERATION.
 */
EV_API ev_error_t ev_voices(ev_context ctx, char** out_names);

/*
 * Makes the G2P context `frontend` the text front end of the TTS context `ctx`: text input is
 * phonemized by it (its lexicon and network, in this process and runtime: one copy of its
 * weights however many TTS contexts use it) and mapped to the TTS model's symbols (docs/tts.md).
 * NULL removes the front end. `frontend` must support ev_phonemize, else
 * EV_ERR_UNSUPPORTED_OPERATION. Ownership: borrowed; keep `frontend` alive until ctx is freed
 * or its front end replaced. Thread-safe: ctx's calls lock `frontend` while they use it (ctx
 * first, then `frontend`; a callback of `frontend` that calls ctx is refused, see the
 * re-entrancy rule).
 */
EV_API ev_error_t ev_set_frontend(ev_context ctx, ev_context frontend);

/* ------------------------------------------------------------------------------------------
 * Appended in ABI minor 6: the voices as an array
 * ------------------------------------------------------------------------------------------ */

/* A model's voices. Allocated by the library as one block; every pointer points inside it.
 * Fields are appended only; read those struct_size covers. */
typedef struct ev_voice_list {
    uint32_t struct_size;         /* sizeof(ev_voice_list) as the library filled it */
    int32_t count;                /* number of voices */
    const char* const* names;     /* count NUL-terminated UTF-8 names, the default first */
} ev_voice_list;

/*
 * Stores the model's voices in *out. Ownership: on EV_OK, *out is allocated by the library;
 * free it with ev_voice_list_free(). On failure *out is NULL. Thread-safe (serialized per
 * context). Kinds without voices return EV_ERR_UNSUPPORTED_OPERATION.
 */
EV_API ev_error_t ev_list_voices(ev_context ctx, ev_voice_list** out);

/* Frees a result of ev_list_voices. Accepts NULL. Thread-safe, once per result, before or
 * after ev_free of its context. */
EV_API void ev_voice_list_free(ev_voice_list* list);

EV_END_DECLS

#endif /* EDGE_VEDA_H */
