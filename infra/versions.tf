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

  # Remote state in a bucket you create once (see README.md):
  #   terraform init -backend-config=bucket=BUCKET [-backend-config=prefix=vertexchat]
  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region
}
