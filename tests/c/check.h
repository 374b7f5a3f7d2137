/* Assertion for the C test programs: report the failed condition and exit non-zero. */
#ifndef EV_TEST_CHECK_H
#define EV_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            exit(2);                                                                 \
        }                                                                            \
    } while (0)

#endif
