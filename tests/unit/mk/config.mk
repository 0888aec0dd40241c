# config: the option table, argv parser, --help and docs/options.md.
# The runner links src/config/*.c alone (it stubs hd_py_version_string) and
# checks that docs/options.md matches the table; regenerate the docs with
#   $(BUILD)/tests/unit/test_config --options-markdown > docs/options.md
CONFIG_TEST := $(BUILD)/tests/unit/test_config
CONFIG_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/config/*.c))
UNIT_TESTS  += $(CONFIG_TEST)

$(CONFIG_TEST): $(BUILD)/tests/unit/test_config.o $(CONFIG_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/test_config.o: CFLAGS += -DHD_DOCS_OPTIONS_MD='"$(CURDIR)/docs/options.md"'
