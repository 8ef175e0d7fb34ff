# executor/cluster (mcp-v8-cluster): etcd-client's build needs protoc, and the etcd
# backend's tests start a real etcd on loopback (found on PATH as `etcd`).
APT_PACKAGES += etcd-server protobuf-compiler

.PHONY: bench-cluster
# Committed appends/s and p99 latency on a 3-node loopback cluster (not part of `make test`).
bench-cluster: tools
	$(CARGO) bench -p mcp-v8-cluster
