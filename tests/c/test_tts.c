/* The tts kind from C with threads, meant to run under ThreadSanitizer and valgrind
 * (tests/test_sanitizers.py, tests/test_c_api.py): a G2P context as the front end of a TTS
 * context in one process, several threads synthesizing on one context while another reads its
 * status, a stream cancelled from another thread, memory-pressure unload racing a synthesis,
 * and ev_free racing a running stream. Every result is freed, so valgrind's leak check is exact.
 * usage: test_tts KOKORO_DIR G2P_DIR [light]
 * "light" (for valgrind, which runs this ~100x slower): shorter texts, two synthesizing threads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "edge_veda.h"

#define MAX_THREADS 3
static int nthreads = MAX_THREADS;
static const char* SHORT_TEXT = "Hi there.";
static const char* LONG_TEXT = "First sentence here. A second one follows. The third is last.";
static const char* kokoro;
static const char* g2p;
static int64_t expected_samples; /* of SHORT_TEXT */

static void sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

static ev_context open_ctx(const char* path, int auto_unload) {
    ev_config cfg = ev_config_default();
    ev_error_t err;
    ev_context ctx;
    cfg.model_path = path;
    cfg.num_threads = 2;
    cfg.auto_unload_on_memory_pressure = auto_unload;
    ctx = ev_init(&cfg, &err);
    if (!ctx) {
        fprintf(stderr, "ev_init(%s): %s\n", path, ev_last_error_message(NULL));
        exit(1);
    }
    return ctx;
}

static int64_t synthesize_count(ev_context ctx, const char* text) {
    ev_audio* audio = NULL;
    int64_t n;
    int32_t i;
    CHECK(ev_synthesize(ctx, text, NULL, &audio) == EV_OK);
    CHECK(audio != NULL && audio->sample_rate == 24000 && audio->sample_count > 0);
    for (i = 0; i < audio->word_count; ++i)
        CHECK(audio->word_start[i] <= audio->word_end[i] && audio->word_end[i] <= audio->sample_count);
    n = audio->sample_count;
    ev_audio_free(audio);
    return n;
}

/* --- several threads on one context, one more reading its status --------------------- */
struct shared { ev_context ctx; int stop; int mismatches; pthread_mutex_t mu; };

