# Chat sessions live in Firestore (native mode), laid out as functions/vertexchat/sessions.py
# describes: sessions/{id} with messages/{seq} and chunks/{n} subcollections, plus the
# idempotency/{key} records of retried requests.
#
# Indexes, TTL policies and index exemptions are declared once, in firestore.indexes.json (the
# Firebase CLI's format, kept next to the code's queries); Terraform applies that file as is.
# The emulator enforces none of it, so tests/test_infra.py checks it against the code.

locals {
  firestore_location = coalesce(var.firestore_location, var.region)
  firestore_spec     = jsondecode(file("${path.module}/firestore.indexes.json"))

  # "sessions(owner ASCENDING, updated_at DESCENDING)" -> the index.
  composite_indexes = {
    for index in local.firestore_spec.indexes :
    "${index.collectionGroup}(${join(", ", [for f in index.fields : "${f.fieldPath} ${try(f.order, f.arrayConfig)}"])})" => index
  }

  # "messages.expire_at" -> its TTL policy and single-field indexes (null: inherited; []: none).
  field_overrides = {
    for o in local.firestore_spec.fieldOverrides : "${o.collectionGroup}.${o.fieldPath}" => {
      collection = o.collectionGroup
      field      = o.fieldPath
      ttl        = try(o.ttl, false)
      indexes    = try(o.indexes, null)
    }
  }
}

resource "google_firestore_database" "main" {
  project     = var.project
  name        = var.firestore_database
  location_id = local.firestore_location
  type        = "FIRESTORE_NATIVE"
  # `terraform destroy` forgets the database instead of deleting everyone's sessions.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  project     = var.project
  database    = google_firestore_database.main.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

# One resource per field: a field's TTL policy and its index settings are one configuration.
resource "google_firestore_field" "override" {
  for_each = local.field_overrides

  project    = var.project
  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  # Firestore deletes the document once this timestamp passes (lazily, within about a day).
  dynamic "ttl_config" {
    for_each = each.value.ttl ? [true] : []
    content {}
  }

  # An empty index_config removes every single-field index of the field.
  dynamic "index_config" {
    for_each = each.value.indexes == null ? [] : [each.value.indexes]
    content {
      dynamic "indexes" {
        for_each = index_config.value
        content {
          order        = try(indexes.value.order, null)
          array_config = try(indexes.value.arrayConfig, null)
          query_scope  = try(indexes.value.queryScope, null)
        }
      }
    }
  }
}
