#!/usr/bin/env bash
# e2e: daprc's CustomResourceDefinitions (crds/) against a Kubernetes API server.
#   1. `kubectl apply -f crds/` works, every CRD becomes Established, a re-apply is a no-op,
#      names/versions/categories/conversion are as intended, discovery shows the five kinds.
#   2. The CRD files are valid apiextensions.k8s.io/v1 objects with structural schemas
#      (e2e/crdcheck.py; the checker itself is shown to reject broken CRDs).
#   3. Realistic resources (e2e/testdata/valid/) match the schemas, are accepted, and read back
#      field for field (Subscription both as v1alpha1 and v2alpha1) and together set every field
#      of every schema; printer columns, the `dapr` category and an update (merge patch) work.
#   4. Invalid resources (e2e/testdata/invalid/, first line `# expect: <error>`) are rejected by
#      the schema. kubelite does NOT validate custom resources against CRD schemas (README, "Not
#      faithful": no structural-schema validation, pruning or defaulting; fieldValidation=Strict
#      not enforced), so there the rejection is checked with e2e/crdcheck.py, which reproduces the
#      API server's checks and wording; on a real cluster (E2E_KUBECONFIG) `kubectl apply` must
#      also fail with the expected message.
# shellcheck source=e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TD=$E2E_DIR/testdata
CHECK=(python3 "$E2E_DIR/crdcheck.py")
CRDS=(components configurations subscriptions resiliencies httpendpoints)

e2e_setup

# to_json FILE OUT: the object(s) of a YAML manifest as JSON (kubectl client-side, no server write).
to_json() { k create --dry-run=client --validate=false -o json -n "$E2E_NS" -f "$1" >"$2"; }

echo "-- install"
check_cmd "kubectl apply -f crds/" k apply -f "$ROOT/crds/"
for c in "${CRDS[@]}"; do
    check_cmd "$c.dapr.io Established" \
        k wait --for=condition=Established "crd/$c.dapr.io" --timeout=30s
done
out=$(k apply -f "$ROOT/crds/" 2>&1)
check "re-apply leaves all 5 unchanged" 5 "$(grep -c ' unchanged$' <<<"$out")"

k get crd "${CRDS[@]/%/.dapr.io}" -o json >"$E2E_TMP/crds-server.json"
summary=$(python3 - "$E2E_TMP/crds-server.json" <<'EOF'
import json, sys
for c in json.load(open(sys.argv[1]))["items"]:
    s, n = c["spec"], c["spec"]["names"]
    vers = ",".join(f'{v["name"]}{"*" if v["storage"] else ""}{"" if v["served"] else "(unserved)"}'
                    for v in s["versions"])
    print(c["metadata"]["name"], s["group"], s["scope"], n["kind"], n.get("listKind"),
          n.get("singular"), "cat=" + ",".join(n.get("categories", [])) or "-", vers,
          "conv=" + s.get("conversion", {}).get("strategy", "None"),
          "stored=" + ",".join(c.get("status", {}).get("storedVersions", [])))
EOF
)
expected="components.dapr.io dapr.io Namespaced Component ComponentList component cat=all,dapr v1alpha1* conv=None stored=v1alpha1
configurations.dapr.io dapr.io Namespaced Configuration ConfigurationList configuration cat= v1alpha1* conv=None stored=v1alpha1
subscriptions.dapr.io dapr.io Namespaced Subscription SubscriptionList subscription cat=all,dapr v1alpha1,v2alpha1* conv=None stored=v2alpha1
resiliencies.dapr.io dapr.io Namespaced Resiliency ResiliencyList resiliency cat=dapr v1alpha1* conv=None stored=v1alpha1
httpendpoints.dapr.io dapr.io Namespaced HTTPEndpoint HTTPEndpointList httpendpoint cat= v1alpha1* conv=None stored=v1alpha1"
check "names, scope, versions, conversion, storedVersions" "$expected" "$summary"
check "discovery: dapr.io resources" \
    "components configurations httpendpoints resiliencies subscriptions" \
    "$(k api-resources --api-group=dapr.io --no-headers -o name | sed 's/\.dapr\.io$//' | sort | xargs)"
check_contains "discovery: Subscription preferred version v2alpha1" "dapr.io/v2alpha1" \
    "$(k api-resources --api-group=dapr.io --no-headers | grep '^subscriptions ')"

echo "-- CRD files: apiextensions.k8s.io/v1, structural schemas"
e2e_namespace crds
to_json "$ROOT/crds/" "$E2E_TMP/crds.json"
check_cmd "crds/*.yaml are well-formed v1 CRDs with structural schemas" \
    "${CHECK[@]}" structural "$E2E_TMP/crds.json"
# The checker must itself catch broken CRDs.
python3 - "$E2E_TMP/crds.json" "$E2E_TMP" "$E2E_DIR" <<'EOF'
import copy, json, sys
sys.path.insert(0, sys.argv[3])
from crdcheck import load, items_of
crds = items_of(load(sys.argv[1]))
comp = next(c for c in crds if c["metadata"]["name"] == "components.dapr.io")
def spec_props(c, i=0):
    return c["spec"]["versions"][i]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
