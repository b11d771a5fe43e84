# Every setting of a deployment. Only `project` is required; terraform.tfvars.example shows the rest.

variable "project" {
  description = "Id of the Google Cloud project to deploy into (billing enabled, Claude enabled in Model Garden)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a project id (6-30 lowercase letters, digits and hyphens), not its name or number."
  }
}

variable "region" {
  description = "Region of the functions, the source bucket, the image repository, the scheduler job and (by default) Firestore."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Cloud Run region such as us-central1 or europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, so several deployments (prod, staging) can share a project."
  type        = string
  default     = "vertexchat"

  validation {
    # Service account ids are at most 30 characters; the longest suffix is "-scheduler".
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "vertex_location" {
  description = "Vertex AI location that serves Claude (CLOUD_ML_REGION): global, us, eu or a region such as us-east5."
  type        = string
  default     = "global"

  validation {
    condition     = can(regex("^(global|us|eu|[a-z]+-[a-z]+[0-9]+)$", var.vertex_location))
    error_message = "vertex_location must be global, us, eu or a region such as us-east5."
  }
}

variable "vertex_fallback_locations" {
  description = "Vertex AI locations tried in order when the primary one answers 429 or 5xx (VERTEX_FALLBACK_REGIONS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for location in var.vertex_fallback_locations : can(regex("^(global|us|eu|[a-z]+-[a-z]+[0-9]+)$", location))])
    error_message = "Each fallback location must be global, us, eu or a region such as europe-west1."
  }

  validation {
    condition     = !contains(var.vertex_fallback_locations, var.vertex_location)
    error_message = "vertex_fallback_locations must not repeat vertex_location."
  }
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to call the API (CORS_ALLOWED_ORIGINS): exact origins or https://*.domain patterns. Empty: no browser origin."
  type        = list(string)
  default     = []

  validation {
    # An origin is scheme://host[:port]: no path, no trailing slash; "*." may open a subdomain level.
    condition     = alltrue([for origin in var.cors_allowed_origins : can(regex("^https?://(\\*\\.)?[A-Za-z0-9.-]+(:[0-9]+)?$", origin))])
    error_message = "Each origin must look like https://host[:port] or https://*.domain (no path, no trailing slash)."
  }
}

variable "auth_mode" {
  description = "How the functions verify callers' bearer tokens (AUTH_MODE): firebase (Firebase Authentication ID tokens) or oidc (any OIDC provider: set auth_issuer and auth_audience)."
  type        = string
  default     = "firebase"

  validation {
    # "none" exists for local emulation only; the code refuses it when deployed.
    condition     = contains(["firebase", "oidc"], var.auth_mode)
    error_message = "auth_mode must be firebase or oidc."
  }
}

variable "auth_issuer" {
  description = "Expected `iss` of caller tokens (AUTH_ISSUER), an https URL. Empty keeps the code's default."
  type        = string
  default     = ""

  validation {
    condition     = var.auth_issuer == "" || can(regex("^https://", var.auth_issuer))
    error_message = "auth_issuer must be an https URL, or empty."
  }

  validation {
    condition     = var.auth_mode != "oidc" || var.auth_issuer != ""
    error_message = "auth_mode = \"oidc\" needs auth_issuer."
  }
}

variable "auth_audience" {
  description = "Expected `aud` of caller tokens (AUTH_AUDIENCE), e.g. your OAuth client id. Empty keeps the code's default."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("\\s", var.auth_audience))
    error_message = "auth_audience must not contain whitespace."
  }

  validation {
    condition     = var.auth_mode != "oidc" || var.auth_audience != "" || var.auth_allow_no_audience
    error_message = "auth_mode = \"oidc\" needs auth_audience (or, for an issuer whose tokens carry no aud, auth_allow_no_audience = true with auth_client_id)."
  }
}

variable "auth_allow_no_audience" {
  description = "auth_mode oidc: also accept tokens of auth_issuer that carry no `aud` (AUTH_ALLOW_NO_AUDIENCE), e.g. WorkOS AuthKit access tokens. Needs auth_client_id; the issuer is still checked and a token with an `aud` must still match auth_audience."
  type        = bool
  default     = false

  validation {
    condition     = !var.auth_allow_no_audience || var.auth_mode == "oidc"
    error_message = "auth_allow_no_audience applies to auth_mode = \"oidc\" only."
  }
}

variable "auth_client_id" {
  description = "auth_mode oidc: your application's client id at the issuer (AUTH_CLIENT_ID); a token's client_id or azp claim, when present, must equal it. Required with auth_allow_no_audience."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("\\s", var.auth_client_id))
    error_message = "auth_client_id must not contain whitespace."
  }

  validation {
    condition     = !var.auth_allow_no_audience || var.auth_client_id != ""
    error_message = "auth_allow_no_audience = true needs auth_client_id."
  }
}

