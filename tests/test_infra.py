"""The infrastructure, checked offline against the code it deploys.

infra/*.tf is parsed with python-hcl2 (no provider download, no Google account) and
cloudbuild.yaml with PyYAML and Cloud Build's JSON schema. The code side is read live:
entry points from functions/main.py, routes from ``route_table.ROUTES``, settings from
``config.ENV_VARS``, so a new route, entry point or setting fails here until the
infrastructure knows about it.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

from vertexchat import config, route_table
from vertexchat.openai_responses import store as responses
from vertexchat.sessions import idempotency
from vertexchat.sessions import store as sessions

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CLOUDBUILD = ROOT / "cloudbuild.yaml"

# serviceUsageConsumer: the model listing sends x-goog-user-project, which needs serviceusage.services.use.
RUNTIME_ROLES = {"roles/aiplatform.user", "roles/datastore.user", "roles/logging.logWriter",
                 "roles/serviceusage.serviceUsageConsumer"}
# Google's list for a custom build service account of Cloud Run functions (artifactregistry.writer is
# granted on the image repository only).
BUILDER_ROLES = {"roles/logging.logWriter", "roles/storage.objectAdmin"}
REQUIRED_APIS = {
    "cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com", "aiplatform.googleapis.com", "firestore.googleapis.com",
    "cloudscheduler.googleapis.com", "iam.googleapis.com", "logging.googleapis.com",
}
# Cloud Build's own substitutions (https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values).
BUILTIN_SUBSTITUTIONS = {
    "PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA", "REVISION_ID",
    "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "REF_NAME",
    "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT",
}


# ---- reading Terraform -------------------------------------------------------------------

class Terraform:
    """Every block of infra/*.tf, merged the way Terraform merges a module's files."""

    def __init__(self, directory: Path) -> None:
        options = SerializationOptions(explicit_blocks=False, strip_string_quotes=True, with_comments=False,
                                       preserve_heredocs=False)
        self.variables: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        for path in sorted(directory.glob("*.tf")):
            with path.open() as file:
                parsed = hcl2.load(file, serialization_options=options)
            for block in parsed.get("variable", []):
                self.variables.update(block)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for block in parsed.get(kind, []):
                    for type_, named in block.items():
                        target.setdefault(type_, {}).update(named)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        return self.resources[type_][name]

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]

    def resolve(self, value: Any) -> Any:
        """A value with a lone ``${var.x}`` or ``${local.x}`` reference replaced by what it stands for."""
        if isinstance(value, str):
            found = re.fullmatch(r"\$\{(var|local)\.(\w+)\}", value)
            if found:
                kind, name = found.groups()
                return self.default(name) if kind == "var" else self.resolve(self.locals[name])
        return value

    def iam_bindings(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(type, name, body) of every IAM member resource."""
        for type_, named in self.resources.items():
            if type_.endswith("_iam_member"):
                for name, body in named.items():
                    yield type_, name, body

    def roles_of(self, body: dict[str, Any]) -> set[str]:
        """The roles an IAM member resource grants, following ``for_each`` over a local list."""
        role = body["role"]
        if not role.startswith("${each."):
            return {role}
        for_each = body["for_each"]
        listed = [self.locals[name] for name in re.findall(r"local\.(\w+)", for_each)]
        return {role for roles in listed for role in roles} | set(re.findall(r"roles/[\w.]+", for_each))


@functools.cache
def terraform() -> Terraform:
    return Terraform(INFRA)


def functions() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = terraform().locals["functions"]
    return spec


def entry_points() -> set[str]:
    """Functions of functions/main.py decorated with ``functions_framework.http``."""
    tree = ast.parse((ROOT / "functions" / "main.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(decorator).endswith("functions_framework.http") for decorator in node.decorator_list)
    }


def quantity_mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


# ---- Terraform: shape and settings --------------------------------------------------------

def test_terraform_parses() -> None:
    tf = terraform()
    assert tf.variables
    assert "google_cloudfunctions2_function" in tf.resources


def test_every_variable_is_described_and_the_important_ones_validated() -> None:
    variables = terraform().variables
    for name, variable in variables.items():
        assert variable.get("description"), f"variable {name} has no description"
    must_validate = {
        "project", "region", "vertex_location", "vertex_fallback_locations", "cors_allowed_origins",
        "auth_mode", "auth_issuer", "auth_jwks_url", "session_ttl_days", "min_instances", "max_instances",
        "chat_memory", "chat_cpu", "chat_concurrency", "light_memory", "light_cpu", "domain", "python_runtime",
    }
    unvalidated = {name for name in must_validate if not variables[name].get("validation")}
    assert not unvalidated, f"variables without validation: {sorted(unvalidated)}"


# Cloud Run's documented CPU/memory rules for services and functions
# (https://cloud.google.com/run/docs/configuring/services/cpu,
#  https://cloud.google.com/run/docs/configuring/services/memory-limits):
# from this many vCPUs -> (min MiB, max MiB). Below 1 vCPU: 0.08 to 0.999 in steps of 0.001;
# from 1 up: 1, 2, 4, 6 or 8.
CLOUD_RUN_MEMORY = {0.08: (128, 512), 0.5: (128, 1024), 1: (128, 4096), 2: (128, 8192), 4: (2048, 16384),
                    6: (4096, 24576), 8: (4096, 32768)}
SIZES = {"chat": ("chat_cpu", "chat_memory"), "light": ("light_cpu", "light_memory")}


def cloud_run_accepts(cpu: str, memory: str) -> bool:
    """Cloud Run's rules, from its documentation, for one CPU and memory pair."""
    whole = cpu in {"1", "2", "4", "6", "8"}
    fraction = re.fullmatch(r"0\.\d{1,3}", cpu) is not None and float(cpu) >= 0.08
    if not (whole or fraction):
        return False
    low, high = CLOUD_RUN_MEMORY[max(step for step in CLOUD_RUN_MEMORY if float(cpu) >= step)]
    return low <= quantity_mib(memory) <= high


def test_the_sizing_table_is_cloud_runs() -> None:
    tf = terraform()
    table = {row["cpu"]: (row["min_mib"], row["max_mib"]) for row in tf.locals["cloud_run_sizes"]}
    assert table == CLOUD_RUN_MEMORY
    assert tf.locals["cloud_run_min_cpu"] == 0.08
    pattern = tf.locals["cloud_run_cpu_pattern"]
    # RE2 (Terraform) and Python agree on this pattern: no lookaround, no backreferences.
    for good in ("0.08", "0.167", "0.333", "0.5", "0.999", "1", "2", "4", "6", "8"):
        assert re.search(pattern, good), good
    for bad in ("1.5", "3", "5", "7", "16", "0.3333", "1.0", ".5", "one", ""):
        assert not re.search(pattern, bad), bad


@pytest.mark.parametrize("size", list(SIZES))
def test_sizing_variables_validate_against_cloud_runs_rules(size: str) -> None:
    tf = terraform()
    cpu, memory = SIZES[size]
    cpu_rules = " ".join(rule["condition"] for rule in tf.variables[cpu]["validation"])
    assert "regex(local.cloud_run_cpu_pattern, var." + cpu + ")" in cpu_rules
    memory_rules = ["".join(rule["condition"].split()) for rule in tf.variables[memory]["validation"]]
    for bound, compare in (("max_mib", "<="), ("min_mib", ">=")):
        [rule] = [r for r in memory_rules if f"s.{bound}" in r]
        # The memory in MiB, compared with the table's bound for the row the CPU reaches.
        expected = (f'tonumber(regex("^[0-9]+", var.{memory})) * (endswith(var.{memory}, "Gi") ? 1024 : 1) {compare} '
                    f"max([for s in local.cloud_run_sizes : s.{bound} if tonumber(var.{cpu}) >= s.cpu]...)")
        assert "".join(expected.split()) in rule
    # The shipped sizes are ones Cloud Run takes.
    assert cloud_run_accepts(tf.default(cpu), tf.default(memory))


@pytest.mark.parametrize(("cpu", "memory", "accepted"), [
    ("1", "1Gi", True), ("1.5", "1Gi", False), ("2", "8Gi", True), ("1", "8Gi", False), ("4", "1Gi", False),
    ("0.333", "512Mi", True), ("0.333", "1Gi", False), ("0.5", "1Gi", True), ("0.5", "2Gi", False),
    ("8", "32Gi", True), ("8", "33Gi", False), ("0.05", "128Mi", False),
])
def test_the_documented_rules_reject_what_cloud_run_rejects(cpu: str, memory: str, accepted: bool) -> None:
    # The cases issue 16 found accepted by variables.tf and refused by Cloud Run; `terraform plan`
    # with variables.tf and cloud_run_sizes.tf gives the same verdicts (checked by hand: the tests
    # stay offline, with no Terraform binary).
    assert cloud_run_accepts(cpu, memory) is accepted


def test_tfvars_example_sets_only_declared_variables() -> None:
    with (INFRA / "terraform.tfvars.example").open() as file:
        example = hcl2.load(file, serialization_options=SerializationOptions(strip_string_quotes=True))
    unknown = set(example) - set(terraform().variables) - {"__comments__", "__inline_comments__"}
    assert not unknown, f"terraform.tfvars.example sets undeclared variables: {sorted(unknown)}"
    assert "project" in example


def test_required_apis_are_enabled() -> None:
    tf = terraform()
    assert set(tf.locals["apis"]) >= REQUIRED_APIS
    assert tf.resource("google_project_service", "enabled")["for_each"] == "${toset(local.apis)}"


# Resource type prefix -> the API its calls go to. A new google_* type fails the test below until
# it is listed here, so nobody adds a resource without asking which API it needs enabled first.
API_OF_TYPE = {
    "google_compute_": "compute.googleapis.com",
    "google_firestore_": "firestore.googleapis.com",
    "google_cloudfunctions2_": "cloudfunctions.googleapis.com",
    "google_cloud_run_v2_": "run.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_storage_": "storage.googleapis.com",
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_": "cloudresourcemanager.googleapis.com",
}
ENABLEMENT = "google_project_service.enabled"
_REFERENCE = re.compile(r"\b(?:data\.\w+\.\w+|google_\w+\.\w+|local\.\w+)")


def dependencies(tf: Terraform) -> dict[str, set[str]]:
    """Every resource, data source and local -> what it names (references and depends_on alike)."""
    nodes: dict[str, Any] = {f"local.{name}": value for name, value in tf.locals.items()}
    nodes |= {f"{type_}.{name}": body for type_, named in tf.resources.items() for name, body in named.items()}
    nodes |= {f"data.{type_}.{name}": body for type_, named in tf.data.items() for name, body in named.items()}
    return {node: {ref for text in strings(body) for ref in _REFERENCE.findall(text)} - {node}
            for node, body in nodes.items()}


def waits_for(graph: dict[str, set[str]], start: str, target: str) -> bool:
    """Whether Terraform orders ``start`` after ``target``: a path of references or depends_on."""
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_every_resource_that_calls_a_google_api_waits_for_its_enablement() -> None:
    tf = terraform()
    graph = dependencies(tf)
    apis = set(tf.locals["apis"])
    checked = []
    for type_, named in tf.resources.items():
        if not type_.startswith("google_") or type_ == "google_project_service":
            continue
        api = next((api for prefix, api in API_OF_TYPE.items() if type_.startswith(prefix)), None)
        assert api, f"{type_}: which API does it call? Add its prefix to API_OF_TYPE"
        assert api in apis, f"{type_} calls {api}, which infra/apis.tf does not enable"
        for name in named:
            assert waits_for(graph, f"{type_}.{name}", ENABLEMENT), (
                f"{type_}.{name} can run before {api} is enabled on an empty project: "
                f"add depends_on = [{ENABLEMENT}]")
            checked.append(f"{type_}.{name}")
    # The three that named nothing else and so raced the Compute API (issue 16).
    assert {"google_compute_managed_ssl_certificate.front_door", "google_compute_ssl_policy.front_door",
            "google_compute_url_map.https_redirect"} <= set(checked)


def test_outputs_give_the_base_url_function_urls_and_service_accounts() -> None:
    assert {"base_url", "function_urls", "service_accounts"} <= set(terraform().outputs)


# ---- functions ----------------------------------------------------------------------------

def test_each_entry_point_has_exactly_one_function_with_that_entry_point() -> None:
    tf = terraform()
    # One for_each resource over local.functions, whose keys are the entry points.
    [function] = tf.resources["google_cloudfunctions2_function"].values()
    assert function["for_each"] == "${local.deployed_functions}"
    assert "in local.functions" in tf.locals["deployed_functions"]
    assert function["build_config"][0]["entry_point"] == "${each.key}"
    missing = entry_points() - set(functions())
    assert not missing, f"entry points of functions/main.py without a function in infra/functions.tf: {missing}"


def test_every_function_terraform_deploys_is_an_entry_point() -> None:
    extra = set(functions()) - entry_points()
    assert not extra, f"infra/functions.tf deploys {sorted(extra)}, which functions/main.py does not define"


def test_the_single_api_function_is_optional_and_off_by_default() -> None:
    tf = terraform()
    assert functions()["api"]["enabled"] == "${var.deploy_single_api}"
    assert tf.default("deploy_single_api") is False
    assert all(spec["enabled"] is True for name, spec in functions().items() if name != "api")


def test_functions_run_a_current_python_as_the_runtime_account() -> None:
    tf = terraform()
    function = tf.resource("google_cloudfunctions2_function", "fn")
    assert function["build_config"][0]["runtime"] == "${var.python_runtime}"
    assert tf.default("python_runtime") in {"python312", "python313"}
    service = function["service_config"][0]
    assert service["service_account_email"] == "${google_service_account.runtime.email}"
    assert "local.runtime_env" in service["environment_variables"]


def test_chat_streams_for_an_hour_with_concurrency_and_matching_threads() -> None:
    tf = terraform()
    chat = functions()["chat_completions"]
    assert chat["timeout"] == 3600
    assert tf.resolve(chat["concurrency"]) > 1
    assert float(tf.resolve(chat["cpu"])) >= 1  # the platform's rule for concurrency above 1
    service = tf.resource("google_cloudfunctions2_function", "fn")["service_config"][0]
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["available_cpu"] == "${each.value.cpu}"
    # THREADS derives from the very value that sets the concurrency.
    assert re.search(r"THREADS\s*=\s*tostring\(each\.value\.concurrency\)", service["environment_variables"])


def test_light_functions_are_small() -> None:
    tf = terraform()
    chat = functions()["chat_completions"]
    for name in ("models", "sessions", "health"):
        spec = functions()[name]
        assert spec["timeout"] <= 300, name
        assert quantity_mib(tf.resolve(spec["memory"])) <= quantity_mib(tf.resolve(chat["memory"])), name
        assert float(tf.resolve(spec["cpu"])) <= float(tf.resolve(chat["cpu"])), name
        if float(tf.resolve(spec["cpu"])) < 1:
            assert tf.resolve(spec["concurrency"]) == 1, name
        assert spec["min_instances"] == 0, name


def test_health_is_private_and_the_browser_facing_functions_public() -> None:
    tf = terraform()
    assert functions()["health"]["public"] is False
    assert all(spec["public"] is True for name, spec in functions().items() if name != "health")
    public = [(type_, name, body) for type_, name, body in tf.iam_bindings() if body["member"] == "allUsers"]
    assert public, "no allUsers binding: browsers' CORS preflights would be rejected"
    for type_, name, body in public:
        assert type_ in {"google_cloud_run_v2_service_iam_member", "google_cloud_run_service_iam_member"}
        assert body["role"] == "roles/run.invoker"
        assert re.search(r"if \w+\.public\}", body["for_each"]), f"{type_}.{name} must only cover public functions"
        assert "health" not in str(body), f"{type_}.{name} makes health public"

    invoker = tf.resource("google_cloud_run_v2_service_iam_member", "health_invoker")
    assert invoker["name"] == '${local.run_services["health"]}'
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "serviceAccount:${google_service_account.scheduler.email}"


def test_scheduler_pings_health_every_5_minutes_with_an_oidc_token() -> None:
    tf = terraform()
    job = tf.resource("google_cloud_scheduler_job", "health")
    assert job["schedule"] == "*/5 * * * *"
    target = job["http_target"][0]
    health_url = tf.locals["health_url"]
    assert '.fn["health"].' in health_url
    assert target["uri"] == "${local.health_url}"
    (token,) = target["oidc_token"]
    assert token["service_account_email"] == "${google_service_account.scheduler.email}"
    assert token["audience"] == "${local.health_url}"


