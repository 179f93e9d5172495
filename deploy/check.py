#!/usr/bin/env python3
"""Checks the deployment artifacts with the tools a platform team uses, and the rules a
platform reviewer checks by hand. Run by api/tests/it/operations/deploy.rs (so `cargo test`
runs it); exits non-zero with every failure listed, and at once when a tool is missing.

    python3 deploy/check.py                    # everything
    python3 deploy/check.py --compose-env      # print each compose service's environment (JSON)
    python3 deploy/check.py --metric-names     # print the series the alerts, dashboard, KEDA read

Tools (installed by .ci/run): kubectl (its embedded kustomize renders the overlays),
kubernetes-validate, check-jsonschema, checkov (PyPI), promtool (Debian's prometheus).
The secret variables come from the portal's own declarations: the Rust test passes them in
PORTAL_SECRET_VARIABLES (comma-separated).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

KUBERNETES_VERSION = "1.31.0"
DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
OVERLAYS = ["production", "staging"]
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject_v1alpha1.json",
}
TOOLS = ["kubectl", "kubernetes-validate", "check-jsonschema", "checkov", "promtool"]

failures = []


def fail(message):
    failures.append(message)


def run(args, what):
    """Runs a tool; a non-zero exit is a failure with its output."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"{what}: `{' '.join(map(str, args))}` exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def render(overlay):
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "kubernetes" / "overlays" / overlay)],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        fail(f"kustomize {overlay}: {out.stderr}")
        return "", []
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


def containers(doc):
    spec = doc["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def environment(doc, container, configmaps):
    """The container's variables: literal values, ConfigMap values, and `secret:` markers."""
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps.get(source["configMapRef"]["name"], {}))
        if "secretRef" in source:
            fail(f"{doc['metadata']['name']}: envFrom secretRef hides which variables are secret; use secretKeyRef")
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = "secret:" + var["valueFrom"]["secretKeyRef"]["name"]
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = configmaps.get(ref["name"], {}).get(ref["key"], "")
    return env


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


# Go's RE2 (the API server's) accepts an inline flag after `^`; ECMAScript and Python do not,
# and check-jsonschema rejects the schema itself. The one such pattern of the vendored schemas
# (PrometheusRule's partial_response_strategy, unused here) is rewritten to its equivalent.
GO_ONLY_PATTERNS = {"^(?i)(abort|warn)?$": "^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"}


def crd_schema(tmp, name):
    text = (DEPLOY / "schemas" / name).read_text()
    for go, portable in GO_ONLY_PATTERNS.items():
        text = text.replace(json.dumps(go), json.dumps(portable))
    path = tmp / name
    path.write_text(text)
    return path


