# The health ping: every 5 minutes Cloud Scheduler calls the private health function with an
# OIDC token of its own service account. A failing check shows up in the job's logs and in
# the function's error rate.

locals {
  health_url = google_cloudfunctions2_function.fn["health"].service_config[0].uri
}

resource "google_cloud_scheduler_job" "health" {
  project          = var.project
  region           = var.region
  name             = "${var.name_prefix}-health"
  description      = "Pings the vertexchat health function."
  schedule         = "*/5 * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    # The next ping is 5 minutes away; a retry would only blur the signal.
    retry_count = 0
  }

  http_target {
    http_method = "GET"
    uri         = local.health_url

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.health_url
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.health_invoker]
}
