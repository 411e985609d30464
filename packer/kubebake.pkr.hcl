# The golden-image build: upload `bake` and the bundle, stage the bundle (binaries, configuration,
# container images imported into containerd), check and fix the node, remove what was uploaded.
# The same steps run on every source (sources.pkr.hcl).

locals {
  upload_dir = "/tmp/kubebake"
  # The signature is checked only when a public key is given; bake expects it at BUNDLE.minisig.
  bundle_signature = var.bundle_public_key == "" ? "" : (var.bundle_signature != "" ? var.bundle_signature : "${var.bundle}.minisig")
  # Paths of the uploads inside the machine.
  remote_bundle     = "${local.upload_dir}/${basename(var.bundle)}"
  remote_public_key = var.bundle_public_key == "" ? "" : "${local.upload_dir}/${basename(var.bundle_public_key)}"
  remote_signature  = local.bundle_signature == "" ? "" : "${local.upload_dir}/${basename(local.bundle_signature)}"
}

build {
  sources = ["source.qemu.kubebake", "source.amazon-ebs.kubebake"]

  # A private upload directory (the build user owns it; nobody else can read the bundle).
  provisioner "shell" {
    inline = [
      "set -eu",
      "rm -rf ${local.upload_dir}",
      "install -d -m 0700 ${local.upload_dir}",
    ]
  }

  provisioner "file" {
    source      = var.bake_binary
    destination = "${local.upload_dir}/bake"
  }

  # The bundle, and its signature and the public key when a key is set.
  provisioner "file" {
    sources     = compact([var.bundle, local.bundle_signature, var.bundle_public_key])
    destination = "${local.upload_dir}/"
  }

  provisioner "shell" {
    environment_vars = [
      "BUNDLE=${local.remote_bundle}",
      "PUBLIC_KEY=${local.remote_public_key}",
      "SIGNATURE=${local.remote_signature}",
    ]
    inline = [
      "set -eu",
      "sudo install -m 0755 ${local.upload_dir}/bake /usr/local/sbin/bake",
      # bake finds the signature at BUNDLE.minisig.
      "if [ -n \"$SIGNATURE\" ] && [ \"$SIGNATURE\" != \"$BUNDLE.minisig\" ]; then mv \"$SIGNATURE\" \"$BUNDLE.minisig\"; fi",
      # Images are imported into containerd: it must be installed and running.
      "if ! command -v containerd >/dev/null 2>&1; then sudo DEBIAN_FRONTEND=noninteractive apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd; fi",
      "sudo systemctl is-active --quiet containerd || sudo systemctl enable --now containerd",
      "if [ -n \"$PUBLIC_KEY\" ]; then sudo bake stage \"$BUNDLE\" --root / --import-images --public-key \"$PUBLIC_KEY\"; else sudo bake stage \"$BUNDLE\" --root / --import-images; fi",
      "sudo bake check --root / --fix",
      # containerd's own view of the imported images (name, digest, pinned label) in the build log.
      "sudo ctr -n k8s.io images ls",
    ]
  }

  # Nothing uploaded stays in the image (bake stage copied what the node needs), and the next boot
  # is a first boot for cloud-init.
  provisioner "shell" {
    inline = [
      "set -eu",
      "sudo rm -rf ${local.upload_dir}",
      "test ! -e ${local.upload_dir}",
      "if command -v cloud-init >/dev/null 2>&1; then sudo cloud-init clean --logs; fi",
    ]
  }

  # AMIs: drop the temporary key Packer logged in with (cloud-init installs the instance's key).
  provisioner "shell" {
    only   = ["amazon-ebs.kubebake"]
    inline = ["rm -f ~/.ssh/authorized_keys"]
  }
}
