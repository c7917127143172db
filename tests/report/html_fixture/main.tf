# A small world for the HTML report tests: an open key used by two resources, a key shared with
# the organisation through S3 only, and a key with a grant. Expected text is derived in the tests
# from what is written here.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "open" {
  description         = "data key, opened to everyone by mistake"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Admin"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Everyone"
        Effect    = "Allow"
        Principal = "*"
        Action    = "kms:Decrypt"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_s3_bucket" "data" {
  bucket = "example-data"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.open.arn
    }
  }
}

resource "aws_sqs_queue" "jobs" {
  name              = "jobs"
  kms_master_key_id = aws_kms_key.open.arn
}

resource "aws_kms_key" "org_s3" {
  description         = "organisation, through S3 only"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Admin"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "OrgThroughS3"
        Effect    = "Allow"
        Principal = "*"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "aws:PrincipalOrgID" = "o-a1b2c3d4e5"
            "kms:ViaService"     = "s3.us-east-1.amazonaws.com"
          }
        }
      },
    ]
  })
}

resource "aws_kms_key" "unrotated" {
  description = "no rotation"
}

resource "aws_kms_grant" "worker" {
  name              = "worker"
  key_id            = aws_kms_key.unrotated.key_id
  grantee_principal = "arn:aws:iam::111122223333:role/worker"
  operations        = ["Encrypt", "Decrypt"]
}