def test_the_runtime_account_has_exactly_its_roles() -> None:
    tf = terraform()
    granted: set[str] = set()
    for type_, name, body in tf.iam_bindings():
        if "google_service_account.runtime." in body["member"]:
            assert type_ == "google_project_iam_member", f"{type_}.{name} grants the runtime account more"
            granted |= tf.roles_of(body)
    assert granted == RUNTIME_ROLES


def roles_of_account(account: str) -> set[str]:
    """Every role any IAM binding of infra/ grants the service account ``account``."""
    tf = terraform()
    return {role for _, _, body in tf.iam_bindings() if f"google_service_account.{account}." in body["member"]
            for role in tf.roles_of(body)}


def test_the_runtime_account_may_name_the_project_as_the_listings_quota_project() -> None:
    # The code sends the header, so the role that makes it legal must be granted, or Vertex refuses
    # the listing and /health reads "degraded".
    source = (ROOT / "functions" / "vertexchat" / "upstream" / "rest.py").read_text()
    assert '"x-goog-user-project"' in source
    assert "roles/serviceusage.serviceUsageConsumer" in roles_of_account("runtime")


def test_the_build_account_has_what_google_documents() -> None:
    tf = terraform()
    assert roles_of_account("builder") == BUILDER_ROLES | {"roles/artifactregistry.writer"}
    repo_grant = tf.resource("google_artifact_registry_repository_iam_member", "builder")
    assert repo_grant["repository"] == "${google_artifact_registry_repository.functions.name}"


