module "kms" {
  source      = "../kms"
  for_each    = toset(["a", "b"])
  key_name    = each.key
  admin_arn   = var.admin_arn
}

module "remote" {
  source = "terraform-aws-modules/kms/aws"
}

resource "aws_kms_alias" "remote" {
  name          = "alias/remote"
  target_key_id = module.remote.key_id
}

output "arn" {
  value = module.kms["a"].key_arn
}

resource "aws_sns_topic" "t" {
  name              = "t"
  kms_master_key_id = module.kms["a"].key_arn
}
