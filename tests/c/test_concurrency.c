/* Concurrency test of the ev_* ABI, meant to run under ThreadSanitizer
 * (meson setup -Db_sanitize=thread -Dtests=true; see tests/test_sanitizers.py).
 * usage: test_concurrency ARTIFACT_DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "edge_veda.h"


#define NWORDS 8
#define NTHREADS 8
#define CALLS 60
static const char* WORDS[NWORDS] = {"thread", "sanitizer", "context", "phoneme",
                                    "cancel", "o'neill", "parallel", "mutex"};
static char* EXPECTED[NWORDS];
static const char* artifact;

static void sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

static ev_context open_ctx(void) {
    ev_config cfg = ev_config_default();
    ev_error_t err;
    ev_context ctx;
    cfg.model_path = artifact;
    ctx = ev_init(&cfg, &err);
    if (!ctx) {
        fprintf(stderr, "ev_init: %s\n", ev_last_error_message(NULL));
        exit(1);
    }
    return ctx;
}

/* --- many threads, one or several contexts ------------------------------------------ */
struct gen_arg { ev_context ctx; int seed; int mismatches; };

static void* generate_many(void* p) {
    struct gen_arg* a = (struct gen_arg*)p;
    int i;
    for (i = 0; i < CALLS; ++i) {
        int w = (a->seed * 7 + i) % NWORDS;
        char* out = NULL;
        CHECK(ev_generate(a->ctx, WORDS[w], NULL, &out) == EV_OK);
        if (strcmp(out, EXPECTED[w]) != 0) ++a->mismatches;
        ev_free_string(out);
    }
    return NULL;
}

static void run_parallel(ev_context* ctxs, int nctx) {
    pthread_t t[NTHREADS];
    struct gen_arg args[NTHREADS];
    int i;
    for (i = 0; i < NTHREADS; ++i) {
        args[i].ctx = ctxs[i % nctx];
        args[i].seed = i;
        args[i].mismatches = 0;
        CHECK(pthread_create(&t[i], NULL, generate_many, &args[i]) == 0);
    }
    for (i = 0; i < NTHREADS; ++i) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(args[i].mismatches == 0);
    }
}

/* --- cancel storm -------------------------------------------------------------------- */
struct storm { ev_context ctx; int stop; int cancelled; int ok; pthread_mutex_t mu; };

static void* cancel_storm(void* p) {
    struct storm* s = (struct storm*)p;
    for (;;) {
        int stop;
        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        CHECK(ev_cancel(s->ctx) == EV_OK);
        sleep_us(300);
    }
    return NULL;
}

static void* generate_under_storm(void* p) {
    struct storm* s = (struct storm*)p;
    int i;
    for (i = 0; i < 300; ++i) {
        char* out = NULL;
        ev_error_t rc = ev_generate(s->ctx, WORDS[i % NWORDS], NULL, &out);
        CHECK(rc == EV_OK || rc == EV_ERR_CANCELLED);
        pthread_mutex_lock(&s->mu);
        if (rc == EV_OK) {
            CHECK(strcmp(out, EXPECTED[i % NWORDS]) == 0);
            ++s->ok;
        } else {
            CHECK(out == NULL);
            ++s->cancelled;
        }
        pthread_mutex_unlock(&s->mu);
        ev_free_string(out);
    }
    return NULL;
}

/* --- ev_free while a call is running ------------------------------------------------- */
struct free_race {
    ev_context ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    int tokens;
    ev_error_t rc;
};

static void slow_token(void* user_data, const char* token, int32_t id) {
    struct free_race* r = (struct free_race*)user_data;
    (void)token;
    (void)id;
    pthread_mutex_lock(&r->mu);
    r->started = 1;
    ++r->tokens;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    sleep_us(3000); /* keep the call inside the context */
}

static void* stream_then_stop(void* p) {
    struct free_race* r = (struct free_race*)p;
    ev_error_t rc = ev_generate_stream(r->ctx, "pneumonoultramicroscopicsilicovolcanoconiosis",
                                       NULL, slow_token, r);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    pthread_mutex_unlock(&r->mu);
    return NULL; /* never touches ctx again: it is being freed */
}

