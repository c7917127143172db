variable "admin_arn" {
  type = string
}
