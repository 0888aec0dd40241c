# server/sched: a worker's run queue and its threads' roles (test_sched.c).
# The runner links src/server/sched.c alone (pthreads, no Python).
SCHED_TEST := $(BUILD)/tests/unit/test_sched

UNIT_TESTS += $(SCHED_TEST)

$(SCHED_TEST): tests/unit/test_sched.c tests/unit/runner.h src/server/sched.c src/server/sched.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/unit/test_sched.c src/server/sched.c $(LDLIBS)