/* --- concurrent memory-pressure notifications ---------------------------------------- */
static pthread_mutex_t pressure_mu = PTHREAD_MUTEX_INITIALIZER;
static int pressure_calls = 0;
static void on_pressure(void* user_data, size_t current, size_t limit) {
    (void)user_data;
    (void)current;
    (void)limit;
    pthread_mutex_lock(&pressure_mu);
    ++pressure_calls;
    pthread_mutex_unlock(&pressure_mu);
}
static void* notify_many(void* p) {
    int i;
    for (i = 0; i < 50; ++i) CHECK(ev_notify_memory_pressure((ev_context)p, EV_MEMORY_PRESSURE_MODERATE) == EV_OK);
    return NULL;
}

int main(int argc, char** argv) {
    ev_context ctx, many[4];
    int i;
    CHECK(argc == 2);
    artifact = argv[1];

    ctx = open_ctx();
    for (i = 0; i < NWORDS; ++i) CHECK(ev_generate(ctx, WORDS[i], NULL, &EXPECTED[i]) == EV_OK);

    run_parallel(&ctx, 1); /* 8 threads, one context */
    for (i = 0; i < 4; ++i) many[i] = open_ctx();
    run_parallel(many, 4); /* 8 threads, four contexts */
    for (i = 0; i < 4; ++i) ev_free(many[i]);
    printf("parallel: ok\n");

    {
        struct storm s;
        pthread_t a, b;
        memset(&s, 0, sizeof s);
        s.ctx = ctx;
        pthread_mutex_init(&s.mu, NULL);
        CHECK(pthread_create(&a, NULL, generate_under_storm, &s) == 0);
        CHECK(pthread_create(&b, NULL, cancel_storm, &s) == 0);
        CHECK(pthread_join(a, NULL) == 0);
        pthread_mutex_lock(&s.mu);
        s.stop = 1;
        pthread_mutex_unlock(&s.mu);
        CHECK(pthread_join(b, NULL) == 0);
        CHECK(s.ok + s.cancelled == 300 && s.cancelled > 0);
        printf("cancel storm: %d ok, %d cancelled\n", s.ok, s.cancelled);
        pthread_mutex_destroy(&s.mu);
    }
    {
        char* out = NULL; /* the context is still usable after the storm */
        CHECK(ev_generate(ctx, WORDS[0], NULL, &out) == EV_OK && strcmp(out, EXPECTED[0]) == 0);
        ev_free_string(out);
    }
    {
        pthread_t t[4];
        CHECK(ev_set_memory_pressure_callback(ctx, on_pressure, NULL) == EV_OK);
        for (i = 0; i < 4; ++i) CHECK(pthread_create(&t[i], NULL, notify_many, ctx) == 0);
        for (i = 0; i < 4; ++i) CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(pressure_calls == 200);
        CHECK(ev_set_memory_pressure_callback(ctx, NULL, NULL) == EV_OK);
        printf("pressure: ok\n");
    }
    ev_free(ctx);

    {
        struct free_race r;
        pthread_t t;
        int tokens_at_free;
        memset(&r, 0, sizeof r);
        pthread_mutex_init(&r.mu, NULL);
        pthread_cond_init(&r.cv, NULL);
        r.ctx = open_ctx();
        r.rc = 12345;
        CHECK(pthread_create(&t, NULL, stream_then_stop, &r) == 0);
        pthread_mutex_lock(&r.mu);
        while (!r.started) pthread_cond_wait(&r.cv, &r.mu);
        pthread_mutex_unlock(&r.mu);
        ev_free(r.ctx); /* cancels the running stream and waits for it */
        pthread_mutex_lock(&r.mu);
        tokens_at_free = r.tokens;
        pthread_mutex_unlock(&r.mu);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(r.rc == EV_ERR_CANCELLED);
        CHECK(r.tokens == tokens_at_free && tokens_at_free < 20); /* nothing after ev_free */
        printf("free race: cancelled after %d tokens\n", tokens_at_free);
        pthread_mutex_destroy(&r.mu);
        pthread_cond_destroy(&r.cv);
    }
    for (i = 0; i < NWORDS; ++i) ev_free_string(EXPECTED[i]);
    printf("ok\n");
    return 0;
}