def check_rendered(overlay, docs, secret_vars):
    where = f"overlay {overlay}"
    kinds = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in kinds.get("ConfigMap", [])}
    deployments = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
    jobs = kinds.get("Job", [])
    if set(deployments) != {"portal-api", "portal-worker"}:
        fail(f"{where}: expected the portal-api and portal-worker Deployments, got {sorted(deployments)}")
        return
    if kinds.get("Secret"):
        fail(f"{where}: a Secret is rendered; secrets are made by the platform, never committed")
    for cm_name, data in configmaps.items():
        for key in data:
            if key in secret_vars:
                fail(f"{where}: ConfigMap {cm_name} holds the secret variable {key}")

    referenced_secrets = set()
    for doc in list(deployments.values()) + jobs:
        name = doc["metadata"]["name"]
        pod = doc["spec"]["template"]["spec"]
        if pod.get("automountServiceAccountToken") is not False:
            fail(f"{where}: {name} mounts a service account token")
        pod_security = pod.get("securityContext", {})
        for c in containers(doc):
            cname = f"{name}/{c['name']}"
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
                fail(f"{where}: {cname} may run as root")
            user = sc.get("runAsUser", pod_security.get("runAsUser"))
            if not isinstance(user, int) or user == 0:
                fail(f"{where}: {cname} has no numeric non-root runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                fail(f"{where}: {cname} has a writable root file system")
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(f"{where}: {cname} allows privilege escalation")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                fail(f"{where}: {cname} does not drop all capabilities")
            seccomp = sc.get("seccompProfile", pod_security.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                fail(f"{where}: {cname} has no RuntimeDefault seccomp profile")
            for key in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(c.get("resources", {}).get(key, {})):
                    fail(f"{where}: {cname} has no cpu and memory {key}")
            env = environment(doc, c, configmaps)
            for var, value in env.items():
                if var in secret_vars and not value.startswith("secret:"):
                    fail(f"{where}: {cname} sets the secret variable {var} without a secretKeyRef")
                if value.startswith("secret:"):
                    referenced_secrets.add(var)
            if env.get("PORTAL_ENV") != "production":
                fail(f"{where}: {cname} does not run with PORTAL_ENV=production")
            if not env.get("DATABASE_URL", "").startswith("secret:"):
                fail(f"{where}: {cname} has no DATABASE_URL from a Secret")
            if doc["kind"] == "Deployment":
                check_replicated_container(where, cname, doc, c, env)
    missing = set(secret_vars) - referenced_secrets
    if missing:
        fail(f"{where}: secret variables no container takes from a Secret: {sorted(missing)}")

    check_autoscaling(where, deployments, kinds)
    check_disruption(where, deployments, kinds)
    check_services(where, deployments, kinds)
    check_network(where, deployments, kinds)
    check_rules(where, kinds)


def check_replicated_container(where, cname, doc, c, env):
    """What every process of a Deployment (≥ 2 replicas) needs, and its probes' binding."""
    if not env.get("REDIS_URL", "").startswith("secret:"):
        fail(f"{where}: {cname} runs replicated without REDIS_URL from a Secret")
    bind_var = "PORTAL_WORKER_BIND" if c.get("args") == ["worker"] else "PORTAL_BIND"
    bind = env.get(bind_var, "")
    host, _, port = bind.rpartition(":")
    if host in ("", "127.0.0.1", "localhost", "[::1]"):
        fail(f"{where}: {cname} binds {bind_var}={bind!r}, not reachable by the probes")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe in ("livenessProbe", "readinessProbe"):
        http = c.get(probe, {}).get("httpGet")
        if not http:
            fail(f"{where}: {cname} has no HTTP {probe}")
            continue
        probed = ports.get(http["port"], http["port"])
        if str(probed) != port:
            fail(f"{where}: {cname} {probe} probes port {probed}, but {bind_var} is {bind}")
    if c["readinessProbe"]["httpGet"]["path"] != "/ready" or c["livenessProbe"]["httpGet"]["path"] != "/health":
        fail(f"{where}: {cname} must probe /health (liveness) and /ready (readiness)")
    strategy = doc["spec"].get("strategy", {})
    if strategy.get("type") != "RollingUpdate":
        fail(f"{where}: {doc['metadata']['name']} is not a RollingUpdate")
    if "replicas" in doc["spec"]:
        fail(f"{where}: {doc['metadata']['name']} sets replicas, which the autoscaler owns")


def check_autoscaling(where, deployments, kinds):
    if kinds.get("HorizontalPodAutoscaler"):
        fail(f"{where}: an HPA is rendered besides the KEDA ScaledObjects (KEDA owns the HPA)")
    owners = {}
    for so in kinds.get("ScaledObject", []):
        target = so["spec"]["scaleTargetRef"]["name"]
        owners.setdefault(target, []).append(so["metadata"]["name"])
        if so["spec"].get("minReplicaCount", 0) < 2:
            fail(f"{where}: ScaledObject {so['metadata']['name']} lets {target} go below 2 replicas")
        for trigger in so["spec"]["triggers"]:
            if trigger["type"] == "prometheus":
                for name in metric_names(trigger["metadata"]["query"]):
                    if not name.startswith("portal_"):
                        fail(f"{where}: ScaledObject query uses {name}, not a portal metric")
    for name in deployments:
        if len(owners.get(name, [])) != 1:
            fail(f"{where}: {name} needs exactly one autoscaler, has {owners.get(name, [])}")
    api_triggers = {t["type"] for so in kinds.get("ScaledObject", [])
                    if so["spec"]["scaleTargetRef"]["name"] == "portal-api" for t in so["spec"]["triggers"]}
    if api_triggers != {"cpu", "prometheus"}:
        fail(f"{where}: portal-api must scale on CPU and on the request rate, has {api_triggers}")


def check_disruption(where, deployments, kinds):
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in kinds.get("PodDisruptionBudget", []) if matches(p["spec"]["selector"]["matchLabels"], labels)]
        if len(pdbs) != 1:
            fail(f"{where}: {name} needs one PodDisruptionBudget, has {len(pdbs)}")
            continue
        spec = pdbs[0]["spec"]
        if "minAvailable" in spec or spec.get("maxUnavailable") in (None, 0, "0%"):
            fail(f"{where}: the PDB of {name} must allow an eviction (maxUnavailable ≥ 1) so drains proceed")


def check_services(where, deployments, kinds):
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}
    api_labels = deployments["portal-api"]["spec"]["template"]["metadata"]["labels"]
    worker_labels = deployments["portal-worker"]["spec"]["template"]["metadata"]["labels"]
    api = services.get("portal-api")
    if not api or not matches(api["spec"]["selector"], api_labels) or matches(api["spec"]["selector"], worker_labels):
        fail(f"{where}: the portal-api Service must select the API pods and only them")
    if "portal-mllp" not in services or 2575 not in [p["port"] for p in services["portal-mllp"]["spec"]["ports"]]:
        fail(f"{where}: no MLLP Service on 2575")
    for sm in kinds.get("ServiceMonitor", []):
        selector = sm["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services.values() if matches(selector, s["metadata"].get("labels", {}))]
        if not chosen:
            fail(f"{where}: ServiceMonitor {sm['metadata']['name']} selects no Service")
        for s in chosen:
            names = {p.get("name") for p in s["spec"]["ports"]}
            for endpoint in sm["spec"]["endpoints"]:
                if endpoint.get("port") not in names:
                    fail(f"{where}: ServiceMonitor {sm['metadata']['name']} port {endpoint.get('port')} is not a port name of Service {s['metadata']['name']}")
    scraped = {s["metadata"]["name"] for sm in kinds.get("ServiceMonitor", []) for s in services.values()
               if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))}
    if not {"portal-api", "portal-worker"} <= scraped:
        fail(f"{where}: the ServiceMonitors must scrape portal-api and portal-worker (the alerts' jobs), scrape {sorted(scraped)}")


