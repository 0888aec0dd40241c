# proto/http1: request-head parser and chunked decoder.
FUZZERS += build/fuzz/fuzz_http1

build/fuzz/fuzz_http1: fuzz/fuzz_http1.c src/proto/http1.c src/proto/http1.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz_http1.c src/proto/http1.c
