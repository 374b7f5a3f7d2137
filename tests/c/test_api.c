/* C-level test of the ev_* ABI, run natively and under valgrind by tests/test_c_api.py.
 * usage: test_api ARTIFACT_DIR WORD...   prints "WORD<TAB>PHONEMES" per word, then "ok". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "edge_veda.h"


static int pressure_calls = 0;
static size_t pressure_limit = 0;
static void on_pressure(void* user_data, size_t current, size_t limit) {
    (void)current;
    CHECK(user_data == &pressure_calls);
    ++pressure_calls;
    pressure_limit = limit;
}

static int tokens_seen = 0;
static void on_token(void* user_data, const char* token, int32_t id) {
    (void)user_data;
    CHECK(token != NULL && token[0] != '\0' && id >= 0);
    ++tokens_seen;
}

/* The re-entrancy rule: a callback that calls into its own context gets EV_ERR_INVALID_STATE
 * (no deadlock); ev_free of its own context does nothing; another context may be called. */
static ev_context reentry_ctx = NULL;
static ev_error_t reentry_status_rc = EV_OK, reentry_generate_rc = EV_OK;
static int reentry_message_ok = 0;
static void on_token_reenter(void* user_data, const char* token, int32_t id) {
    ev_status_info st;
    char* out = NULL;
    (void)user_data; (void)token; (void)id;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    reentry_status_rc = ev_status(reentry_ctx, &st);
    reentry_message_ok = strstr(ev_last_error_message(reentry_ctx), "callback of the same context") != NULL &&
                         strstr(ev_last_error_message(reentry_ctx), "\nhint: ") != NULL;
    reentry_generate_rc = ev_generate(reentry_ctx, "x", NULL, &out);
    CHECK(out == NULL);
    ev_free(reentry_ctx); /* does nothing from inside its own callback */
}

struct cancel_arg { ev_context ctx; };
static void* cancel_soon(void* p) {
    struct cancel_arg* a = (struct cancel_arg*)p;
    CHECK(ev_cancel(a->ctx) == EV_OK);
    return NULL;
}