def test_the_scheduler_account_may_only_invoke_health() -> None:
    grants = [(type_, name) for type_, name, body in terraform().iam_bindings()
              if "google_service_account.scheduler." in body["member"]]
    assert grants == [("google_cloud_run_v2_service_iam_member", "health_invoker")]


def firestore_spec() -> dict[str, Any]:
    """infra/firestore.indexes.json, which infra/firestore.tf applies."""
    spec: dict[str, Any] = json.loads((INFRA / "firestore.indexes.json").read_text())
    return spec


def composite_indexes() -> dict[str, list[tuple[str, str]]]:
    """Each composite index as ``sessions(owner ASCENDING, ...)`` -> its (field, order) pairs."""
    return {f"{index['collectionGroup']}({', '.join(f['fieldPath'] + ' ' + f['order'] for f in index['fields'])})":
            [(f["fieldPath"], f["order"]) for f in index["fields"]] for index in firestore_spec()["indexes"]}


def field_overrides() -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["collectionGroup"], o["fieldPath"]): o for o in firestore_spec()["fieldOverrides"]}


def test_firestore_is_a_native_database_named_by_the_settings() -> None:
    tf = terraform()
    database = tf.resource("google_firestore_database", "main")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["name"] == "${var.firestore_database}"
    assert tf.default("firestore_database") == config.ENV_VARS["FIRESTORE_DATABASE"][0]
    assert tf.locals["runtime_env"]["FIRESTORE_DATABASE"] == "${google_firestore_database.main.name}"


