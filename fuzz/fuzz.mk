# libFuzzer targets (clang). Each fragment in fuzz/mk/*.mk adds a target
# binary to FUZZERS, built under build/fuzz/, with a seed corpus folder
# fuzz/corpus/<name>/ and optionally a dictionary fuzz/<name>.dict.
# make test-fuzz: a bounded run (FUZZ_SECONDS per target, default 30);
# make fuzz: a long one (FUZZ_SECONDS default 600).
FUZZ_CC     := clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Isrc -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS     :=
include $(wildcard fuzz/mk/*.mk)

define run_fuzzers
	@mkdir -p build/fuzz/work; rc=0; for f in $(FUZZERS); do \
	  n=$$(basename $$f); mkdir -p build/fuzz/work/$$n; \
	  d=""; [ -f fuzz/$$n.dict ] && d="-dict=fuzz/$$n.dict"; \
	  echo "== fuzz $$n for $(1) s"; \
	  $$f -max_total_time=$(1) -print_final_stats=1 $$d build/fuzz/work/$$n fuzz/corpus/$$n \
	     > build/fuzz/work/$$n.log 2>&1 || { rc=1; tail -50 build/fuzz/work/$$n.log; }; \
	  grep -E '^stat::number_of_executed_units|^Done' build/fuzz/work/$$n.log | tr '\n' ' '; echo; \
	done; exit $$rc
endef

test-fuzz: $(FUZZERS)
	$(call run_fuzzers,$(or $(FUZZ_SECONDS),30))

fuzz: $(FUZZERS)
	$(call run_fuzzers,$(or $(FUZZ_SECONDS),600))
