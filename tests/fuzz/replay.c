// SPDX-License-Identifier: MIT
/*
 * replay.c - run fuzz_segment.c's inputs without libFuzzer.
 *
 * Each file named on the command line is read and fed once to
 * LLVMFuzzerTestOneInput(), as `fuzz_segment -runs=1 FILE` does, so the
 * seeds of corpus/ and the reproducers of regress/ run as ctest cases in
 * every build: gcc or clang, plain, under ASan/UBSan or TSan.  A failed
 * check in the harness aborts, as under libFuzzer; 0 when every input ran.
 * Fuzzing itself stays with .ci/fuzz.sh (clang's libFuzzer).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#endif

#ifndef REPLAY_ASAN
/* no sanitizer runtime to report a death: nothing to call back */
void __sanitizer_set_death_callback(void (*callback)(void))
{
	(void)callback;
}
#endif

/* The whole file in a buffer of exactly its size, as libFuzzer passes it. */
static uint8_t *read_input(const char *path, size_t *sizep)
{
	size_t size = 0, cap = 4096;
	uint8_t *buf = malloc(cap), *exact;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f || !buf) {
		perror(path);
		exit(2);
	}
	while ((n = fread(buf + size, 1, cap - size, f)) > 0) {
		size += n;
		if (size == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf) {
				perror("realloc");
				exit(2);
			}
		}
	}
	if (ferror(f)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	exact = malloc(size ? size : 1);
	if (!exact) {
		perror("malloc");
		exit(2);
	}
	memcpy(exact, buf, size);
	free(buf);
	*sizep = size;
	return exact;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s INPUT...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		size_t size;
		uint8_t *data = read_input(argv[i], &size);

		LLVMFuzzerTestOneInput(data, size);
		free(data);
		printf("replay: %s: %zu bytes, ran clean\n", argv[i], size);
	}
	return 0;
}
