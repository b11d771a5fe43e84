# One Cloud Function (2nd gen) per entry point of functions/main.py, all built from the same source.

locals {
  # Entry point -> how it is deployed. `public`: callable by browsers (the code verifies tokens);
  # otherwise only the identities granted below may invoke it.
  functions = {
    chat_completions = {
      enabled       = true
      public        = true
      timeout       = 3600 # a stream lasts as long as Claude writes: the platform's maximum
      concurrency   = var.chat_concurrency
      cpu           = var.chat_cpu
      memory        = var.chat_memory
      min_instances = var.min_instances
    }
    # The Anthropic Messages API (Claude Code, the Anthropic SDKs): streams like chat, sized like it.
    messages = {
      enabled       = true
      public        = true
      timeout       = 3600
      concurrency   = var.chat_concurrency
      cpu           = var.chat_cpu
      memory        = var.chat_memory
      min_instances = 0
    }
    # The Responses API streams like chat: sized like it.
    responses = {
      enabled       = true
      public        = true
      timeout       = 3600
      concurrency   = var.chat_concurrency
      cpu           = var.chat_cpu
      memory        = var.chat_memory
      min_instances = 0
    }
    models = {
      enabled       = true
      public        = true
      timeout       = 60
      concurrency   = var.light_concurrency
      cpu           = var.light_cpu
      memory        = var.light_memory
      min_instances = 0
    }
    sessions = {
      enabled       = true
      public        = true
      timeout       = 60
      concurrency   = var.light_concurrency
      cpu           = var.light_cpu
      memory        = var.light_memory
      min_instances = 0
    }
    health = {
      enabled       = true
      public        = false # invoked by the scheduler's health ping only
      timeout       = 60
      concurrency   = var.light_concurrency
      cpu           = var.light_cpu
      memory        = var.light_memory
      min_instances = 0
    }
    # Every route in one function (optional): sized like chat, since it streams too.
    api = {
      enabled       = var.deploy_single_api
      public        = true
      timeout       = 3600
      concurrency   = var.chat_concurrency
      cpu           = var.chat_cpu
      memory        = var.chat_memory
      min_instances = 0
    }
  }
  deployed_functions = { for name, spec in local.functions : name => spec if spec.enabled }

  # The environment of every function: each variable vertexchat.config reads is either here
  # or in defaulted_env below (tests/test_infra.py checks this against config.ENV_VARS).
  # Empty values are dropped, so the code's default applies.
  runtime_env = {
    GOOGLE_CLOUD_PROJECT        = var.project
    ANTHROPIC_VERTEX_PROJECT_ID = var.project
    CLOUD_ML_REGION             = var.vertex_location
    VERTEX_FALLBACK_REGIONS     = join(",", var.vertex_fallback_locations)
    CORS_ALLOWED_ORIGINS        = join(",", var.cors_allowed_origins)
    AUTH_MODE                   = var.auth_mode
    AUTH_ISSUER                 = var.auth_issuer
    AUTH_AUDIENCE               = var.auth_audience
    AUTH_JWKS_URL               = var.auth_jwks_url
    AUTH_ALLOW_NO_AUDIENCE      = tostring(var.auth_allow_no_audience)
    AUTH_CLIENT_ID              = var.auth_client_id
    AUTH_FIREBASE_PROJECT       = var.auth_firebase_project
    SESSION_TTL_DAYS            = tostring(var.session_ttl_days)
    FIRESTORE_DATABASE          = google_firestore_database.main.name
    LOG_LEVEL                   = var.log_level
  }

  # Read by vertexchat.config but deliberately not set by Terraform: name -> why.
  # Any of the tunables can still be set through var.extra_env.
  defaulted_env = {
    K_SERVICE                           = "Set by Cloud Run itself; it tells the code it runs deployed."
    PORT                                = "Set by Cloud Run itself."
    VERTEXCHAT_SIMULATOR                = "Local emulation only; must never be set in a deployment (the code refuses it under K_SERVICE)."
    FIRESTORE_EMULATOR_HOST             = "Local emulation only; must never be set in a deployment (the code refuses it under K_SERVICE)."
    IMAGE_FETCH_ALLOW_HOSTS             = "Tests only; must never be set in a deployment (the code refuses it under K_SERVICE)."
    VERTEX_ENDPOINT                     = "Derived from CLOUD_ML_REGION; set it through extra_env only for a private endpoint."
    DEFAULT_MAX_TOKENS                  = "The code's default suits every Claude model; clients usually send max_tokens."
    PROMPT_CACHING                      = "auto (the default) caches every conversation; set it through extra_env to turn it off."
    PROMPT_CACHE_TTL                    = "5m (the default) is the cheapest write; set 1h through extra_env for slow-paced clients."
    STREAM_HEARTBEAT_SECONDS            = "The default keeps idle streams alive through the load balancer and browsers."
    UPSTREAM_CONNECT_TIMEOUT_SECONDS    = "The default fits Vertex AI from Cloud Run."
    UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS = "The default allows for long prompts before Claude's first event."
    UPSTREAM_IDLE_TIMEOUT_SECONDS       = "The default allows for long thinking pauses; heartbeats keep the client connected."
    UPSTREAM_TOTAL_TIMEOUT_SECONDS      = "The default (3540 s) stays below the chat function's 3600 s timeout."
    UPSTREAM_DEADLINE_SECONDS           = "The default retry budget before the first byte is short enough for interactive use."
    UPSTREAM_MAX_ATTEMPTS               = "The default covers the primary location and the fallbacks of a typical setup."
    BREAKER_FAILURES                    = "Circuit breaker tuning; the defaults suit Vertex AI's quota errors."
    BREAKER_WINDOW_SECONDS              = "Circuit breaker tuning; the defaults suit Vertex AI's quota errors."
    BREAKER_COOLDOWN_SECONDS            = "Circuit breaker tuning; the defaults suit Vertex AI's quota errors."
    VERTEX_MODELS                       = "Every Claude model Model Garden lists; set through extra_env to restrict the models offered."
    MODEL_ALIASES                       = "No extra aliases; set through extra_env to add your own."
    MODELS_CACHE_SECONDS                = "The default reuses the Model Garden listing for minutes, not per request."
    MAX_REQUEST_BYTES                   = "The default is below the platform's 32 MiB request limit."
    MAX_IMAGE_BYTES                     = "The default is Claude's own image size limit."
    IMAGE_FETCH_TIMEOUT_SECONDS         = "The default bounds each step of fetching an image URL."
    FIRESTORE_TIMEOUT_SECONDS           = "The default bounds each Firestore call well inside the light functions' 60 s timeout."
    HEALTH_CACHE_SECONDS                = "The default spares Vertex AI and Firestore a probe on every health request."
    HEALTH_MODEL                        = "The default model family's count-tokens is the cheapest reachability probe; override through extra_env."
    LOG_CONTENT                         = "Off: prompts and completions are never logged in a deployment."
  }
}

