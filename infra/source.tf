# The functions' source: functions/ (with its generated requirements.txt) zipped and uploaded
# under a name that carries the zip's hash, so any change to the code redeploys every function
# and an unchanged tree deploys nothing.

data "archive_file" "source" {
  type             = "zip"
  source_dir       = "${path.module}/../functions"
  output_path      = "${path.module}/.build/functions-source.zip"
  output_file_mode = "0644" # the same bytes, hence the same hash, on every machine
  excludes = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.mypy_cache",
    "**/.pytest_cache",
  ]
}

resource "google_storage_bucket" "source" {
  project                     = var.project
  name                        = "${var.project}-${var.name_prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Holds only build inputs, reproducible from git.
  force_destroy = true

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "functions-${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

# Images built from the source. Old ones are pruned, recent ones kept for Cloud Run rollbacks.
resource "google_artifact_registry_repository" "functions" {
  project                = var.project
  location               = var.region
  repository_id          = "${var.name_prefix}-functions"
  description            = "Container images of the vertexchat functions."
  format                 = "DOCKER"
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-after-30-days"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  cleanup_policies {
    id     = "keep-10-most-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_artifact_registry_repository_iam_member" "builder" {
  project    = var.project
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.builder.email}"
}
