# Operator (issue 6): tools for its tests and a target regenerating the CRDs.
# kubernetes-validate (PyPI) bundles the Kubernetes OpenAPI schemas and runs offline; the
# operator's integration tests (`cargo test -p mcp-v8-operator`, part of `make test`)
# validate every rendered object and the CRDs with it, finding it through this variable.
PIP_PACKAGES += kubernetes-validate
export KUBERNETES_VALIDATE := $(CACHE)/venv/bin/kubernetes-validate

.PHONY: crds test-operator

# Regenerate crds/*.yaml from the Rust types (a test fails while they are stale).
crds:
	$(CARGO) run -q -p mcp-v8-operator --bin crdgen

# The operator's suite alone (unit + integration, including schema validation).
test-operator: tools
	$(CARGO) test -p mcp-v8-operator
