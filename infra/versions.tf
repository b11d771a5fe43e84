terraform {
  # 1.9+: variable validations may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.20, < 8.0"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.5+: `excludes` takes glob patterns (**/__pycache__).
      version = ">= 2.5, < 3.0"
    }
  }

  # Remote state in a bucket you create once (see README.md), always under one prefix:
  #   terraform init -backend-config="bucket=$PROJECT-tfstate" -backend-config="prefix=vertexchat"
  # The prefix is also the default here, so an init that forgets it still finds the same state
  # that Cloud Build (cloudbuild.yaml, _TF_STATE_PREFIX) applies. A second deployment in the same
  # bucket passes its own prefix.
  backend "gcs" {
    prefix = "vertexchat"
  }
}

provider "google" {
  project = var.project
  region  = var.region
}
