# Stub values for `packer validate` (CI: tests/tests/packer_validate.rs). Run from the repository
# root: packer validate -var-file=packer/stub.pkrvars.hcl packer/
# The files exist (placeholders in packer/testdata); nothing can be built from them.
kubernetes_version = "v1.36.2"
bake_binary        = "packer/testdata/bake"
bundle             = "packer/testdata/k8s-v1.36.2.bundle"
bundle_public_key  = "packer/testdata/kubebake.pub"
base_image         = "packer/testdata/base.qcow2"