def test_terraform_applies_every_index_and_override_of_firestore_indexes_json() -> None:
    tf = terraform()
    assert 'file("${path.module}/firestore.indexes.json")' in tf.locals["firestore_spec"]
    assert "local.firestore_spec.indexes" in tf.locals["composite_indexes"]
    assert "local.firestore_spec.fieldOverrides" in tf.locals["field_overrides"]
    index = tf.resource("google_firestore_index", "composite")
    assert index["for_each"] == "${local.composite_indexes}"
    assert index["dynamic"][0]["fields"]["for_each"] == "${each.value.fields}"
    field = tf.resource("google_firestore_field", "override")
    assert field["for_each"] == "${local.field_overrides}"
    blocks = {name: block for dynamic in field["dynamic"] for name, block in dynamic.items()}
    assert blocks["ttl_config"]["for_each"] == "${each.value.ttl ? [true] : []}"
    assert "each.value.indexes" in blocks["index_config"]["for_each"]


def test_firestore_declares_the_composite_indexes_the_session_queries_need() -> None:
    assert "sessions(owner ASCENDING, updated_at DESCENDING)" in composite_indexes()  # the listing
    assert "sessions(owner ASCENDING, expire_at ASCENDING)" in composite_indexes()  # the count of expired


def test_firestore_expires_every_collection_group_the_code_stamps() -> None:
    with_ttl = {collection for (collection, field), o in field_overrides().items()
                if o.get("ttl") and field == "expire_at"}
    assert with_ttl == {sessions.SESSIONS, sessions.MESSAGES, sessions.CHUNKS, idempotency.COLLECTION,
                        sessions.HEALTH, responses.RESPONSES, responses.ITEMS}
    assert all(field == "expire_at" for (_, field), o in field_overrides().items() if o.get("ttl"))


