#!/usr/bin/env python3
"""Sorts rendered Kubernetes objects for validation (used by charts/test.sh).

Custom resources of group mcpv8.dev are validated here against the openAPIV3Schema of the
generated CRDs (kubernetes-validate only knows built-in kinds). ServiceMonitor
(monitoring.coreos.com) is skipped: its CRD belongs to the Prometheus Operator and no schema
for it is available offline. Every other object is written to --out for
`kubernetes-validate --strict`. Exits non-zero, naming the object, on the first problem.
"""

import argparse
import pathlib
import sys

import jsonschema
import yaml

SKIPPED_GROUPS = {"monitoring.coreos.com"}


def closed(schema):
    """The API server prunes unknown fields of a structural schema; reject them instead, so a
    misspelt field in a manifest fails here rather than silently vanishing."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def load_crd_schemas(crd_dir):
    """(group, version, kind) -> openAPIV3Schema for every served version."""
    schemas = {}
    for path in sorted(pathlib.Path(crd_dir).glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                key = (spec["group"], version["name"], spec["names"]["kind"])
                # apiVersion, kind and metadata are implicit at the top level: close spec only.
                schema = dict(version["schema"]["openAPIV3Schema"])
                schema["properties"] = dict(schema["properties"], spec=closed(schema["properties"]["spec"]))
                schemas[key] = schema
    if not schemas:
        sys.exit(f"no CRDs found in {crd_dir}: run `make crds`")
    return schemas


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--crds", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    schemas = load_crd_schemas(args.crds)
    rest = []
    custom = skipped = 0
    for name in args.files:
        for doc in yaml.safe_load_all(pathlib.Path(name).read_text()):
            if doc is None:
                continue
            api_version, kind = doc.get("apiVersion"), doc.get("kind")
            meta = doc.get("metadata") or {}
            what = f"{name}: {kind}/{meta.get('name')}"
            if not api_version or not kind or not meta.get("name"):
                sys.exit(f"FAIL {what}: apiVersion, kind and metadata.name are required")
            group, _, version = api_version.rpartition("/")
            if group in SKIPPED_GROUPS:
                skipped += 1
                print(f"SKIP {what}: no offline schema for {group}")
                continue
            if group == "mcpv8.dev":
                schema = schemas.get((group, version, kind))
                if schema is None:
                    sys.exit(f"FAIL {what}: no served CRD version for {api_version} {kind}")
                try:
                    jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)
                except jsonschema.ValidationError as err:
                    path = ".".join(str(p) for p in err.absolute_path)
                    sys.exit(f"FAIL {what}: {path}: {err.message}")
                custom += 1
                continue
            rest.append(doc)
    pathlib.Path(args.out).write_text(yaml.safe_dump_all(rest, sort_keys=False))
    print(f"{custom} custom resources valid, {skipped} skipped, {len(rest)} for kubernetes-validate")


if __name__ == "__main__":
    main()
