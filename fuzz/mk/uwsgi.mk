# proto/uwsgi: packet parser, hd_uwsgi_get, hd_uwsgi_to_request, writer.
# Seeds in fuzz/corpus/fuzz_uwsgi/ are written by the unit test runner:
#   $(BUILD)/tests/unit/test_uwsgi --write-seeds fuzz/corpus/fuzz_uwsgi
FUZZ_UWSGI := build/fuzz/fuzz_uwsgi
FUZZERS    += $(FUZZ_UWSGI)

$(FUZZ_UWSGI): fuzz/fuzz_uwsgi.c $(wildcard src/proto/*.c) $(wildcard src/proto/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz_uwsgi.c $(wildcard src/proto/*.c)