def test_firestore_exempts_large_never_queried_fields_from_indexing() -> None:
    exempt = {key for key, o in field_overrides().items() if o.get("indexes") == []}
    assert {("messages", "body"), ("chunks", "data"), ("sessions", "metadata")} <= exempt
    assert {("responses", "body"), ("responses", "input"), ("response_items", "item")} <= exempt
    # Never a field a composite index (hence a query) needs.
    needed = {(index.split("(")[0], field) for index, fields in composite_indexes().items() for field, _ in fields}
    assert not exempt & needed, f"exempted fields that queries need: {exempt & needed}"


def test_the_source_object_name_carries_the_archive_hash() -> None:
    tf = terraform()
    archive = tf.data["archive_file"]["source"]
    assert archive["type"] == "zip"
    assert archive["source_dir"].endswith("/../functions")
    assert (ROOT / "functions" / "requirements.txt").is_file()  # zipped along with the code

    source = tf.resource("google_storage_bucket_object", "source")
    assert re.search(r"\$\{data\.archive_file\.source\.output_(md5|sha|sha256|base64sha256)\}", source["name"])
    storage = tf.resource("google_cloudfunctions2_function", "fn")["build_config"][0]["source"][0]["storage_source"][0]
    assert storage["object"] == "${google_storage_bucket_object.source.name}"


