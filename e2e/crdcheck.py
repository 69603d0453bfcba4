#!/usr/bin/env python3
"""Offline checks of CustomResourceDefinitions and of objects against them (stdlib only).

kubelite (the test API server) does not validate custom resources against their schemas, so the
e2e tests use this script to check what a real kube-apiserver would check:

  crdcheck.py structural CRDS.json
      Every CRD in CRDS.json (a JSON object, or a List / array of them) is a well-formed
      apiextensions.k8s.io/v1 CustomResourceDefinition whose schemas are structural; printer
      columns point at fields of the schema. Prints one line per problem; exit 1 if any.

  crdcheck.py validate CRDS.json OBJ.json
      Validates a custom resource against the schema of its apiVersion, as the API server does
      with fieldValidation=Strict: types, required, enum, int32/int64 ranges, and unknown fields
      (rejected unless x-kubernetes-preserve-unknown-fields). Errors are printed in the API
      server's wording (e.g. `spec.type: Required value`). Exit 1 if invalid.

  crdcheck.py coverage CRDS.json OBJ.json...
      Every leaf field of every served schema is set by at least one of the objects, so no
      schema field (or typo in one) goes untested. Exit 1 lists the unused fields.

  crdcheck.py subset EXPECTED.json ACTUAL.json
      Every field of EXPECTED (minus server-owned metadata) is present and equal in ACTUAL; lists
      must have the same length. Used to compare what was applied with what is read back.

Only the subset of OpenAPI v3 that the dapr.io CRDs use is validated (no pattern, min/max,
CEL rules); such keywords are accepted by the structural check but ignored by `validate`.
"""
import json
import sys

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
# Keywords Kubernetes accepts in a CRD schema node (JSONSchemaProps) and never inside a
# structural schema: $ref, definitions, dependencies, patternProperties, additionalItems, id...
ALLOWED = {
    "type", "format", "description", "title", "properties", "additionalProperties", "items",
    "required", "enum", "default", "nullable", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "minProperties", "maxProperties", "multipleOf", "uniqueItems", "allOf", "anyOf", "oneOf",
    "not", "example", "externalDocs", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-validations",
}
PRINTER_TYPES = {"integer", "number", "string", "boolean", "date"}


