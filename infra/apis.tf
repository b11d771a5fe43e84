# The APIs a deployment uses. Left enabled on destroy: other workloads in the project may need them.

locals {
  apis = [
    "aiplatform.googleapis.com",           # Vertex AI: Claude
    "artifactregistry.googleapis.com",     # the functions' container images
    "cloudbuild.googleapis.com",           # builds the functions from source
    "cloudfunctions.googleapis.com",       # Cloud Functions 2nd gen
    "cloudresourcemanager.googleapis.com", # project IAM bindings
    "cloudscheduler.googleapis.com",       # the health ping
    "compute.googleapis.com",              # the front door (load balancer)
    "firestore.googleapis.com",            # chat sessions
    "iam.googleapis.com",                  # service accounts
    "logging.googleapis.com",              # function and build logs
    "run.googleapis.com",                  # the Cloud Run services behind the functions
    "storage.googleapis.com",              # the source bucket
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  project            = var.project
  service            = each.key
  disable_on_destroy = false
}
