/* Minimal Edge Veda client: English words to ARPAbet phonemes through the C ABI.
 *
 *   make                      # builds ./g2p against the installed edge_veda package
 *   ./g2p ARTIFACT_DIR hello world
 *
 * ARTIFACT_DIR comes from `edge-veda compile g2p-en -o DIR` (or `edge-veda status`). */
#include <stdio.h>

#include "edge_veda.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ARTIFACT_DIR WORD...\n", argv[0]);
        return 2;
    }
    if (ev_abi_version() != EV_ABI_VERSION) {
        fprintf(stderr, "libedge_veda ABI %d, header ABI %d\n", (int)ev_abi_version(), EV_ABI_VERSION);
        return 1;
    }

    ev_config config = ev_config_default();
    config.model_path = argv[1];
    ev_error_t err;
    ev_context ctx = ev_init(&config, &err);
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", ev_last_error_message(NULL));
        return 1;
    }

    int status = 0;
    for (int i = 2; i < argc; ++i) {
        char* phonemes = NULL; /* allocated by the library */
        if (ev_generate(ctx, argv[i], NULL, &phonemes) != EV_OK) {
            fprintf(stderr, "%s\n", ev_last_error_message(ctx));
            status = 1;
            continue; /* a failed call leaves the context usable */
        }
        printf("%s\t%s\n", argv[i], phonemes);
        ev_free_string(phonemes); /* ...and freed by the library */
    }
    ev_free(ctx);
    return status;
}
