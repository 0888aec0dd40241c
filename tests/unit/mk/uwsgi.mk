# proto/uwsgi: the uwsgi packet parser, vars-to-request mapping and writer
# (test_uwsgi.c). The runner links the pure proto sources only. It also
# writes the fuzzer's seed corpus:
#   $(BUILD)/tests/unit/test_uwsgi --write-seeds fuzz/corpus/fuzz_uwsgi
UWSGI_TEST      := $(BUILD)/tests/unit/test_uwsgi
UWSGI_PROTO_SRC := $(wildcard src/proto/*.c)

UNIT_TESTS += $(UWSGI_TEST)

$(UWSGI_TEST): tests/unit/test_uwsgi.c tests/unit/runner.h $(UWSGI_PROTO_SRC) $(wildcard src/proto/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/unit/test_uwsgi.c $(UWSGI_PROTO_SRC) $(LDLIBS)
