#!/usr/bin/env python3
"""Generates src/patch/smp_schema.json from a Kubernetes OpenAPI v2 document.

Usage: gen_smp_schema.py swagger.json > src/patch/smp_schema.json

Keeps, for every definition reachable from a top-level kind, the fields that
matter to strategic merge patch: object/list element type, patch merge key
and patch strategy (x-kubernetes-patch-merge-key / -strategy), and, when
kyaml would merge on several keys instead (a patch strategy plus
x-kubernetes-list-map-keys other than the merge key), those keys.
"""
import json, sys

doc = json.load(open(sys.argv[1]))
defs = doc["definitions"]

def ref_name(schema):
    r = schema.get("$ref")
    return r.split("/")[-1] if r else None

gvk = {}
for name, d in defs.items():
    for g in d.get("x-kubernetes-group-version-kind", []):
        group, version, kind = g.get("group", ""), g["version"], g["kind"]
        if kind in ("DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIGroupList", "APIResourceList", "APIVersions"):
            continue
        if name.endswith("List"):
            continue
        gvk[f"{group}/{version}/{kind}"] = name

out = {}
todo = list(set(gvk.values()))
while todo:
    name = todo.pop()
    if name in out or name not in defs:
        continue
    fields = {}
    for fname, p in defs[name].get("properties", {}).items():
        is_list = p.get("type") == "array"
        elem = p.get("items", {}) if is_list else p
        ref = ref_name(elem)
        key = p.get("x-kubernetes-patch-merge-key")
        strat = p.get("x-kubernetes-patch-strategy")
        if ref and not defs.get(ref, {}).get("properties"):
            ref = None  # scalars in disguise (Quantity, IntOrString, Time...)
        if ref is None and not is_list and not strat:
            continue
        keys = p.get("x-kubernetes-list-map-keys") if strat else None
        fields[fname] = [ref, is_list, key, strat] + ([keys] if keys and keys != [key] else [])
        if ref:
            todo.append(ref)
    out[name] = fields

json.dump({"gvk": dict(sorted(gvk.items())), "defs": dict(sorted(out.items()))}, sys.stdout, separators=(",", ":"), sort_keys=True)