broken = {}
b = copy.deepcopy(comp); del spec_props(b)["type"]["type"]; broken["untyped-field"] = b
b = copy.deepcopy(comp); spec_props(b)["metadata"]["items"]["additionalProperties"] = False
broken["additionalProperties-false"] = b
b = copy.deepcopy(comp); b["spec"]["versions"].append(dict(b["spec"]["versions"][0], name="v1"))
broken["two-storage-versions"] = b
b = copy.deepcopy(comp); b["spec"]["versions"][0]["additionalPrinterColumns"][0]["jsonPath"] = ".spec.kind"
broken["printer-column-off-schema"] = b
b = copy.deepcopy(comp); b["metadata"]["name"] = "component.dapr.io"; broken["wrong-name"] = b
for name, c in broken.items():
    json.dump(c, open(f"{sys.argv[2]}/broken-{name}.json", "w"))
EOF
# rejects NAME CMD...: ok when CMD exits 1 (crdcheck's "invalid"; 2 and 3 are usage/crash).
rejects() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ]; then ok "$name"; else bad "$name" "exit status $rc" "${out:0:400}"; fi
}
check "broken CRDs generated" 5 "$(find "$E2E_TMP" -maxdepth 1 -name 'broken-*.json' | wc -l)"
for b in "$E2E_TMP"/broken-*.json; do
    n=${b##*/broken-}
    rejects "checker rejects a CRD with ${n%.json}" "${CHECK[@]}" structural "$b"
done

echo "-- valid resources (namespace $E2E_NS)"
for f in "$TD"/valid/*.yaml; do
    n=$(basename "$f" .yaml)
    to_json "$f" "$E2E_TMP/$n.exp.json"
    check_cmd "$n: matches the schema" "${CHECK[@]}" validate "$E2E_TMP/crds.json" "$E2E_TMP/$n.exp.json"
    check_cmd "$n: kubectl apply" k apply -n "$E2E_NS" -f "$f"
    # `get -f` reads at the file's apiVersion (v1alpha1 Subscription is read as v1alpha1).
    if k get -n "$E2E_NS" -f "$f" -o json >"$E2E_TMP/$n.act.json" 2>"$E2E_TMP/err"; then
        check_cmd "$n: read back equal" "${CHECK[@]}" subset "$E2E_TMP/$n.exp.json" "$E2E_TMP/$n.act.json"
    else
        bad "$n: read back" "$(cat "$E2E_TMP/err")"
    fi
done

check_cmd "valid test objects together set every schema field" \
    "${CHECK[@]}" coverage "$E2E_TMP/crds.json" "$E2E_TMP"/*.exp.json

out=$(k get components -n "$E2E_NS" 2>&1)
check_contains "printer columns: Component TYPE/VERSION" "TYPE" "$out"
check_contains "printer columns: Component type value" "state.redis" "$out"
out=$(k get subscriptions.v2alpha1.dapr.io -n "$E2E_NS" 2>&1)
check_contains "printer columns: Subscription v2alpha1" "DEFAULT" "$out"
check_contains "printer columns: Subscription default route" "/products" "$out"
out=$(k get httpendpoints -n "$E2E_NS" 2>&1)
check_contains "printer columns: HTTPEndpoint BASE URL" "https://api.github.com" "$out"
check "category dapr lists components, subscriptions, resiliencies" \
    "component/kubernetes component/order-pub-sub component/statestore resiliency/myresiliency subscription/myevent-subscription subscription/order-pub-sub" \
    "$(k get dapr -n "$E2E_NS" -o name | sed 's/\.dapr\.io//' | sort | xargs)"
check "Subscriptions listed at the storage version" "dapr.io/v2alpha1 dapr.io/v2alpha1" \
    "$(k get subscriptions -n "$E2E_NS" -o jsonpath='{range .items[*]}{.apiVersion}{" "}{end}' | xargs)"

sed 's/redis-master.default.svc.cluster.local:6379/redis.cache:6380/' \
    "$TD/valid/component-statestore-redis.yaml" >"$E2E_TMP/statestore2.yaml"
check_cmd "update: kubectl apply changed Component" k apply -n "$E2E_NS" -f "$E2E_TMP/statestore2.yaml"
check "update: value changed" "redis.cache:6380" \
    "$(k get component statestore -n "$E2E_NS" -o jsonpath='{.spec.metadata[0].value}')"
check "update: generation bumped" 2 \
    "$(k get component statestore -n "$E2E_NS" -o jsonpath='{.metadata.generation}')"

echo "-- invalid resources"
if [ "$E2E_KUBELITE" -eq 1 ]; then
    echo "   (kubelite does not validate CRD schemas: rejection checked with crdcheck.py only)"
fi
for f in "$TD"/invalid/*.yaml; do
    n=$(basename "$f" .yaml)
    expect=$(sed -n '1s/^# expect: //p' "$f")
    [ -n "$expect" ] || { bad "$n: has an '# expect:' first line"; continue; }
    to_json "$f" "$E2E_TMP/$n.json"
    out=$("${CHECK[@]}" validate "$E2E_TMP/crds.json" "$E2E_TMP/$n.json" 2>&1)
    rc=$?
    if [ "$rc" -eq 1 ]; then
        check_contains "$n: rejected by the schema" "$expect" "$out"
    else
        bad "$n: rejected by the schema" "exit status $rc (0 = accepted)" "${out:0:400}"
    fi
    if [ "$E2E_KUBELITE" -eq 0 ]; then
        if out=$(k apply -n "$E2E_NS" -f "$f" 2>&1); then
            bad "$n: rejected by the API server" "accepted: $out"
        else
            check_contains "$n: rejected by the API server" "$expect" "$out"
        fi
    fi
done

echo "-- delete"
check_cmd "kubectl delete -f testdata/valid/" k delete -n "$E2E_NS" -f "$TD/valid/" --wait=true
check "no dapr resources left" "" "$(k get dapr,configurations,httpendpoints -n "$E2E_NS" -o name)"

finish