# ---- the front door -----------------------------------------------------------------------

def sample_path(pattern: str) -> str:
    """A concrete path matching a route's full-match regex: each named group becomes ``x``."""
    path = re.sub(r"\(\?P<\w+>[^()]*\)", "x", pattern)
    path = re.sub(r"\\(.)", r"\1", path)  # unescape, e.g. /openapi\.json
    assert re.fullmatch(pattern, path), f"no sample path for route pattern {pattern!r}: extend sample_path()"
    return path


def front_door_function(path: str) -> str | None:
    """The function the URL map sends ``path`` to: the longest matching path rule, as the load balancer does."""
    best: tuple[int, str] | None = None
    for function, rules in terraform().locals["front_door_paths"].items():
        for rule in rules:
            hit = path.startswith(rule[:-1]) if rule.endswith("/*") else path == rule
            if hit and (best is None or len(rule) > best[0]):
                best = (len(rule), function)
    return best[1] if best else None


def test_the_url_map_is_built_from_the_front_door_paths() -> None:
    tf = terraform()
    url_map = tf.resource("google_compute_url_map", "front_door")
    (matcher,) = url_map["path_matcher"]
    rule = matcher["dynamic"][0]["path_rule"]
    assert rule["for_each"] == "${local.front_door_paths}"
    assert rule["content"][0] == {"paths": "${path_rule.value}",
                                  "service": "${google_compute_backend_service.fn[path_rule.key].id}"}
    # One serverless NEG, hence one backend, per function.
    assert "local.run_services" in tf.locals["front_door_services"]
    neg = tf.resource("google_compute_region_network_endpoint_group", "fn")
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["cloud_run"] == [{"service": "${each.value}"}]


def test_front_door_paths_are_valid_url_map_paths() -> None:
    paths = terraform().locals["front_door_paths"]
    assert set(paths) <= set(functions()) - {"api"}
    every = [rule for rules in paths.values() for rule in rules]
    assert len(every) == len(set(every)), "a path may appear in one path rule only"
    for rule in every:
        assert rule.startswith("/"), rule
        assert "*" not in rule or (rule.endswith("/*") and rule.count("*") == 1), rule


