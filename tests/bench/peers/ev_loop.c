/* The C side of the binding-overhead benchmark: ev_generate over words read from stdin (one per
 * line), `rounds` times; prints the best round's seconds. usage: ev_loop ARTIFACT ROUNDS < words */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge_veda.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    char line[1024];
    char** words = NULL;
    size_t n = 0, cap = 0, i;
    int r, rounds;
    double best = 1e30;
    ev_config cfg = ev_config_default();
    ev_context ctx;
    if (argc != 3) return 2;
    rounds = atoi(argv[2]);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            words = (char**)realloc(words, cap * sizeof(char*));
        }
        words[n++] = strdup(line);
    }
    cfg.model_path = argv[1];
    cfg.num_threads = 1;
    ctx = ev_init(&cfg, NULL);
    if (!ctx) {
        fprintf(stderr, "%s\n", ev_last_error_message(NULL));
        return 1;
    }
    ev_warmup(ctx);
    for (r = 0; r < rounds; ++r) {
        double t = now();
        for (i = 0; i < n; ++i) {
            char* out = NULL;
            if (ev_generate(ctx, words[i], NULL, &out) != EV_OK) return 1;
            ev_free_string(out);
        }
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%.6f\n", best);
    for (i = 0; i < n; ++i) free(words[i]);
    free(words);
    ev_free(ctx);
    return 0;
}
