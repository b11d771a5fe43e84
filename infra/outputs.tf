output "base_url" {
  description = "The one base URL for the frontend (append /v1 for an OpenAI client's base_url)."
  value = (
    local.https ? "https://${var.domain}" :
    local.front_door ? "http://${google_compute_global_address.front_door[0].address}" :
    var.deploy_single_api ? local.function_urls["api"] : null
  )
}

output "front_door_ip" {
  description = "IP address of the load balancer: point the domain's A record here."
  value       = local.front_door ? google_compute_global_address.front_door[0].address : null
}

output "function_urls" {
  description = "Each function's own URL (its root path is its primary route)."
  value       = local.function_urls
}

output "service_accounts" {
  description = "The service accounts this deployment created."
  value = {
    runtime   = google_service_account.runtime.email
    builder   = google_service_account.builder.email
    scheduler = google_service_account.scheduler.email
  }
}

output "source_object" {
  description = "The deployed source archive (its name carries the content hash)."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}
