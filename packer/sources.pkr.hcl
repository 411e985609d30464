# The two sources of the golden image. Both run the same provisioners (kubebake.pkr.hcl).
# Select one with -only: `packer build -only=qemu.kubebake …` needs no cloud credentials.

locals {
  # Image name: everything else about the Kubernetes version comes from the bundle.
  image_basename = "${var.image_name}-${var.kubernetes_version}"
  build_stamp    = formatdate("YYYYMMDDhhmmss", timestamp())
  vm_name        = var.vm_name != "" ? var.vm_name : "${local.image_basename}.qcow2"

  # NoCloud seed: user-data + meta-data from packer/cidata (or your own directory) and the build
  # user's public key, which the seed's user-data installs (Packer 1.6.6 cannot template files).
  cidata_dir          = var.cidata_dir != "" ? var.cidata_dir : "${path.root}/cidata"
  ssh_public_key_file = var.ssh_public_key_file != "" ? var.ssh_public_key_file : (var.ssh_private_key_file != "" ? "${var.ssh_private_key_file}.pub" : "")
  cidata_files        = compact(["${local.cidata_dir}/user-data", "${local.cidata_dir}/meta-data", local.ssh_public_key_file])

  # Direct kernel boot for images without a bootloader (debootstrap + mke2fs -d).
  direct_boot_args = var.kernel == "" ? [] : concat(
    [["-kernel", var.kernel]],
    var.initrd == "" ? [] : [["-initrd", var.initrd]],
    [["-append", var.kernel_cmdline]],
  )
  # restrict=on: the guest reaches nothing but its own user-mode network (DHCP, the SSH forward);
  # the forward listens on loopback only.
  qemuargs = concat(
    [
      ["-cpu", var.cpu_model],
      ["-netdev", "user,id=user.0,restrict=on,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    ],
    local.direct_boot_args,
    var.serial_log == "" ? [] : [["-serial", "file:${var.serial_log}"]],
  )

  # The build user must not stay in the golden image: delete it (and the sudoers entry cloud-init
  # wrote for it) as the last thing before powering off.
  qemu_shutdown_command = "sudo sh -c 'userdel -f -r ${var.ssh_username} || true; rm -f /etc/sudoers.d/90-cloud-init-users; systemctl poweroff'"
}

# Local builds from a qcow2 cloud image: KVM when it works, TCG (the default) otherwise.
source "qemu" "kubebake" {
  disk_image       = true
  iso_url          = var.base_image
  iso_checksum     = var.base_image_checksum
  format           = "qcow2"
  disk_size        = var.disk_size
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  accelerator      = var.accelerator
  headless         = true
  memory           = var.memory
  cpus             = var.cpus
  qemuargs         = local.qemuargs
  output_directory = var.output_directory
  vm_name          = local.vm_name

  cd_files = local.cidata_files
  cd_label = "cidata"

  communicator           = "ssh"
  ssh_username           = var.ssh_username
  ssh_private_key_file   = var.ssh_private_key_file
  ssh_timeout            = var.ssh_timeout
  ssh_handshake_attempts = 100

  shutdown_command = local.qemu_shutdown_command
  shutdown_timeout = "5m"
}

# The same image as an AMI, from Debian 12's official AMI.
source "amazon-ebs" "kubebake" {
  region          = var.aws_region
  instance_type   = var.aws_instance_type
  ssh_username    = "admin"
  ami_name        = "${local.image_basename}-${local.build_stamp}"
  ami_description = "Kubernetes ${var.kubernetes_version} node image staged by kubebake"

  source_ami_filter {
    filters = {
      name                = var.aws_source_ami_name
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = [var.aws_source_ami_owner]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_size = var.aws_volume_size
    volume_type = "gp3"
    # Packer 1.6.6 rejects gp3 without explicit throughput and iops: the gp3 baseline.
    throughput            = 125
    iops                  = 3000
    delete_on_termination = true
  }

  tags = {
    Name                  = local.image_basename
    "kubebake.io/version" = var.kubernetes_version
  }
}
