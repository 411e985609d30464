# Input variables of the kubebake golden-image templates. Written for Packer >= 1.6.6 (HCL2).
# packer/README.md lists them with the source each one applies to.

# --- shared by every source -------------------------------------------------------------------

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes version of the bundle, e.g. v1.36.2. Used only in image names; everything the image gets comes from the bundle."

  validation {
    condition     = length(var.kubernetes_version) > 1 && substr(var.kubernetes_version, 0, 1) == "v"
    error_message = "The kubernetes_version must look like v1.36.2 (it names the image)."
  }
}

variable "bake_binary" {
  type        = string
  description = "Path of the `bake` binary (linux/amd64) to upload into the image."
}

variable "bundle" {
  type        = string
  description = "Path of the offline bundle (`bake bundle create`) to stage into the image."
}

variable "bundle_public_key" {
  type        = string
  default     = ""
  description = "minisign public key the bundle's signature must verify against. Empty: no signature check."
}

variable "bundle_signature" {
  type        = string
  default     = ""
  description = "Signature of the bundle. Empty: BUNDLE.minisig. Uploaded only when bundle_public_key is set."
}

variable "image_name" {
  type        = string
  default     = "kubebake-node"
  description = "Prefix of the image name; the Kubernetes version is appended."
}

# --- qemu source (local builds) ---------------------------------------------------------------

variable "base_image" {
  type        = string
  default     = ""
  description = "qcow2 base cloud image (path or URL) with cloud-init (NoCloud), sshd, sudo and containerd. Required by the qemu source."
}

variable "base_image_checksum" {
  type        = string
  default     = "none"
  description = "Checksum of base_image, e.g. sha256:…, or \"none\"."
}

variable "accelerator" {
  type        = string
  default     = "tcg"
  description = "QEMU accelerator: tcg (works everywhere) or kvm."
}

variable "cpu_model" {
  type        = string
  default     = "max"
  description = "QEMU -cpu model. `max` works with TCG; `host` needs a real KVM."
}

variable "memory" {
  type        = number
  default     = 2048
  description = "Guest memory in MiB."
}

variable "cpus" {
  type        = number
  default     = 2
  description = "Guest CPUs."
}

variable "disk_size" {
  type        = string
  default     = "20G"
  description = "Size the copy of the base image is grown to (never shrunk below the base image)."
}

variable "kernel" {
  type        = string
  default     = ""
  description = "Kernel for direct kernel boot (images without a bootloader). Empty: boot the image's own bootloader."
}

variable "initrd" {
  type        = string
  default     = ""
  description = "Initrd for direct kernel boot; used only with kernel."
}

variable "kernel_cmdline" {
  type        = string
  default     = "root=/dev/vda rw console=ttyS0"
  description = "Kernel command line for direct kernel boot; used only with kernel."
}

variable "serial_log" {
  type        = string
  default     = ""
  description = "File the guest's serial console is written to (boot and cloud-init messages). Empty: none."
}

variable "ssh_username" {
  type        = string
  default     = "packer"
  description = "Build user the NoCloud seed's user-data creates (qemu source; packer/cidata creates `packer`). Deleted before the image is saved."

  validation {
    condition     = var.ssh_username != "root" && var.ssh_username != ""
    error_message = "The ssh_username must be a dedicated build user (it is deleted at the end of the build), not root."
  }
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private SSH key Packer logs in with (qemu source). Required for a qemu build."
}

variable "ssh_public_key_file" {
  type        = string
  default     = ""
  description = "Public half of ssh_private_key_file; put on the NoCloud seed. Empty: ssh_private_key_file + \".pub\"."
}

variable "cidata_dir" {
  type        = string
  default     = ""
  description = "Directory with the user-data and meta-data of the NoCloud seed. Empty: packer/cidata (creates the user `packer` with the key from the seed)."
}

variable "ssh_timeout" {
  type        = string
  default     = "20m"
  description = "How long to wait for SSH (TCG boots take minutes)."
}

variable "output_directory" {
  type        = string
  default     = "output-kubebake"
  description = "Directory the qemu source writes the image into (must not exist)."
}

variable "vm_name" {
  type        = string
  default     = ""
  description = "File name of the image. Empty: IMAGE_NAME-KUBERNETES_VERSION.qcow2."
}

# --- amazon-ebs source (cloud builds) ---------------------------------------------------------

variable "aws_region" {
  type        = string
  default     = "eu-central-1"
  description = "AWS region to build the AMI in."
}

variable "aws_instance_type" {
  type        = string
  default     = "m6i.large"
  description = "Instance type of the build instance."
}

variable "aws_source_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "Name filter of the source AMI (the newest match is used)."
}

variable "aws_source_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "Owner of the source AMI (136693071363: Debian's official images)."
}

variable "aws_volume_size" {
  type        = number
  default     = 20
  description = "Root volume size in GiB."
}
