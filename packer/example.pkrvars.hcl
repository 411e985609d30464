# A full example for a local qemu build (see README.md). Run from the repository root:
#   packer build -var-file=packer/example.pkrvars.hcl -only=qemu.kubebake packer/

kubernetes_version = "v1.36.2"
bake_binary        = "target/release/bake"
bundle             = "k8s-v1.36.2.bundle"
bundle_public_key  = "kubebake.pub" # checks k8s-v1.36.2.bundle.minisig

# qemu: a Debian 12 cloud image with containerd, cloud-init, sshd and sudo.
base_image           = "debian-12-containerd.qcow2"
base_image_checksum  = "none"
accelerator          = "tcg" # "kvm" where KVM can run guests
memory               = 4096
cpus                 = 2
disk_size            = "20G"
ssh_private_key_file = "build_ed25519" # build_ed25519.pub goes on the NoCloud seed
output_directory     = "output-kubebake"

# Direct kernel boot, for images without a bootloader (debootstrap + mke2fs -d):
# kernel = "vmlinuz"
# initrd = "initrd.img"
# kernel_cmdline = "root=/dev/vda rw console=ttyS0"

# amazon-ebs (with -only=amazon-ebs.kubebake and AWS credentials in the environment):
aws_region        = "eu-central-1"
aws_instance_type = "m6i.large"