@pytest.mark.parametrize("route", route_table.ROUTES, ids=lambda route: route.name)
def test_the_front_door_sends_each_route_to_a_function_that_serves_it(route: route_table.Route) -> None:
    served_by = route.functions - {"api"}
    if not served_by:
        # Only the all-in-one `api` serves it (e.g. the /v1 index): it is the front door's
        # catch-all when deployed (deploy_single_api), and needs no path rule of its own.
        assert terraform().locals["front_door_default"].startswith("${var.deploy_single_api ? \"api\"")
        return
    path = sample_path(route.pattern)
    target = front_door_function(path)
    assert target in served_by, (
        f"route {route.name} ({path}) is served by {sorted(served_by)} but the front door sends it to {target}; "
        "update front_door_paths in infra/front_door.tf"
    )


# ---- environment --------------------------------------------------------------------------

def test_every_setting_the_code_reads_is_set_or_deliberately_defaulted() -> None:
    tf = terraform()
    set_by_terraform = set(tf.locals["runtime_env"])
    defaulted = tf.locals["defaulted_env"]
    unaccounted = set(config.ENV_VARS) - set_by_terraform - set(defaulted)
    assert not unaccounted, (
        f"settings in vertexchat.config.ENV_VARS that infra neither sets nor lists as defaulted: {sorted(unaccounted)};"
        " add them to runtime_env or defaulted_env in infra/functions.tf"
    )
    assert not set_by_terraform & set(defaulted), "a setting is both set and listed as defaulted"
    stale = (set_by_terraform | set(defaulted)) - set(config.ENV_VARS)
    assert not stale, f"infra names settings vertexchat.config does not read (typo or removed?): {sorted(stale)}"
    assert all(reason.strip() for reason in defaulted.values())
    assert set(defaulted) >= {"K_SERVICE", "PORT", "VERTEXCHAT_SIMULATOR"}
    assert set_by_terraform >= {"GOOGLE_CLOUD_PROJECT", "ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION"}


@pytest.mark.parametrize("name", ["VERTEXCHAT_SIMULATOR", "FIRESTORE_EMULATOR_HOST", "IMAGE_FETCH_ALLOW_HOSTS"])
def test_local_emulation_can_never_be_switched_on_in_a_deployment(name: str) -> None:
    tf = terraform()
    assert name not in tf.locals["runtime_env"]
    assert name in tf.locals["defaulted_env"]
    extra_env_rules = " ".join(rule["condition"] for rule in tf.variables["extra_env"]["validation"])
    assert name in extra_env_rules


# ---- cloudbuild.yaml ----------------------------------------------------------------------

@functools.cache
def cloudbuild() -> dict[str, Any]:
    build: dict[str, Any] = yaml.safe_load(CLOUDBUILD.read_text())
    return build


def step(step_id: str) -> dict[str, Any]:
    return next(s for s in cloudbuild()["steps"] if s.get("id") == step_id)


def script(build_step: dict[str, Any]) -> str:
    return " ".join([build_step.get("entrypoint", ""), *build_step.get("args", []), build_step.get("script", "")])


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def seconds(duration: str) -> float:
    return float(re.fullmatch(r"(\d+(?:\.\d+)?)s", duration).group(1))  # type: ignore[union-attr]


