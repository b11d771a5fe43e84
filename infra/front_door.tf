# The front door: one external Application Load Balancer, one base URL, the paths kept as they
# are and each sent to the function that serves it (serverless NEGs; responses stream, so SSE
# works). With `domain` set: HTTPS with a Google-managed certificate, and port 80 redirects to
# it. Without: plain HTTP on the load balancer's IP, for trying things out only.

locals {
  front_door = var.enable_front_door
  https      = var.enable_front_door && var.domain != ""

  # Path rules: exact paths, or prefixes ending in "/*" (the URL map's own syntax). Every route
  # of functions/vertexchat/handlers.py must land on a function that serves it
  # (tests/test_infra.py checks this against handlers.ROUTES).
  front_door_paths = {
    chat_completions = ["/v1/chat/completions"]
    messages         = ["/v1/messages", "/v1/messages/*"]
    responses        = ["/v1/responses", "/v1/responses/*"]
    models           = ["/v1/models", "/v1/models/*", "/openapi.json"]
    sessions         = ["/v1/sessions", "/v1/sessions/*", "/atoms/chat/sessions", "/atoms/chat/sessions/*"]
    health           = ["/health"]
  }

  # Any other path: the `api` function when deployed (it also answers the /v1 index), else the
  # chat function, whose router answers unknown paths with an OpenAI-shaped 404.
  front_door_default = var.deploy_single_api ? "api" : "chat_completions"

  front_door_services = { for name, service in local.run_services : name => service if local.front_door }
}

resource "google_compute_region_network_endpoint_group" "fn" {
  for_each = local.front_door_services

  project               = var.project
  region                = var.region
  name                  = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = each.value
  }
}

# No health check and no timeout here: serverless backends take neither; each function's own
# timeout applies (3600 s for chat).
resource "google_compute_backend_service" "fn" {
  for_each = google_compute_region_network_endpoint_group.fn

  project               = var.project
  name                  = each.value.name
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = each.value.id
  }
}

resource "google_compute_url_map" "front_door" {
  count = local.front_door ? 1 : 0

  project         = var.project
  name            = "${var.name_prefix}-front-door"
  default_service = google_compute_backend_service.fn[local.front_door_default].id

  host_rule {
    hosts        = ["*"]
    path_matcher = "routes"
  }

  path_matcher {
    name            = "routes"
    default_service = google_compute_backend_service.fn[local.front_door_default].id

    dynamic "path_rule" {
      for_each = local.front_door_paths
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.fn[path_rule.key].id
      }
    }
  }
}

resource "google_compute_global_address" "front_door" {
  count = local.front_door ? 1 : 0

  project    = var.project
  name       = "${var.name_prefix}-front-door"
  depends_on = [google_project_service.enabled]
}

resource "google_compute_managed_ssl_certificate" "front_door" {
  count = local.https ? 1 : 0

  project = var.project
  # Named after a hash of the domain: a new domain gets a new certificate before the old one goes.
  name = "${var.name_prefix}-cert-${substr(sha1(var.domain), 0, 8)}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }

  # It names no other resource, so nothing else would make it wait for the Compute API.
  depends_on = [google_project_service.enabled]
}

resource "google_compute_ssl_policy" "front_door" {
  count = local.https ? 1 : 0

  project         = var.project
  name            = "${var.name_prefix}-tls12"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_target_https_proxy" "front_door" {
  count = local.https ? 1 : 0

  project          = var.project
  name             = "${var.name_prefix}-https"
  url_map          = google_compute_url_map.front_door[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.front_door[0].id]
  ssl_policy       = google_compute_ssl_policy.front_door[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.https ? 1 : 0

  project               = var.project
  name                  = "${var.name_prefix}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.front_door[0].address
  port_range            = "443"
  target                = google_compute_target_https_proxy.front_door[0].id
}

# Port 80 with a domain: a redirect to HTTPS that keeps the method (308).
resource "google_compute_url_map" "https_redirect" {
  count = local.https ? 1 : 0

  project = var.project
  name    = "${var.name_prefix}-https-redirect"

  default_url_redirect {
    https_redirect         = true
    strip_query            = false
    redirect_response_code = "PERMANENT_REDIRECT"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_compute_target_http_proxy" "front_door" {
  count = local.front_door ? 1 : 0

  project = var.project
  name    = "${var.name_prefix}-http"
  url_map = local.https ? google_compute_url_map.https_redirect[0].id : google_compute_url_map.front_door[0].id
}

resource "google_compute_global_forwarding_rule" "http" {
  count = local.front_door ? 1 : 0

  project               = var.project
  name                  = "${var.name_prefix}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.front_door[0].address
  port_range            = "80"
  target                = google_compute_target_http_proxy.front_door[0].id
}
