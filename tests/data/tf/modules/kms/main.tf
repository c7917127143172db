variable "key_name" {}
variable "admin_arn" {
  default = "arn:aws:iam::111122223333:role/default"
}
variable "rotation" {
  default = true
}

resource "aws_kms_key" "this" {
  description         = var.key_name
  enable_key_rotation = var.rotation
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Admin"
      Effect    = "Allow"
      Principal = { AWS = var.admin_arn }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

output "key_arn" {
  value = aws_kms_key.this.arn
}
