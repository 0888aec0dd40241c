# C unit tests. Each fragment in tests/unit/mk/*.mk adds a runner binary to
# UNIT_TESTS (built under $(BUILD)/tests/unit/) with its own rule. A runner
# prints "N passed, N failed" last and exits non-zero on any failure.
UNIT_TESTS :=
include $(wildcard tests/unit/mk/*.mk)

test-unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || rc=1; done; exit $$rc