def items_of(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and "items" in doc:
        return doc["items"]
    return [doc]


# ---- structural check -------------------------------------------------------------------

def type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return False


def check_node(node, path, errs, root=False):
    if not isinstance(node, dict):
        errs.append(f"{path}: schema node is not an object")
        return
    for key in node:
        if key not in ALLOWED:
            errs.append(f"{path}: keyword {key!r} is not allowed in a structural schema")
    pu = node.get("x-kubernetes-preserve-unknown-fields")
    if pu is not None and pu is not True:
        errs.append(f"{path}: x-kubernetes-preserve-unknown-fields must be true when set")
    t = node.get("type")
    if t is None:
        if not (pu or node.get("x-kubernetes-int-or-string")):
            errs.append(f"{path}: type is missing (needed unless preserve-unknown/int-or-string)")
    elif t not in TYPES:
        errs.append(f"{path}: unknown type {t!r}")
    if root and t != "object":
        errs.append(f"{path}: the root must be type object")
    if "description" in node and not isinstance(node["description"], str):
        errs.append(f"{path}: description must be a string")
    if node.get("uniqueItems") is True:
        errs.append(f"{path}: uniqueItems true is forbidden")
    props = node.get("properties")
    addl = node.get("additionalProperties")
    if props is not None and addl is not None:
        errs.append(f"{path}: properties and additionalProperties are mutually exclusive")
    if (props is not None or addl is not None) and t not in (None, "object"):
        errs.append(f"{path}: properties on a non-object")
    if isinstance(addl, bool):
        errs.append(f"{path}: additionalProperties must be a schema, not {addl}")
    if t == "array" and "items" not in node:
        errs.append(f"{path}: array without items")
    if "items" in node and t != "array":
        errs.append(f"{path}: items on a non-array")
    for req in node.get("required", []):
        if props is None or req not in props:
            errs.append(f"{path}: required field {req!r} is not among properties")
    for value in node.get("enum", []):
        if t and not type_ok(t, value):
            errs.append(f"{path}: enum value {value!r} is not of type {t}")
    if "default" in node:
        derr = []
        validate_node(node, node["default"], path.replace("openAPIV3Schema", "") or "default",
                      derr, strict=True)
        errs.extend(f"{path}: default does not validate: {e}" for e in derr)
    if isinstance(props, dict):
        for name, sub in props.items():
            if root and name == "metadata":
                extra = set(sub) - {"type", "description", "properties"}
                if sub.get("type") != "object" or extra or \
                        set(sub.get("properties", {})) - {"name", "generateName"}:
                    errs.append(f"{path}.properties.metadata: may only be type object "
                                "(restrictions of name/generateName allowed)")
                continue
            check_node(sub, f"{path}.properties.{name}", errs)
    if isinstance(addl, dict):
        check_node(addl, f"{path}.additionalProperties", errs)
    if "items" in node:
        check_node(node["items"], f"{path}.items", errs)
    for comb in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(node.get(comb, [])):
            if "type" in sub or "default" in sub or "description" in sub:
                errs.append(f"{path}.{comb}[{i}]: type/default/description forbidden here")


def schema_at(schema, jsonpath):
    """The schema node of a simple printer-column JSONPath (.a.b.c), or None."""
    parts = jsonpath.lstrip(".").split(".")
    if parts[0] == "metadata":
        return {"type": "object"}  # ObjectMeta: known to the server, not in the CRD schema
    node = schema
    for part in parts:
        if node.get("type") == "object" and part in node.get("properties", {}):
            node = node["properties"][part]
        elif node.get("x-kubernetes-preserve-unknown-fields"):
            return node
        else:
            return None
    return node


def structural(crd):
    errs = []
    name = crd.get("metadata", {}).get("name", "?")
    p = f"{name}"
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        errs.append(f"{p}: apiVersion must be apiextensions.k8s.io/v1")
    if crd.get("kind") != "CustomResourceDefinition":
        errs.append(f"{p}: kind must be CustomResourceDefinition")
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group = spec.get("group", "")
    plural = names.get("plural", "")
    if name != f"{plural}.{group}":
        errs.append(f"{p}: metadata.name must be <plural>.<group> = {plural}.{group}")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(f"{p}: scope must be Namespaced or Cluster")
    for key in ("plural", "singular"):
        if not names.get(key) or names[key] != names[key].lower():
            errs.append(f"{p}: names.{key} must be set and lower case")
    if not names.get("kind"):
        errs.append(f"{p}: names.kind is required")
    if names.get("listKind", names.get("kind", "") + "List") != names.get("kind", "") + "List":
        errs.append(f"{p}: names.listKind should be {names.get('kind')}List")
    for key in ("shortNames", "categories"):
        for v in names.get(key, []):
            if v != v.lower():
                errs.append(f"{p}: names.{key} entry {v!r} must be lower case")
    if spec.get("preserveUnknownFields"):
        errs.append(f"{p}: spec.preserveUnknownFields must be false in v1")
    conv = spec.get("conversion", {"strategy": "None"})
    strategy = conv.get("strategy")
    if strategy == "None":
        if "webhook" in conv:
            errs.append(f"{p}: conversion.webhook must be absent with strategy None")
    elif strategy == "Webhook":
        wh = conv.get("webhook", {})
        if not wh.get("conversionReviewVersions") or "clientConfig" not in wh:
            errs.append(f"{p}: Webhook conversion needs conversionReviewVersions and clientConfig")
    else:
        errs.append(f"{p}: conversion.strategy must be None or Webhook")
    versions = spec.get("versions", [])
    if not versions:
        errs.append(f"{p}: no versions")
    if sum(1 for v in versions if v.get("storage") is True) != 1:
        errs.append(f"{p}: exactly one version must have storage: true")
    seen = set()
    for v in versions:
        vn = v.get("name", "?")
        vp = f"{p}[{vn}]"
        if vn in seen:
            errs.append(f"{vp}: duplicate version")
        seen.add(vn)
        for key in ("served", "storage"):
            if not isinstance(v.get(key), bool):
                errs.append(f"{vp}: {key} must be a boolean")
        schema = v.get("schema", {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(f"{vp}: schema.openAPIV3Schema is required in v1")
            continue
        check_node(schema, f"{vp}.openAPIV3Schema", errs, root=True)
        for col in v.get("additionalPrinterColumns", []):
            cn = col.get("name", "?")
            if col.get("type") not in PRINTER_TYPES:
                errs.append(f"{vp}: printer column {cn!r} has type {col.get('type')!r}")
            jp = col.get("jsonPath", "")
            if not jp.startswith("."):
                errs.append(f"{vp}: printer column {cn!r} jsonPath must start with '.'")
            elif schema_at(schema, jp) is None:
                errs.append(f"{vp}: printer column {cn!r} points at {jp}, not in the schema")
    return errs


# ---- object validation ------------------------------------------------------------------

def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def validate_node(node, v, path, errs, strict):
    if v is None and node.get("nullable"):
        return
    t = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        if not (isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))):
            errs.append(f'{path}: Invalid value: "{jtype(v)}": {path} in body must be of type '
                        "integer-or-string")
        return
    if t and not type_ok(t, v):
        errs.append(f'{path}: Invalid value: "{jtype(v)}": {path} in body must be of type {t}: '
                    f'"{jtype(v)}"')
        return
    if "enum" in node and v not in node["enum"]:
        allowed = ", ".join(json.dumps(e) for e in node["enum"])
        errs.append(f"{path}: Unsupported value: {json.dumps(v)}: supported values: {allowed}")
    fmt = node.get("format")
    if t == "integer" and fmt in ("int32", "int64"):
        bits = 31 if fmt == "int32" else 63
        if not -(1 << bits) <= v < (1 << bits):
            errs.append(f"{path}: Invalid value: {v}: {path} in body must be of format {fmt}")
    if isinstance(v, dict):
        props = node.get("properties")
        addl = node.get("additionalProperties")
        for req in node.get("required", []):
            if req not in v:
                errs.append(f"{path + '.' if path else ''}{req}: Required value")
        for key, sub in v.items():
            sp = f"{path}.{key}" if path else key
            if props is not None and key in props:
                validate_node(props[key], sub, sp, errs, strict)
            elif isinstance(addl, dict):
                validate_node(addl, sub, sp, errs, strict)
            elif node.get("x-kubernetes-preserve-unknown-fields"):
                continue
            elif strict:
                errs.append(f'unknown field "{sp}"')
    elif isinstance(v, list) and "items" in node:
        for i, sub in enumerate(v):
            validate_node(node["items"], sub, f"{path}[{i}]", errs, strict)


def validate(crds, obj):
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    kind = obj.get("kind")
    for crd in crds:
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            break
    else:
        return [f"no CRD for {kind} in group {group!r}"]
    for v in spec["versions"]:
        if v["name"] == version:
            break
    else:
        return [f"no version {version} of {kind}"]
    if not v.get("served"):
        return [f"version {version} of {kind} is not served"]
    schema = v["schema"]["openAPIV3Schema"]
    errs = []
    body = {k: val for k, val in obj.items() if k != "metadata"}
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        errs.append("metadata.name: Required value: name or generateName is required")
    validate_node(schema, body, "", errs, strict=True)
    return errs


# ---- coverage -----------------------------------------------------------------------------

def leaves(node, path, out):
    """Leaf field paths of a schema: a.b, a[], a.* for map values."""
    if "properties" in node:
        for key, sub in node["properties"].items():
            leaves(sub, f"{path}.{key}", out)
    elif isinstance(node.get("additionalProperties"), dict):
        leaves(node["additionalProperties"], f"{path}.*", out)
    elif "items" in node:
        leaves(node["items"], f"{path}[]", out)
    else:
        out.add(path)


def used(v, node, path, out):
    if node is None:
        return
    if isinstance(v, dict) and "properties" in node:
        for key, sub in v.items():
            used(sub, node["properties"].get(key), f"{path}.{key}", out)
    elif isinstance(v, dict) and isinstance(node.get("additionalProperties"), dict):
        for sub in v.values():
            used(sub, node["additionalProperties"], f"{path}.*", out)
    elif isinstance(v, list) and "items" in node:
        for sub in v:
            used(sub, node["items"], f"{path}[]", out)
    else:
        out.add(path)


def coverage(crds, objs):
    """Schema leaves (outside apiVersion/kind/metadata) that no object uses."""
    errs = []
    for crd in crds:
        spec = crd["spec"]
        for ver in spec["versions"]:
            schema = ver["schema"]["openAPIV3Schema"]
            want, seen = set(), set()
            leaves(schema, "", want)
            api = f'{spec["group"]}/{ver["name"]}'
            for obj in objs:
                if obj.get("apiVersion") == api and obj.get("kind") == spec["names"]["kind"]:
                    used(obj, schema, "", seen)
            for path in sorted(want - seen):
                if not path.startswith((".apiVersion", ".kind", ".metadata")):
                    errs.append(f"{spec['names']['kind']} {ver['name']}: no test object sets {path[1:]}")
    return errs


# ---- subset compare ---------------------------------------------------------------------

SERVER_META = {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
               "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}


def subset(exp, act, path, errs):
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errs.append(f"{path or '.'}: expected an object, got {json.dumps(act)[:80]}")
            return
        for key, ev in exp.items():
            kp = f"{path}.{key}" if path else key
            if path == "metadata" and key in SERVER_META:
                continue
            if path == "metadata" and key == "annotations":
                ev = {a: b for a, b in ev.items()
                      if a != "kubectl.kubernetes.io/last-applied-configuration"}
            if key not in act:
                errs.append(f"{kp}: missing in the object read back")
                continue
            subset(ev, act[key], kp, errs)
    elif isinstance(exp, list):
        if not isinstance(act, list) or len(act) != len(exp):
            errs.append(f"{path}: expected {json.dumps(exp)[:120]}, got {json.dumps(act)[:120]}")
            return
        for i, (ev, av) in enumerate(zip(exp, act)):
            subset(ev, av, f"{path}[{i}]", errs)
    elif exp != act or type(exp) is not type(act):
        errs.append(f"{path}: expected {json.dumps(exp)}, got {json.dumps(act)}")


def load(path):
    """A JSON document, or a stream of them (kubectl -o json of several files) as a list."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    dec = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        doc, pos = dec.raw_decode(text, pos)
        docs.append(doc)
    if len(docs) == 1:
        return docs[0]
    return [d for doc in docs for d in items_of(doc)]


def main(argv):
    if len(argv) >= 3 and argv[1] == "structural":  # exit 0 ok, 1 problems, 2 usage, 3 crash
        errs = []
        for crd in items_of(load(argv[2])):
            errs.extend(structural(crd))
    elif len(argv) >= 4 and argv[1] == "validate":
        crds = items_of(load(argv[2]))
        errs = []
        for obj in items_of(load(argv[3])):
            errs.extend(validate(crds, obj))
    elif len(argv) >= 4 and argv[1] == "coverage":
        objs = [o for path in argv[3:] for o in items_of(load(path))]
        errs = coverage(items_of(load(argv[2])), objs)
    elif len(argv) >= 4 and argv[1] == "subset":
        errs = []
        subset(load(argv[2]), load(argv[3]), "", errs)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # a crash is not a verdict: exit 3, never 1
        print(f"crdcheck: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