static void* synthesize_short(void* p) {
    struct shared* s = (struct shared*)p;
    int64_t n = synthesize_count(s->ctx, SHORT_TEXT);
    pthread_mutex_lock(&s->mu);
    if (n != expected_samples) ++s->mismatches;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void* poll_status(void* p) {
    struct shared* s = (struct shared*)p;
    for (;;) {
        ev_status_info info;
        int stop;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        CHECK(ev_status(s->ctx, &info) == EV_OK && info.sample_rate == 24000 && info.has_frontend == 1);
        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        sleep_us(2000);
    }
    return NULL;
}

/* --- a stream cancelled from another thread; ev_free racing a stream ----------------- */
struct stream_state {
    ev_context ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int chunks;
    int64_t next_start;
    int bad_order;
    ev_error_t rc;
};

static void on_chunk(const ev_audio_chunk* chunk, void* user_data) {
    struct stream_state* s = (struct stream_state*)user_data;
    pthread_mutex_lock(&s->mu);
    if (chunk->chunk_index != s->chunks || chunk->start_sample != s->next_start) s->bad_order = 1;
    s->next_start = chunk->start_sample + chunk->sample_count;
    ++s->chunks;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void* run_stream(void* p) {
    struct stream_state* s = (struct stream_state*)p;
    ev_error_t rc = ev_synthesize_stream(s->ctx, LONG_TEXT, NULL, on_chunk, s);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL; /* never touches ctx again: the free race is freeing it */
}

static void stream_state_init(struct stream_state* s, ev_context ctx) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->rc = 12345;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static int wait_first_chunk(struct stream_state* s) {
    int chunks;
    pthread_mutex_lock(&s->mu);
    while (s->chunks == 0 && s->rc == 12345) pthread_cond_wait(&s->cv, &s->mu);
    chunks = s->chunks;
    pthread_mutex_unlock(&s->mu);
    return chunks;
}

static void stream_state_destroy(struct stream_state* s) {
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* --- memory pressure racing a synthesis ----------------------------------------------- */
static void* notify_critical(void* p) {
    int i;
    for (i = 0; i < 5; ++i) {
        CHECK(ev_notify_memory_pressure((ev_context)p, EV_MEMORY_PRESSURE_CRITICAL) == EV_OK);
        sleep_us(20000);
    }
    return NULL;
}

/* ---- composed contexts: callbacks and threads crossing a TTS context and its front end ---- */
struct crossing {
    ev_context tts, front;
    int calls;
    ev_error_t synth_rc, set_rc;
    int bad; /* an inner call that neither succeeded nor was refused as a would-be deadlock */
};

static void synth_from_front_callback(void* user_data, const char* token, int32_t token_id) {
    struct crossing* c = (struct crossing*)user_data;
    ev_audio* audio = NULL;
    (void)token;
    (void)token_id;
    if (c->calls++ > 0) return;
    c->synth_rc = ev_synthesize(c->tts, "Hi.", NULL, &audio); /* its front end is busy: refused */
    ev_audio_free(audio);
    c->set_rc = ev_set_frontend(c->tts, c->front);
}

static void synth_phonemes_from_callback(void* user_data, const char* token, int32_t token_id) {
    struct crossing* c = (struct crossing*)user_data;
    ev_synthesis_params p = ev_synthesis_params_default();
    ev_audio* audio = NULL;
    ev_error_t rc;
    (void)token;
    (void)token_id;
    p.input = EV_TTS_INPUT_PHONEMES;
    rc = ev_synthesize(c->tts, "h\xcb\x88I.", &p, &audio);
    if (rc == EV_OK) {
        if (audio == NULL || audio->sample_count <= 0) c->bad = 1;
    } else if (rc != EV_ERR_INVALID_STATE || strstr(ev_last_error_message(c->tts), "would deadlock") == NULL) {
        c->bad = 1;
    }
    ev_audio_free(audio);
}

static void* generate_crossing(void* p) {
    struct crossing* c = (struct crossing*)p;
    int i;
    for (i = 0; i < 2; ++i)
        CHECK(ev_generate_stream(c->front, "hi", NULL, synth_phonemes_from_callback, c) == EV_OK);
    return NULL;
}

static void* cancel_later(void* p) {
    sleep_us(300000);
    CHECK(ev_cancel((ev_context)p) == EV_OK);
    return NULL;
}

int main(int argc, char** argv) {
    ev_context front, tts;
    int i;
    CHECK(argc == 3 || (argc == 4 && strcmp(argv[3], "light") == 0));
    kokoro = argv[1];
    g2p = argv[2];
    if (argc == 4) {
        nthreads = 2;
        SHORT_TEXT = "Hi.";
        LONG_TEXT = "One. Two. Three.";
    }

    front = open_ctx(g2p, 0);
    tts = open_ctx(kokoro, 1);
    CHECK(ev_set_frontend(tts, front) == EV_OK);
    expected_samples = synthesize_count(tts, SHORT_TEXT);
    printf("short text: %lld samples\n", (long long)expected_samples);

    {
        struct shared s;
        pthread_t t[MAX_THREADS], status;
        memset(&s, 0, sizeof s);
        s.ctx = tts;
        pthread_mutex_init(&s.mu, NULL);
        CHECK(pthread_create(&status, NULL, poll_status, &s) == 0);
        for (i = 0; i < nthreads; ++i) CHECK(pthread_create(&t[i], NULL, synthesize_short, &s) == 0);
        for (i = 0; i < nthreads; ++i) CHECK(pthread_join(t[i], NULL) == 0);
        pthread_mutex_lock(&s.mu);
        s.stop = 1;
        pthread_mutex_unlock(&s.mu);
        CHECK(pthread_join(status, NULL) == 0);
        CHECK(s.mismatches == 0);
        pthread_mutex_destroy(&s.mu);
        printf("parallel: ok\n");
    }
    {
        struct stream_state s;
        pthread_t t;
        stream_state_init(&s, tts);
        CHECK(pthread_create(&t, NULL, run_stream, &s) == 0);
        CHECK(wait_first_chunk(&s) == 1);
        CHECK(ev_cancel(tts) == EV_OK);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(s.rc == EV_ERR_CANCELLED && !s.bad_order && s.chunks <= 2);
        printf("stream cancel: cancelled after %d chunk(s)\n", s.chunks);
        stream_state_destroy(&s);
        CHECK(synthesize_count(tts, SHORT_TEXT) == expected_samples); /* still usable */
    }
    {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, notify_critical, tts) == 0);
        CHECK(synthesize_count(tts, SHORT_TEXT) == expected_samples);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(synthesize_count(tts, SHORT_TEXT) == expected_samples); /* reloaded */
        printf("pressure: ok\n");
    }
    {
        /* The front end's token callback calls its TTS context: refused, not a deadlock. */
        struct crossing c;
        pthread_t t;
        memset(&c, 0, sizeof c);
        c.tts = tts;
        c.front = front;
        CHECK(ev_generate_stream(front, "hello world", NULL, synth_from_front_callback, &c) == EV_OK);
        CHECK(c.synth_rc == EV_ERR_INVALID_STATE && c.set_rc == EV_ERR_INVALID_STATE);
        /* Lock order inverted by a second thread: each call finishes or is refused. */
        CHECK(pthread_create(&t, NULL, generate_crossing, &c) == 0);
        for (i = 0; i < 2; ++i) { /* whichever thread's wait would close the cycle is refused */
            ev_audio* audio = NULL;
            ev_error_t rc = ev_synthesize(tts, SHORT_TEXT, NULL, &audio);
            CHECK(rc == EV_OK ? audio->sample_count == expected_samples
                              : rc == EV_ERR_INVALID_STATE &&
                                    strstr(ev_last_error_message(tts), "would deadlock") != NULL);
            ev_audio_free(audio);
        }
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(!c.bad);
        printf("crossing contexts: ok\n");
    }
    {
        /* A cancel lands inside one long piece (between the vocoder's kernels). */
        ev_synthesis_params p = ev_synthesis_params_default();
        ev_audio* audio = NULL;
        pthread_t t;
        char text[1300];
        text[0] = '\0';
        for (i = 0; i < (argc == 4 ? 20 : 100); ++i) strcat(text, "h\xc9\x99l\xcb\x88O ");
        p.input = EV_TTS_INPUT_PHONEMES;
        CHECK(pthread_create(&t, NULL, cancel_later, tts) == 0);
        CHECK(ev_synthesize(tts, text, &p, &audio) == EV_ERR_CANCELLED && audio == NULL);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(synthesize_count(tts, SHORT_TEXT) == expected_samples);
        printf("cancel inside a piece: ok\n");
    }
    ev_free(tts);

    {
        struct stream_state s;
        pthread_t t;
        int chunks_at_free;
        ev_context ctx = open_ctx(kokoro, 0);
        CHECK(ev_set_frontend(ctx, front) == EV_OK);
        stream_state_init(&s, ctx);
        CHECK(pthread_create(&t, NULL, run_stream, &s) == 0);
        CHECK(wait_first_chunk(&s) == 1);
        ev_free(ctx); /* cancels the running stream and waits for it */
        pthread_mutex_lock(&s.mu);
        chunks_at_free = s.chunks;
        pthread_mutex_unlock(&s.mu);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(s.rc == EV_ERR_CANCELLED && s.chunks == chunks_at_free && chunks_at_free <= 2);
        printf("free race: cancelled after %d chunk(s)\n", chunks_at_free);
        stream_state_destroy(&s);
    }
    ev_free(front);
    printf("ok\n");
    return 0;
}
