# Three service accounts, each with only what its job needs:
#   runtime   - the functions' identity: call Vertex AI, read and write Firestore, write logs, and
#               name this project as the quota project of the model listing.
#   builder   - Cloud Build's identity while it turns the source into images.
#   scheduler - Cloud Scheduler's identity for the health ping: may invoke the health function only
#               (that binding lives in functions.tf, next to the function).

locals {
  runtime_roles = [
    "roles/aiplatform.user",
    "roles/datastore.user",
    "roles/logging.logWriter",
    # Model Garden's listing URL names no project, so the functions send x-goog-user-project
    # (functions/vertexchat/models.py) to bill and rate-limit it in this project, like the chat
    # calls; that header needs serviceusage.services.use, which only this role of the three grants.
    "roles/serviceusage.serviceUsageConsumer",
  ]
  # What Google documents for a custom build service account of Cloud Run functions
  # (https://cloud.google.com/run/docs/configuring/services/build-service-account): logs, and
  # Storage Object Admin to fetch the source and stage the build. Image pushes are granted on
  # the repository alone (artifactregistry.writer in source.tf).
  builder_roles = [
    "roles/logging.logWriter",
    "roles/storage.objectAdmin",
  ]
}

resource "google_service_account" "runtime" {
  project      = var.project
  account_id   = "${var.name_prefix}-runtime"
  display_name = "vertexchat functions (runtime)"
  description  = "Identity of the vertexchat functions: Vertex AI, Firestore, logs."
  depends_on   = [google_project_service.enabled]
}

resource "google_project_iam_member" "runtime" {
  for_each = toset(local.runtime_roles)

  project = var.project
  role    = each.key
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_service_account" "builder" {
  project      = var.project
  account_id   = "${var.name_prefix}-builder"
  display_name = "vertexchat functions (build)"
  description  = "Cloud Build identity for building the vertexchat functions."
  depends_on   = [google_project_service.enabled]
}

resource "google_project_iam_member" "builder" {
  for_each = toset(local.builder_roles)

  project = var.project
  role    = each.key
  member  = "serviceAccount:${google_service_account.builder.email}"
}

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "vertexchat health ping"
  description  = "Cloud Scheduler identity: may invoke the vertexchat health function, nothing else."
  depends_on   = [google_project_service.enabled]
}