resource "google_cloudfunctions2_function" "fn" {
  for_each = local.deployed_functions

  project     = var.project
  location    = var.region
  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description = "vertexchat: entry point ${each.key} of functions/main.py"

  build_config {
    runtime           = var.python_runtime
    entry_point       = each.key
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
    timeout_seconds                  = each.value.timeout
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = var.max_instances
    # Health stays reachable for Cloud Scheduler; IAM alone guards it.
    ingress_settings               = each.value.public ? var.function_ingress : "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    # gunicorn serves each request on a thread and an open stream holds its thread, so
    # THREADS must be at least the concurrency Cloud Run sends to one instance.
    environment_variables = merge(
      { for name, value in local.runtime_env : name => value if value != "" },
      var.extra_env,
      { THREADS = tostring(each.value.concurrency) },
    )
  }

  lifecycle {
    # Fail at plan time, not minutes into a build, when main.py lacks the entry point.
    precondition {
      condition     = can(regex("(?m)^def ${each.key}\\(", file("${path.module}/../functions/main.py")))
      error_message = "functions/main.py has no entry point ${each.key}; deploy_single_api or the function list in infra/functions.tf is out of step with the code."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_project_iam_member.runtime,
    google_artifact_registry_repository_iam_member.builder,
  ]
}

locals {
  # Cloud Run service behind each function (the API reports a full resource name).
  run_services  = { for name, fn in google_cloudfunctions2_function.fn : name => basename(fn.service_config[0].service) }
  function_urls = { for name, fn in google_cloudfunctions2_function.fn : name => fn.service_config[0].uri }
}

# Browser-facing functions are public at the IAM layer: a browser's CORS preflight carries no
# token, so an IAM-protected function would reject it before our code could answer. The code
# verifies the caller's token on every other request.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, spec in local.deployed_functions : name => spec if spec.public }

  project  = var.project
  location = var.region
  name     = local.run_services[each.key]
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Health is private: only the scheduler's service account may invoke it.
resource "google_cloud_run_v2_service_iam_member" "health_invoker" {
  project  = var.project
  location = var.region
  name     = local.run_services["health"]
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}
