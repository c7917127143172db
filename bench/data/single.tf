# Benchmark input: one realistic Terraform file declaring a customer managed KMS key for an
# application's data, its key policy (in jsonencode), an alias, and the role that uses the key.

variable "environment" {
  description = "Deployment environment name, used in names and tags."
  type        = string
  default     = "staging"
}

variable "admin_role_name" {
  description = "Name of the IAM role allowed to administer the key."
  type        = string
  default     = "platform-kms-admin"
}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  admin_arn  = "arn:aws:iam::${local.account_id}:role/${var.admin_role_name}"
  tags = {
    Environment = var.environment
    Owner       = "payments-team"
  }
}

resource "aws_kms_key" "payments" {
  description             = "Encrypts payment records for the ${var.environment} environment"
  key_usage               = "ENCRYPT_DECRYPT"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  tags                    = local.tags

  policy = jsonencode({
    Version = "2012-10-17"
    Id      = "payments-key-policy"
    Statement = [
      {
        Sid       = "EnableRootAccountPermissions"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowKeyAdministration"
        Effect    = "Allow"
        Principal = { AWS = local.admin_arn }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
          "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
          "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
        ]
        Resource = "*"
      },
      {
        Sid       = "AllowUseByPaymentsService"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.payments_service.arn }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "kms:ViaService"    = "s3.${data.aws_region.current.name}.amazonaws.com"
            "kms:CallerAccount" = local.account_id
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "payments" {
  name          = "alias/payments-${var.environment}"
  target_key_id = aws_kms_key.payments.key_id
}

resource "aws_iam_role" "payments_service" {
  name = "payments-service-${var.environment}"
  tags = local.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "payments_service_kms" {
  name = "use-payments-key"
  role = aws_iam_role.payments_service.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
      Resource = aws_kms_key.payments.arn
    }]
  })
}