def test_cloudbuild_matches_the_cloud_build_schema() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    command = str(tool) if tool.exists() else shutil.which("check-jsonschema")
    assert command, "check-jsonschema is not installed (it is a dev dependency: make bootstrap)"
    result = subprocess.run([command, "--builtin-schema", "vendor.cloudbuild", str(CLOUDBUILD)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cloudbuild_declares_exactly_the_substitutions_it_uses() -> None:
    build = cloudbuild()
    used: set[str] = set()
    body = {key: value for key, value in build.items() if key != "substitutions"}
    for text in strings(body):
        # $$ is an escaped dollar for the shell; anything else is a substitution.
        for braced, bare in re.findall(r"(?<!\$)\$(?:\{(\w+)\}|(\w+))", text.replace("$$", "")):
            used.add(braced or bare)
    user_defined = {name for name in used if name.startswith("_")}
    assert user_defined == set(build["substitutions"])
    assert used - user_defined <= BUILTIN_SUBSTITUTIONS, f"not substitutions: {used - user_defined}; escape as $$"


def test_cloudbuild_runs_as_a_user_managed_account_logging_to_cloud_logging() -> None:
    build = cloudbuild()
    account = r"projects/[^/]+/serviceAccounts/[^/]+@[^/]+\.iam\.gserviceaccount\.com"
    assert re.fullmatch(account, build["serviceAccount"])
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"


def test_cloudbuild_bounds_every_step_and_the_build() -> None:
    build = cloudbuild()
    total = seconds(build["timeout"])
    for build_step in build["steps"]:
        assert "timeout" in build_step, f"step {build_step.get('id')} has no timeout"
        assert seconds(build_step["timeout"]) <= total


def test_cloudbuild_checks_and_tests_before_it_deploys() -> None:
    ids = [s["id"] for s in cloudbuild()["steps"]]
    assert "make check" in script(step("check"))
    test_script = script(step("test"))
    assert "pytest" in test_script
    deploy = step("deploy")
    assert "test" in deploy["waitFor"]
    assert ids.index("test") < ids.index("deploy")


def test_cloudbuild_test_selection_uses_registered_markers() -> None:
    # pytest --strict-markers rejects a -m expression naming an unregistered marker.
    expression = re.search(r"-m ['\"]([^'\"]+)['\"]", script(step("test"))).group(1)  # type: ignore[union-attr]
    markers = set(re.findall(r"\w+", expression)) - {"not", "and", "or"}
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0].strip() for line in pytest_options.get("markers", [])}
    assert markers <= registered, f"register the pytest markers {sorted(markers - registered)} in pyproject.toml"


def test_cloudbuild_deploys_with_terraform_apply_on_the_remote_state() -> None:
    deploy = step("deploy")
    assert deploy["name"].startswith("hashicorp/terraform:")
    assert deploy["dir"] == "infra"
    commands = script(deploy)
    assert re.search(r"terraform init .*-backend-config=\"?bucket=\$\{_TF_STATE_BUCKET\}", commands)
    assert "terraform apply" in commands
    assert "-auto-approve" in commands


# ---- one state location -------------------------------------------------------------------

STATE_PREFIX = "vertexchat"
READMES = (ROOT / "README.md", INFRA / "README.md")
BOOTSTRAP_APIS = "gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com"


def init_backends(text: str) -> list[dict[str, str]]:
    """The -backend-config pairs of every `terraform init` command in ``text``."""
    return [dict(re.findall(r'-backend-config="?(\w+)=([^"\s]+)"?', line))
            for line in text.splitlines() if re.search(r"\bterraform init\b", line)]


def test_both_readmes_and_cloud_build_use_one_state_location() -> None:
    with (INFRA / "versions.tf").open() as file:
        versions = hcl2.load(file, serialization_options=SerializationOptions(strip_string_quotes=True))
    backend = versions["terraform"][0]["backend"][0]["gcs"]
    assert backend["prefix"] == STATE_PREFIX  # an init that forgets the prefix still lands here

    for readme in READMES:
        inits = init_backends(readme.read_text())
        assert inits, f"{readme.name} never runs terraform init"
        assert inits == [{"bucket": "$PROJECT-tfstate", "prefix": STATE_PREFIX}] * len(inits), (readme.name, inits)

    build = cloudbuild()
    assert build["substitutions"]["_TF_STATE_PREFIX"] == STATE_PREFIX
    assert init_backends(script(step("deploy"))) == [{"bucket": "${_TF_STATE_BUCKET}",
                                                     "prefix": "${_TF_STATE_PREFIX}"}]
    # The trigger's bucket and the settings file Cloud Build reads are where the READMEs put them.
    guide = (INFRA / "README.md").read_text()
    assert "--substitutions=_TF_STATE_BUCKET=$PROJECT-tfstate" in guide
    assert "gs://${_TF_STATE_BUCKET}/${_TF_STATE_PREFIX}/terraform.tfvars" in script(step("settings"))
    assert f"gs://$PROJECT-tfstate/{STATE_PREFIX}/terraform.tfvars" in guide


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_deploy_steps_enable_the_apis_terraform_needs_before_init(readme: Path) -> None:
    text = readme.read_text()
    assert BOOTSTRAP_APIS in text, f"{readme.name} skips enabling Service Usage and Resource Manager"
    assert text.index(BOOTSTRAP_APIS) < text.index("terraform init")
