# Fuzzing of the request decoding (executor/fuzz, cargo-fuzz + libFuzzer): the /mcp
# JSON-RPC message and tool arguments, and the /api/exec body. Not part of `make test`.
# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP=1 lets this stable toolchain take them.
# The targets compile only the decoding modules (no V8), so builds and runs are fast.
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(CACHE)/bin/cargo-fuzz
FUZZ_SECONDS ?= 60
# libFuzzer's coverage guidance needs no sanitizer for this safe Rust (`address` selects ASan).
FUZZ_SANITIZER ?= none
FUZZ_TARGETS := jsonrpc_tool_args api_exec_body
FUZZ_OUT := $(CACHE)/fuzz

.PHONY: fuzz fuzz-tools test-fuzz

$(CARGO_FUZZ):
	CARGO_TARGET_DIR="$(FUZZ_OUT)/install-target" $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CACHE)

fuzz-tools: $(CARGO_FUZZ)

# Each target runs FUZZ_SECONDS; a crash stops with the input under $(FUZZ_OUT)/artifacts.
# The corpus grows in $(FUZZ_OUT)/corpus/<target>, seeded from executor/fuzz/seeds.
fuzz: $(CARGO_FUZZ)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p "$(FUZZ_OUT)/corpus/$$t" "$(FUZZ_OUT)/artifacts/$$t"; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  (cd executor && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$(FUZZ_OUT)/target" \
	    $(CARGO_FUZZ) fuzz run --fuzz-dir fuzz -s $(FUZZ_SANITIZER) $$t \
	      "$(FUZZ_OUT)/corpus/$$t" "fuzz/seeds/$$t" -- \
	      -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	      -artifact_prefix="$(FUZZ_OUT)/artifacts/$$t/") 2>&1 \
	    | tee "$(FUZZ_OUT)/$$t.log" | grep -E "^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|stat::|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)"; \
	done

# The regression tests of the fuzz crate (decoding of seeds and past crashes).
test-fuzz:
	cd executor/fuzz && CARGO_TARGET_DIR="$(FUZZ_OUT)/target" $(CARGO) test --lib
