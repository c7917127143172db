variable "account" {}
variable "admins" {
  default = ["arn:aws:iam::111122223333:role/admin"]
}
locals {
  name = "app-${var.env}"
  tags = merge({ team = "sec" }, { env = var.env })
}
variable "env" { default = "prod" }

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "this" {
  description         = "key for ${local.name}"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Root"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Admins"
        Effect    = "Allow"
        Principal = { AWS = var.admins }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "a" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_kms_key" "heredoc" {
  count  = 2
  policy = <<-EOF
    {
      "Version": "2012-10-17",
      "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::${var.account}:root"},
        "Action": "kms:*",
        "Resource": "*"
      }]
    }
  EOF
}

data "aws_iam_policy_document" "doc" {
  statement {
    sid     = "A"
    actions = ["kms:Encrypt"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.app.arn]
    }
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.us-east-1.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "fe" {
  for_each = toset(["a", "b"])
  description = each.key
  policy = data.aws_iam_policy_document.doc.json
}

resource "aws_iam_role" "app" {
  name = "app"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}
resource "aws_iam_role_policy" "p" {
  role = aws_iam_role.app.name
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "kms:Decrypt", Resource = aws_kms_key.this.arn }] })
}
resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
  bucket = "x"
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}