variable "auth_jwks_url" {
  description = "URL of the issuer's signing keys (AUTH_JWKS_URL), an https URL. Empty keeps the code's default (discovery from the issuer)."
  type        = string
  default     = ""

  validation {
    condition     = var.auth_jwks_url == "" || can(regex("^https://", var.auth_jwks_url))
    error_message = "auth_jwks_url must be an https URL, or empty."
  }
}

variable "auth_firebase_project" {
  description = "auth_mode firebase: the Firebase project whose ID tokens are accepted (AUTH_FIREBASE_PROJECT). Empty: this project."
  type        = string
  default     = ""

  validation {
    condition     = var.auth_firebase_project == "" || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.auth_firebase_project))
    error_message = "auth_firebase_project must be a project id, or empty."
  }
}

variable "session_ttl_days" {
  description = "Days a chat session is kept after its last activity (SESSION_TTL_DAYS; 0 keeps it forever); Firestore TTL then deletes it."
  type        = number
  default     = 30

  validation {
    condition     = var.session_ttl_days >= 0 && var.session_ttl_days <= 36500 && floor(var.session_ttl_days) == var.session_ttl_days
    error_message = "session_ttl_days must be a whole number of days from 0 (forever) to 36500."
  }
}

variable "log_level" {
  description = "Lowest severity the functions log (LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "extra_env" {
  description = "More environment variables for every function, e.g. settings left to their defaults (see locals.defaulted_env). Wins over Terraform's own values."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.extra_env), ["K_SERVICE", "PORT", "VERTEXCHAT_SIMULATOR", "FIRESTORE_EMULATOR_HOST", "IMAGE_FETCH_ALLOW_HOSTS", "THREADS"])) == 0
    error_message = "extra_env must not set K_SERVICE or PORT (the platform's), VERTEXCHAT_SIMULATOR, FIRESTORE_EMULATOR_HOST or IMAGE_FETCH_ALLOW_HOSTS (local and test only), or THREADS (derived from concurrency)."
  }
}

variable "python_runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python312"

  validation {
    condition     = contains(["python312", "python313"], var.python_runtime)
    error_message = "python_runtime must be python312 or python313 (pyproject.toml allows Python 3.11-3.13)."
  }
}

variable "min_instances" {
  description = "Instances of the chat function kept warm (billed while idle). The other functions always scale to zero."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 100 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number from 0 to 100."
  }
}

variable "max_instances" {
  description = "Upper bound of instances per function: caps cost and the load on Vertex AI quotas."
  type        = number
  default     = 20

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000 && floor(var.max_instances) == var.max_instances && var.max_instances >= var.min_instances
    error_message = "max_instances must be a whole number from 1 to 1000 and at least min_instances."
  }
}

variable "chat_memory" {
  description = "Memory of the chat function (and of `api`)."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.chat_memory))
    error_message = "chat_memory must be a quantity such as 512Mi or 1Gi."
  }

  # Cloud Run's memory range for the CPU (cloud_run_sizes.tf). A malformed value is left to the rules above.
  validation {
    condition     = try(tonumber(regex("^[0-9]+", var.chat_memory)) * (endswith(var.chat_memory, "Gi") ? 1024 : 1) <= max([for s in local.cloud_run_sizes : s.max_mib if tonumber(var.chat_cpu) >= s.cpu]...), true)
    error_message = "chat_memory = \"${var.chat_memory}\" is more than Cloud Run allows with chat_cpu = \"${var.chat_cpu}\": at most 512Mi below 0.5 vCPU, 1Gi below 1, 4Gi at 1, 8Gi at 2, 16Gi at 4, 24Gi at 6, 32Gi at 8."
  }

  validation {
    condition     = try(tonumber(regex("^[0-9]+", var.chat_memory)) * (endswith(var.chat_memory, "Gi") ? 1024 : 1) >= max([for s in local.cloud_run_sizes : s.min_mib if tonumber(var.chat_cpu) >= s.cpu]...), true)
    error_message = "chat_memory = \"${var.chat_memory}\" is less than Cloud Run allows with chat_cpu = \"${var.chat_cpu}\": at least 128Mi, 2Gi at 4 vCPU, 4Gi at 6 or 8."
  }
}

variable "chat_cpu" {
  description = "vCPUs of the chat function (and of `api`). At least 1: concurrency above 1 requires it."
  type        = string
  default     = "1"

  # Cloud Run takes whole vCPUs from 1 up (1, 2, 4, 6, 8); concurrency above 1 needs at least 1.
  validation {
    condition     = try(can(regex(local.cloud_run_cpu_pattern, var.chat_cpu)) && tonumber(var.chat_cpu) >= 1, false)
    error_message = "chat_cpu must be 1, 2, 4, 6 or 8 vCPUs (Cloud Run takes no fractions above 1, and chat's concurrency needs at least 1)."
  }
}