def check_network(where, deployments, kinds):
    policies = kinds.get("NetworkPolicy", [])
    api_labels = deployments["portal-api"]["spec"]["template"]["metadata"]["labels"]
    admitted = set()
    for p in policies:
        if matches(p["spec"]["podSelector"].get("matchLabels", {}), api_labels):
            for rule in p["spec"].get("ingress", []):
                for port in rule.get("ports", []):
                    admitted.add(port["port"])
                    if port["port"] == "mllp":
                        for peer in rule.get("from", []):
                            if not (peer.get("ipBlock") or peer.get("namespaceSelector")) or peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0":
                                fail(f"{where}: the MLLP port is open beyond the interface engine: {peer}")
    if "http" not in admitted:
        fail(f"{where}: no NetworkPolicy admits traffic to the API's http port")
    if "mllp" not in admitted:
        fail(f"{where}: no NetworkPolicy admits the interface engine to the MLLP port")
    for store, port in (("postgresql", 5432), ("redis", 6379)):
        guarding = [p for p in policies if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": store}]
        if not guarding:
            fail(f"{where}: no NetworkPolicy guards {store}")
        for p in guarding:
            for rule in p["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    if peer.get("podSelector", {}).get("matchLabels") != {"app.kubernetes.io/name": "portal"} or "namespaceSelector" in peer:
                        fail(f"{where}: {store} is reachable from more than the portal: {peer}")
    if not any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies):
        fail(f"{where}: no default-deny ingress NetworkPolicy")


def check_rules(where, kinds):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    crs = kinds.get("PrometheusRule", [])
    if len(crs) != 1 or crs[0]["spec"]["groups"] != rules["groups"]:
        fail(f"{where}: the PrometheusRule's groups differ from deploy/prometheus/alerts.yaml")


def metric_names(expr):
    """The series names an expression reads (functions, labels and label values excluded)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\)|$|\s*[<>=!+\-*/]|\s+(?:offset|and|or|unless)\b)", expr))
    keywords = {"sum", "max", "min", "avg", "count", "rate", "delta", "increase", "by", "without",
                "histogram_quantile", "le", "and", "or", "unless", "offset", "on", "ignoring"}
    return {n for n in names if n not in keywords and not n.isdigit()}


def alerts():
    return yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())["groups"][0]["rules"]


def check_alerts():
    text = (ROOT / "docs" / "operations.md").read_text()
    for rule in alerts():
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            fail(f"alert {name} has no severity label")
        if not rule.get("annotations", {}).get("summary"):
            fail(f"alert {name} has no summary")
        if f"### {name}" not in text:
            fail(f"docs/operations.md does not explain the alert {name} (a `### {name}` heading)")
    run(["promtool", "check", "rules", DEPLOY / "prometheus" / "alerts.yaml"], "promtool check rules")
    run(["promtool", "test", "rules", DEPLOY / "prometheus" / "tests.yaml"], "promtool test rules")
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests.yaml").read_text())["tests"]
    for rule in alerts():
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == rule["alert"]]
        if not any(c["exp_alerts"] for c in cases) or not any(not c["exp_alerts"] for c in cases):
            fail(f"alert {rule['alert']} needs a test where it fires and one where it stays silent")


def check_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", text)
    runtime = stages[-1]
    entry = re.findall(r"(?m)^ENTRYPOINT (.*)$", runtime)
    if not entry or not entry[-1].strip().startswith("["):
        fail("Dockerfile: the runtime stage needs an exec-form ENTRYPOINT")
    user = re.findall(r"(?m)^USER (\S+)", runtime)
    if not user or not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user[-1]):
        fail("Dockerfile: the runtime stage needs a numeric non-root USER")
    if "--locked" not in text:
        fail("Dockerfile: the build stage must build the locked workspace")
    ignore = (ROOT / ".dockerignore").read_text().split()
    if "target/" not in ignore and "target" not in ignore:
        fail(".dockerignore must exclude target/")
    with tempfile.TemporaryDirectory() as out:
        run(["checkov", "-f", ROOT / "Dockerfile", "--framework", "dockerfile", "--skip-download",
             "--compact", "--quiet", "-o", "cli", "--output-file-path", out], "checkov Dockerfile")


def check_compose():
    compose = DEPLOY / "compose.yaml"
    run(["check-jsonschema", "--schemafile", DEPLOY / "schemas" / "compose-spec.json", compose], "compose spec")
    # Debian's docker-compose (1.29) reads the file as Compose does, with the example
    # environment (no top-level `name`: it predates it; `-p portal` names the project).
    run(["docker-compose", "--env-file", DEPLOY / "compose" / "env.example", "-f", compose, "config", "-q"],
        "docker-compose config")
    services = yaml.safe_load(compose.read_text())["services"]
    portal = {n: s for n, s in services.items() if s.get("image") == "portal:local"}
    serves = [n for n, s in portal.items() if s.get("command") == ["serve"]]
    workers = [n for n, s in portal.items() if s.get("command") == ["worker"]]
    if len(serves) < 2 or len(workers) < 1:
        fail(f"compose.yaml: needs two API replicas and a worker, has {serves} and {workers}")
    for name in ("postgres", "redis", "mail", "prometheus"):
        if name not in services:
            fail(f"compose.yaml: no {name} service")
    for name in serves + workers:
        env = portal[name]["environment"]
        if env.get("PORTAL_ENV") != "production" or not env.get("REDIS_URL") or not env.get("DATABASE_URL", "").startswith("postgres://"):
            fail(f"compose.yaml: {name} must run in production with REDIS_URL and a PostgreSQL DATABASE_URL")
    if not any("alerts.yaml" in v for v in services["prometheus"].get("volumes", [])):
        fail("compose.yaml: Prometheus does not load deploy/prometheus/alerts.yaml")
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"(PASSWORD|TOKEN|SECRET)$", key) and not str(value).startswith("${"):
                fail(f"compose.yaml: {name} has a literal {key}")
            if re.search(r"://[^/:@]*:[^$@/]+@", str(value)):
                fail(f"compose.yaml: {name} has a literal password in {key}")


def compose_env():
    """Each portal service's environment, with ${VAR…} interpolations as placeholders."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    out = {}
    for name, service in services.items():
        if service.get("image") != "portal:local":
            continue
        env = {k: re.sub(r"\$\{([A-Z_]+)[^}]*\}", r"placeholder-\1", str(v))
               for k, v in (service.get("environment") or {}).items()}
        out[name] = {"command": service.get("command", ["serve"]), "environment": env}
    return out


def used_metric_names():
    """Every series name an alert, the dashboard or a KEDA query reads."""
    exprs = [r["expr"] for r in alerts()]
    dashboard = json.loads((DEPLOY / "grafana" / "portal.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    base = DEPLOY / "kubernetes" / "base"
    for name in ("api-scaledobject.yaml", "worker-scaledobject.yaml"):
        doc = yaml.safe_load((base / name).read_text())
        exprs += [t["metadata"]["query"] for t in doc["spec"]["triggers"] if t["type"] == "prometheus"]
    return sorted({n for e in exprs for n in metric_names(e)})


def main():
    if "--compose-env" in sys.argv:
        json.dump(compose_env(), sys.stdout)
        return 0
    if "--metric-names" in sys.argv:
        json.dump(used_metric_names(), sys.stdout)
        return 0
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"MISSING TOOLS: {', '.join(missing)} (run .ci/run, which installs them)", file=sys.stderr)
        return 2
    secret_vars = [v for v in os.environ.get("PORTAL_SECRET_VARIABLES", "").split(",") if v]
    if not secret_vars:
        print("PORTAL_SECRET_VARIABLES is empty: the Rust test passes the declared secrets", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for overlay in OVERLAYS:
            text, docs = render(overlay)
            if not docs:
                continue
            rendered = tmp / f"{overlay}.yaml"
            rendered.write_text(text)
            core = [d for d in docs if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS]
            core_file = tmp / f"{overlay}-core.yaml"
            core_file.write_text(yaml.safe_dump_all(core))
            run(["kubernetes-validate", "--strict", "--quiet", "-k", KUBERNETES_VERSION, core_file],
                f"kubernetes-validate {overlay} (Kubernetes {KUBERNETES_VERSION})")
            for i, doc in enumerate(d for d in docs if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS):
                schema = crd_schema(tmp, CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])])
                crd_file = tmp / f"{overlay}-crd-{i}.json"
                crd_file.write_text(json.dumps(doc))
                run(["check-jsonschema", "--schemafile", schema, crd_file],
                    f"{doc['kind']} {doc['metadata']['name']} ({overlay}) against {schema.name}")
            run(["checkov", "-f", rendered, "--framework", "kubernetes", "--skip-download", "--compact",
                 "--quiet"], f"checkov kubernetes {overlay}")
            check_rendered(overlay, docs, secret_vars)
    check_alerts()
    check_dockerfile()
    check_compose()
    if failures:
        print(f"{len(failures)} deployment check(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"- {f}", file=sys.stderr)
        return 1
    print("deployment checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