int main(int argc, char** argv) {
    int i;
    CHECK(argc >= 2);
    CHECK(ev_abi_version() == EV_ABI_VERSION);
    CHECK(ev_abi_minor() >= EV_ABI_MINOR);

    /* failures before a context exists */
    {
        ev_error_t err = EV_OK;
        ev_config bad = ev_config_default();
        CHECK(ev_init(NULL, &err) == NULL && err == EV_ERR_INVALID_ARGUMENT);
        CHECK(strstr(ev_last_error_message(NULL), "hint: ") != NULL);
        bad.model_path = "/nonexistent/artifact";
        CHECK(ev_init(&bad, &err) == NULL && err == EV_ERR_MODEL_NOT_FOUND);
        CHECK(strstr(ev_last_error_message(NULL), "/nonexistent/artifact") != NULL);
    }

    ev_config cfg = ev_config_default();
    cfg.model_path = argv[1];
    ev_error_t err = EV_OK;
    ev_context ctx = ev_init(&cfg, &err);
    if (!ctx) {
        fprintf(stderr, "ev_init: %s\n", ev_last_error_message(NULL));
        return 1;
    }
    CHECK(ev_warmup(ctx) == EV_OK);

    for (i = 2; i < argc; ++i) {
        char* out = NULL;
        ev_error_t rc = ev_generate(ctx, argv[i], NULL, &out);
        if (rc != EV_OK) {
            fprintf(stderr, "ev_generate(%s): %s\n", argv[i], ev_last_error_message(ctx));
            return 1;
        }
        printf("%s\t%s\n", argv[i], out);
        ev_free_string(out);
    }

    /* failed calls leave the context usable and own nothing */
    {
        char* out = (char*)1;
        ev_generation_params p = ev_generation_params_default();
        p.top_p = 2.0f;
        CHECK(ev_generate(ctx, "x", &p, &out) == EV_ERR_INVALID_ARGUMENT && out == NULL);
        CHECK(ev_generate(ctx, NULL, NULL, &out) == EV_ERR_INVALID_ARGUMENT && out == NULL);
        CHECK(ev_generate(ctx, "ok", NULL, &out) == EV_OK && out != NULL);
        ev_free_string(out);
    }

    /* many calls, sampling and stop sequences included */
    for (i = 0; i < 200; ++i) {
        char* out = NULL;
        const char* stops[1] = {"T"};
        ev_generation_params p = ev_generation_params_default();
        p.temperature = (i % 2) ? 0.8f : 0.0f;
        p.top_k = 10;
        p.seed = (uint64_t)i;
        p.stop_sequences = stops;
        p.num_stop_sequences = i % 3 == 0 ? 1 : 0;
        CHECK(ev_generate(ctx, "leakcheck", &p, &out) == EV_OK);
        ev_free_string(out);
    }

    /* callback streaming, pull streaming, an abandoned stream */
    CHECK(ev_generate_stream(ctx, "streaming", NULL, on_token, NULL) == EV_OK && tokens_seen > 0);
    {
        ev_stream s = NULL;
        const char* tok = NULL;
        int n = 0;
        CHECK(ev_stream_begin(ctx, "streaming", NULL, &s) == EV_OK);
        while (ev_stream_next(s, &tok, NULL) == EV_OK) ++n;
        CHECK(n == tokens_seen);
        ev_stream_free(s);
        CHECK(ev_stream_begin(ctx, "abandoned", NULL, &s) == EV_OK);
        CHECK(ev_stream_next(s, &tok, NULL) == EV_OK);
        ev_stream_free(s);
    }

    /* re-entrant callback: refused, not deadlocked; the context stays usable */
    {
        char* out = NULL;
        reentry_ctx = ctx;
        CHECK(ev_generate_stream(ctx, "reentry", NULL, on_token_reenter, NULL) == EV_OK);
        CHECK(reentry_status_rc == EV_ERR_INVALID_STATE && reentry_generate_rc == EV_ERR_INVALID_STATE);
        CHECK(reentry_message_ok);
        CHECK(ev_generate(ctx, "after", NULL, &out) == EV_OK);
        ev_free_string(out);
    }

    /* ev_phonemize (ABI minor 3): models with EV_CAP_PHONEMIZE give one entry per token, the
     * others EV_ERR_UNSUPPORTED_OPERATION; failures leave *out NULL; NULL frees nothing */
    {
        ev_status_info info;
        ev_phonemes* ph = (ev_phonemes*)1;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        CHECK(ev_status(ctx, &info) == EV_OK);
        ev_phonemes_free(NULL);
        CHECK(ev_phonemize(ctx, NULL, NULL, &ph) == EV_ERR_INVALID_ARGUMENT && ph == NULL);
        CHECK(ev_phonemize(ctx, "hello", NULL, NULL) == EV_ERR_INVALID_ARGUMENT);
        if (info.capabilities & EV_CAP_PHONEMIZE) {
            CHECK(ev_phonemize(ctx, "Hello, world.", NULL, &ph) == EV_OK && ph != NULL);
            CHECK(ph->struct_size >= sizeof(ev_phonemes) && ph->count == 4);
            CHECK(strcmp(ph->tokens[0], "hello") == 0 && strcmp(ph->phonemes[0], "HH AH0 L OW1") == 0);
            CHECK(ph->sources[0] == EV_SOURCE_LEXICON && ph->sources[1] == EV_SOURCE_PUNCTUATION);
            CHECK(strcmp(ph->tokens[1], ",") == 0 && ph->phonemes[1][0] == '\0');
            ev_phonemes_free(ph);
            CHECK(ev_phonemize(ctx, "", NULL, &ph) == EV_OK && ph != NULL && ph->count == 0);
            ev_phonemes_free(ph);
        } else {
            CHECK(ev_phonemize(ctx, "hello", NULL, &ph) == EV_ERR_UNSUPPORTED_OPERATION && ph == NULL);
        }
    }

    /* a prompt over the model's input limit is refused before it is read to the end */
    {
        size_t n = 5u * 1000u * 1000u;
        char* big = (char*)malloc(n + 1);
        char* out = NULL;
        CHECK(big != NULL);
        memset(big, 'a', n);
        big[n] = '\0';
        CHECK(ev_generate(ctx, big, NULL, &out) == EV_ERR_INVALID_ARGUMENT && out == NULL);
        CHECK(strstr(ev_last_error_message(ctx), "limits.max_input_chars") != NULL);
        free(big);
    }

    /* cancel from another thread: the next call still works */
    {
        pthread_t t;
        struct cancel_arg a;
        char* out = NULL;
        ev_stream s = NULL;
        const char* tok = NULL;
        a.ctx = ctx;
        CHECK(ev_stream_begin(ctx, "cancellation", NULL, &s) == EV_OK);
        CHECK(pthread_create(&t, NULL, cancel_soon, &a) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(ev_stream_next(s, &tok, NULL) == EV_ERR_CANCELLED);
        ev_stream_free(s);
        CHECK(ev_generate(ctx, "after", NULL, &out) == EV_OK);
        ev_free_string(out);
    }

    /* memory pressure */
    {
        ev_status_info st;
        char* out = NULL;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        CHECK(ev_set_memory_pressure_callback(ctx, on_pressure, &pressure_calls) == EV_OK);
        CHECK(ev_notify_memory_pressure(ctx, EV_MEMORY_PRESSURE_CRITICAL) == EV_OK);
        CHECK(pressure_calls == 1 && pressure_limit == 0);
        CHECK(ev_set_memory_pressure_callback(ctx, NULL, NULL) == EV_OK);
        CHECK(ev_notify_memory_pressure(ctx, EV_MEMORY_PRESSURE_MODERATE) == EV_OK);
        CHECK(pressure_calls == 1);
        CHECK(ev_status(ctx, &st) == EV_OK && st.weights_loaded == 1);
        CHECK(ev_generate(ctx, "pressure", NULL, &out) == EV_OK);
        ev_free_string(out);
    }

    ev_free(ctx);
    ev_free(NULL);
    printf("ok\n");
    return 0;
}
