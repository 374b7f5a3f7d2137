/* The plain-C peer: g2p-en greedy decoding as a straightforward C loop (what a developer would
 * write by hand), compiled with -O3 -march=native. Reads weights (float32, in the order of
 * WEIGHTS in peers.py) from argv[1] and words (one per line) from stdin; prints phoneme ids.
 * usage: g2p_plain WEIGHTS.bin < words > ids */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E 256
#define H 256
#define G (3 * H)
#define VIN 29
#define VOUT 74
#define MAXSTEPS 20

static float *enc_emb, *enc_w_ih, *enc_w_hh, *enc_b_ih, *enc_b_hh;
static float *dec_emb, *dec_w_ih, *dec_w_hh, *dec_b_ih, *dec_b_hh, *fc_w, *fc_b;

static float* take(FILE* f, size_t n) {
    float* p = (float*)malloc(n * sizeof(float));
    if (!p || fread(p, sizeof(float), n, f) != n) exit(3);
    return p;
}

/* [rows][cols] -> [cols][rows], so the inner loops below run along contiguous output columns
 * (an axpy that gcc vectorizes without -ffast-math). */
static float* take_transposed(FILE* f, int rows, int cols) {
    float* w = take(f, (size_t)rows * cols);
    float* t = (float*)malloc((size_t)rows * cols * sizeof(float));
    int r, c;
    if (!t) exit(3);
    for (r = 0; r < rows; ++r)
        for (c = 0; c < cols; ++c) t[c * rows + r] = w[r * cols + c];
    free(w);
    return t;
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static void gru_cell(const float* x, float* h, const float* w_ih, const float* w_hh,
                     const float* b_ih, const float* b_hh) {
    float gi[G], gh[G];
    int j, k;
    memcpy(gi, b_ih, sizeof gi);
    memcpy(gh, b_hh, sizeof gh);
    for (k = 0; k < E; ++k)
        for (j = 0; j < G; ++j) gi[j] += x[k] * w_ih[k * G + j];
    for (k = 0; k < H; ++k)
        for (j = 0; j < G; ++j) gh[j] += h[k] * w_hh[k * G + j];
    for (j = 0; j < H; ++j) {
        float r = sigmoid(gi[j] + gh[j]);
        float z = sigmoid(gi[H + j] + gh[H + j]);
        float n = tanhf(gi[2 * H + j] + r * gh[2 * H + j]);
        h[j] = (1.0f - z) * n + z * h[j];
    }
}

static int grapheme(unsigned c) {
    if (c >= 'A' && c <= 'Z') c += 32;
    return (c >= 'a' && c <= 'z') ? 3 + (int)(c - 'a') : 1;
}

int main(int argc, char** argv) {
    char line[4096];
    FILE* f;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) return 2;
    enc_emb = take(f, VIN * E); enc_w_ih = take_transposed(f, G, E); enc_w_hh = take_transposed(f, G, H);
    enc_b_ih = take(f, G); enc_b_hh = take(f, G);
    dec_emb = take(f, VOUT * E); dec_w_ih = take_transposed(f, G, E); dec_w_hh = take_transposed(f, G, H);
    dec_b_ih = take(f, G); dec_b_hh = take(f, G); fc_w = take_transposed(f, VOUT, H); fc_b = take(f, VOUT);
    fclose(f);
    while (fgets(line, sizeof line, stdin)) {
        float h[H];
        const unsigned char* p;
        int tok = 2, step, j, k;
        line[strcspn(line, "\n")] = 0;
        memset(h, 0, sizeof h);
        for (p = (const unsigned char*)line;; ++p) {
            int id;
            if (*p && (*p & 0xC0) == 0x80) continue; /* one token per UTF-8 code point */
            id = *p ? grapheme(*p) : 2;              /* </s> after the last character */
            gru_cell(enc_emb + id * E, h, enc_w_ih, enc_w_hh, enc_b_ih, enc_b_hh);
            if (!*p) break;
        }
        for (step = 0; step < MAXSTEPS; ++step) {
            float logits[VOUT];
            int best = 0;
            gru_cell(dec_emb + tok * E, h, dec_w_ih, dec_w_hh, dec_b_ih, dec_b_hh);
            memcpy(logits, fc_b, sizeof logits);
            for (k = 0; k < H; ++k)
                for (j = 0; j < VOUT; ++j) logits[j] += h[k] * fc_w[k * VOUT + j];
            for (j = 1; j < VOUT; ++j)
                if (logits[j] > logits[best]) best = j;
            if (best == 3) break;
            printf("%s%d", step ? " " : "", best);
            tok = best;
        }
        putchar('\n');
    }
    return 0;
}