variable "chat_concurrency" {
  description = "Concurrent requests (open streams) per chat instance; THREADS is set to match, since each stream holds a thread."
  type        = number
  default     = 80

  validation {
    condition     = var.chat_concurrency >= 2 && var.chat_concurrency <= 1000 && floor(var.chat_concurrency) == var.chat_concurrency
    error_message = "chat_concurrency must be a whole number from 2 to 1000."
  }
}

variable "light_memory" {
  description = "Memory of the light functions (models, sessions, health)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.light_memory))
    error_message = "light_memory must be a quantity such as 256Mi or 512Mi."
  }

  # Cloud Run's memory range for the CPU (cloud_run_sizes.tf). A malformed value is left to the rules above.
  validation {
    condition     = try(tonumber(regex("^[0-9]+", var.light_memory)) * (endswith(var.light_memory, "Gi") ? 1024 : 1) <= max([for s in local.cloud_run_sizes : s.max_mib if tonumber(var.light_cpu) >= s.cpu]...), true)
    error_message = "light_memory = \"${var.light_memory}\" is more than Cloud Run allows with light_cpu = \"${var.light_cpu}\": at most 512Mi below 0.5 vCPU, 1Gi below 1, 4Gi at 1, 8Gi at 2, 16Gi at 4, 24Gi at 6, 32Gi at 8."
  }

  validation {
    condition     = try(tonumber(regex("^[0-9]+", var.light_memory)) * (endswith(var.light_memory, "Gi") ? 1024 : 1) >= max([for s in local.cloud_run_sizes : s.min_mib if tonumber(var.light_cpu) >= s.cpu]...), true)
    error_message = "light_memory = \"${var.light_memory}\" is less than Cloud Run allows with light_cpu = \"${var.light_cpu}\": at least 128Mi, 2Gi at 4 vCPU, 4Gi at 6 or 8."
  }
}

variable "light_cpu" {
  description = "vCPUs of the light functions. Below 1, their concurrency must stay 1 (a platform rule)."
  type        = string
  default     = "0.333"

  # Cloud Run: 0.08 to 0.999 vCPU in steps of 0.001, else 1, 2, 4, 6 or 8.
  validation {
    condition     = try(can(regex(local.cloud_run_cpu_pattern, var.light_cpu)) && tonumber(var.light_cpu) >= local.cloud_run_min_cpu, false)
    error_message = "light_cpu must be 0.08 to 0.999 vCPU (at most three decimals, e.g. 0.167 or 0.333), or 1, 2, 4, 6 or 8."
  }
}

variable "light_concurrency" {
  description = "Concurrent requests per light-function instance."
  type        = number
  default     = 1

  validation {
    condition     = var.light_concurrency >= 1 && var.light_concurrency <= 1000 && floor(var.light_concurrency) == var.light_concurrency
    error_message = "light_concurrency must be a whole number from 1 to 1000."
  }

  validation {
    condition     = var.light_concurrency == 1 || try(tonumber(var.light_cpu) >= 1, false)
    error_message = "light_concurrency above 1 needs light_cpu of at least 1."
  }
}

variable "function_ingress" {
  description = "Who may reach the public functions' own URLs. ALLOW_INTERNAL_AND_GCLB leaves the front door as the only way in (health stays reachable for the scheduler, guarded by IAM)."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB"], var.function_ingress)
    error_message = "function_ingress must be ALLOW_ALL or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "firestore_database" {
  description = "Firestore database holding the sessions (FIRESTORE_DATABASE): \"(default)\", or a named one, e.g. when (default) is taken or several deployments share the project."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "firestore_database must be (default) or 4-63 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore database (e.g. nam5, eur3, us-central1). Empty: the region. Fixed once created."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z0-9-]+)?$", var.firestore_location))
    error_message = "firestore_location must be a Firestore location id such as nam5 or us-central1, or empty."
  }
}

variable "enable_front_door" {
  description = "Create the external HTTPS load balancer that gives one base URL for every route (about $18/month while idle)."
  type        = bool
  default     = true
}

variable "domain" {
  description = "Domain name of the front door (e.g. api.example.com) for a Google-managed certificate. Empty: plain HTTP on the load balancer's IP."
  type        = string
  default     = ""

  validation {
    condition     = var.domain == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase host name such as api.example.com (no scheme, no path), or empty."
  }
}

variable "deploy_single_api" {
  description = "Also deploy `api`, every route in one public function: a single base URL without the load balancer, and the front door's catch-all."
  type        = bool
  default     = false
}
