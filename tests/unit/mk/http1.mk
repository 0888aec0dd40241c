# proto/http1: the request-head parser and chunked decoder (test_http1.c).
# The Gunicorn corpus is turned into a C header at build time by a stdlib-only
# Python script; the runner links the pure proto sources only.
HTTP1_TEST      := $(BUILD)/tests/unit/test_http1
HTTP1_CORPUS    := tests/unit/corpus/http-requests-gunicorn/cases.json
HTTP1_CORPUS_H  := $(BUILD)/tests/unit/http_corpus.h
HTTP1_PY        ?= $(shell command -v python3 || echo /usr/bin/python3)
HTTP1_PROTO_SRC := $(wildcard src/proto/*.c)

UNIT_TESTS += $(HTTP1_TEST)

$(HTTP1_CORPUS_H): $(HTTP1_CORPUS) tests/unit/gen_http_corpus.py
	@mkdir -p $(dir $@)
	$(HTTP1_PY) tests/unit/gen_http_corpus.py $(HTTP1_CORPUS) $@

$(HTTP1_TEST): tests/unit/test_http1.c tests/unit/runner.h $(HTTP1_PROTO_SRC) $(wildcard src/proto/*.h) \
               $(HTTP1_CORPUS_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(dir $(HTTP1_CORPUS_H)) $(LDFLAGS) -o $@ tests/unit/test_http1.c \
	    $(HTTP1_PROTO_SRC) $(LDLIBS)
