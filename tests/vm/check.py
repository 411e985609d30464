#!/usr/bin/env python3
"""Assertions of the VM end-to-end test (tests/vm/run.sh) over files read out of stopped VM disks.

Every subcommand gets directories holding parts of a disk's file system (extracted with debugfs
`rdump`, modes and links kept) and exits non-zero with every failed expectation listed.

  check.py golden ROOT PACKER_LOG VERSION
  check.py boot ROOT VERSION MODES_FILE
  check.py interrupted ROOT
  check.py resume FIRST_ROOT SECOND_ROOT REFERENCE_ROOT
  check.py upgrade ROOT NEXT_VERSION
"""

import json
import os
import re
import stat
import sys

FAILURES = []

# kubeadm's init phases that only touch the node (no API server needed), in order.
NODE_LOCAL = ["preflight", "certs", "kubeconfig", "etcd", "control-plane", "kubelet-start"]
# Files of those phases that are not in kubeadm's /etc/kubernetes listing, with their modes.
KUBELET_FILES = {
    "/var/lib/kubelet/config.yaml": 0o644,
    "/var/lib/kubelet/kubeadm-flags.env": 0o644,
    "/var/lib/kubelet/instance-config.yaml": 0o644,
}
STATUS = "/var/lib/kubebake/firstboot/status.json"
FAILED_MARKER = "/var/lib/kubebake/firstboot/failed"
REPORT = "/var/lib/kubebake-vmtest"
STANDIN_LOG = "/var/log/kubebake-standin-kubelet.log"


def expect(cond, what):
    if not cond:
        FAILURES.append(what)
    return cond


def p(root, path):
    return os.path.join(root, path.lstrip("/"))


def read(root, path):
    try:
        with open(p(root, path), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        FAILURES.append(f"{path}: cannot read ({e.strerror})")
        return ""


def load_json(root, path):
    text = read(root, path)
    try:
        return json.loads(text) if text else {}
    except ValueError as e:
        FAILURES.append(f"{path}: invalid JSON ({e})")
        return {}


def mode_of(root, path):
    try:
        return stat.S_IMODE(os.lstat(p(root, path)).st_mode)
    except OSError:
        return None


def phases(journal):
    return {ph["name"]: ph for ph in journal.get("phases", [])}


def finish(what):
    if FAILURES:
        print(f"FAIL {what}:")
        for f in FAILURES:
            print(f"  - {f}")
        sys.exit(1)
    print(f"ok   {what}")


def image_lines(text):
    """`ctr images ls` rows (from a file or Packer's prefixed log) as {name: (digest, labels)}."""
    out = {}
    for line in text.splitlines():
        m = re.search(r"(\S+)\s+application/\S+\s+(sha256:[0-9a-f]{64})\s+.*?(\S+)\s*$", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def golden(root, packer_log, version):
    """The image Packer built: staged layout, images in containerd (pinned), nothing left over."""
    vdir = f"/opt/kubebake/versions/{version}"
    for b in ["kubeadm", "kubelet", "kubectl", "firstboot"]:
        path = f"{vdir}/bin/{b}"
        expect(mode_of(root, path) == 0o755, f"{path}: mode {oct(mode_of(root, path) or 0)}, want 0755")
        link = f"/usr/local/bin/{b}"
        target = os.readlink(p(root, link)) if os.path.islink(p(root, link)) else None
        expect(target == path, f"{link} links to {target}, want {path}")
    standin = read(root, f"{vdir}/bin/kubelet")
    expect("TEST STAND-IN" in standin, "the staged kubelet is not the test's stand-in")
    for path in [
        f"/var/lib/kubebake/images/{version}/images.oci.tar",
        f"/var/lib/kubebake/bundles/{version}/bundle.yaml",
        "/var/lib/kubebake/release-index.yaml",
        "/usr/lib/systemd/system/kubelet.service",
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "/usr/lib/systemd/system/kubebake-firstboot.service",
        "/etc/containerd/config.toml",
        "/usr/share/kubebake/staged.json",
    ]:
        expect(os.path.isfile(p(root, path)), f"{path} missing from the golden image")
    for u in ["kubelet.service", "kubebake-firstboot.service"]:
        expect(
            os.path.islink(p(root, f"/etc/systemd/system/multi-user.target.wants/{u}")),
            f"{u} not enabled in the golden image",
        )
    for gone in ["/tmp/kubebake", "/etc/kubebake/firstboot.yaml", "/var/lib/kubebake/firstboot/status.json"]:
        expect(not os.path.exists(p(root, gone)), f"{gone} left in the golden image")
    expect(
        not re.search(r"^packer:", read(root, "/etc/passwd"), re.M),
        "the build user `packer` is still in /etc/passwd",
    )
    record = load_json(root, "/usr/share/kubebake/staged.json")
    images = record.get("images", [])
    expect(len(images) >= 7, f"staged.json records {len(images)} images, want the 7 control-plane images")
    with open(packer_log, encoding="utf-8", errors="replace") as f:
        listed = image_lines(f.read())
    expect(listed, "the build log has no `ctr -n k8s.io images ls` listing")
    for img in images:
        name, digest = img.get("name"), img.get("digest")
        expect(img.get("imported") is True, f"staged.json: {name} not recorded as imported")
        got = listed.get(name)
        if expect(got is not None, f"containerd in the build VM does not list {name}"):
            expect(got[0] == digest, f"{name}: containerd has {got[0]}, staged.json {digest}")
            expect("io.cri-containerd.pinned=pinned" in got[1], f"{name} is not pinned in containerd ({got[1]})")
    finish(f"golden image: staged layout, {len(images)} images imported with their digests and pinned")


def boot(root, version, modes_file):
    """A node after its first boot: node-local phases done, files in place, the kubelet started."""
    journal = load_json(root, STATUS)
    ph = phases(journal)
    for name in NODE_LOCAL:
        rec = ph.get(name, {})
        expect(rec.get("state") == "done", f"phase {name}: {rec.get('state')}, want done")
        expect(rec.get("startedAt") and rec.get("endedAt"), f"phase {name}: no start/end times")
    wcp = ph.get("wait-control-plane", {})
    expect(wcp.get("state") == "failed", f"wait-control-plane: {wcp.get('state')}, want failed")
    err = wcp.get("error") or ""
    expect("API server" in err and ":6443" in err,
           f"wait-control-plane's error does not name the API server: {err!r}")
    expect(journal.get("result") == "failed", f"journal result {journal.get('result')}, want failed")
    marker = read(root, FAILED_MARKER)
    expect("wait-control-plane" in marker, f"failure marker does not name wait-control-plane: {marker!r}")
    expect(not os.path.exists(p(root, "/var/lib/kubebake/firstboot/bootstrap-success.complete")),
           "success marker written although a phase failed")
    # cloud-init wrote the configuration (0600: it may hold tokens) and reported no error.
    m = mode_of(root, "/etc/kubebake/firstboot.yaml")
    expect(m == 0o600, f"/etc/kubebake/firstboot.yaml: mode {oct(m) if m is not None else 'missing'}, want 0o600")
    result = load_json(root, "/var/lib/cloud/data/result.json").get("v1", {})
    expect(result.get("errors") == [], f"cloud-init reported errors: {result.get('errors')}")

    # kubeadm's files with kubeadm's modes (reference listing of a real kubeadm v1.36.2 init).
    want = {}
    with open(modes_file, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[0].startswith("-") and "/tmp/" not in parts[4]:
                want["/etc/kubernetes/" + parts[4][2:]] = int(parts[1], 8)
    want.update(KUBELET_FILES)
    for path, m in sorted(want.items()):
        got = mode_of(root, path)
        expect(got == m, f"{path}: mode {oct(got) if got is not None else 'missing'}, want {oct(m)}")

    # The kubelet (a stand-in logging its arguments) was started by systemd with kubeadm's flags.
    flags = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
             "--kubeconfig=/etc/kubernetes/kubelet.conf",
             "--config=/var/lib/kubelet/config.yaml"]
    env = read(root, "/var/lib/kubelet/kubeadm-flags.env")
    m = re.search(r'KUBELET_KUBEADM_ARGS="([^"]*)"', env)
    expect(m is not None, f"kubeadm-flags.env has no KUBELET_KUBEADM_ARGS: {env!r}")
    if m:
        flags += m.group(1).split()
    started = (ph.get("kubelet-start", {}).get("startedAt") or "")[:19]
    runs = [l for l in read(root, STANDIN_LOG).splitlines() if " kubelet " in l]
    after = [l for l in runs if l[:19] >= started]
    expect(after, f"the stand-in kubelet was not started after kubelet-start began ({started}): {runs}")
    for line in after[-1:]:
        for fl in flags:
            expect(fl in line.split(), f"the kubelet was started without {fl}: {line}")
    cmdline = read(root, f"{REPORT}/kubelet-cmdline.txt").split("\n")
    for fl in flags:
        expect(fl in cmdline, f"kubelet.service's main process lacks {fl}: {cmdline}")

    # Images: the golden image's, not imported again at boot.
    record = load_json(root, "/usr/share/kubebake/staged.json")
    listed = image_lines(read(root, f"{REPORT}/images.txt"))
    for img in record.get("images", []):
        got = listed.get(img["name"])
        expect(got is not None and got[0] == img["digest"],
               f"containerd at boot: {img['name']} {got}, want {img['digest']}")
    expect("ImageCreate" not in read(root, f"{REPORT}/containerd.log"),
           "containerd created images during the boot (they should come from the golden image)")
    fb_log = read(root, f"{REPORT}/firstboot.log")
    expect("import" not in fb_log.lower(), "firstboot's log mentions an image import")

    # `firstboot status` in the guest shows the same states.
    guest = load_json(root, f"{REPORT}/status.json")
    gph = phases(guest)
    for name, rec in ph.items():
        expect(gph.get(name, {}).get("state") == rec.get("state"),
               f"guest `firstboot status -o json`: {name} {gph.get(name, {}).get('state')}, disk {rec.get('state')}")
    table = read(root, f"{REPORT}/status.txt")
    for name in NODE_LOCAL + ["wait-control-plane"]:
        row = [l for l in table.splitlines() if re.search(rf"(^|\s){re.escape(name)}\s", l)]
        expect(row and ph.get(name, {}).get("state", "?") in row[0],
               f"guest `firstboot status`: row of {name} {row[:1]} does not show {ph.get(name, {}).get('state')}")
    expect("exit=1" in table or "exit=0" in table or "exit=" in table, "no exit status of `firstboot status`")
    finish("boot: node-local phases done, kubeadm's files and modes, kubelet started by systemd "
           "with kubeadm's flags, pre-imported images, wait-control-plane failed on the API server")


def interrupted(root):
    """The disk of a run killed part-way: a journal with some phase not done."""
    journal = load_json(root, STATUS)
    ph = phases(journal)
    states = {n: ph.get(n, {}).get("state") for n in NODE_LOCAL + ["wait-control-plane"]}
    expect(journal.get("result") == "running", f"journal result {journal.get('result')}, want running (killed)")
    expect(any(s == "done" for s in states.values()), f"no phase done before the kill: {states}")
    expect(any(states[n] != "done" for n in NODE_LOCAL),
           f"every node-local phase already done before the kill: {states}")
    expect(not os.path.exists(p(root, FAILED_MARKER)), "failure marker exists after the kill")
    print("     states after the kill: " + ", ".join(f"{n}={s}" for n, s in states.items()))
    finish("interrupted run: journal records the run in progress")


def tree(root, top):
    out = {}
    base = p(root, top)
    for d, _, files in os.walk(base):
        for f in files:
            full = os.path.join(d, f)
            out["/" + os.path.relpath(full, root)] = stat.S_IMODE(os.lstat(full).st_mode)
    return out


def sha(root, path):
    import hashlib
    try:
        with open(p(root, path), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def resume(first, second, reference):
    """The second boot continued the killed run and ended like an uninterrupted boot."""
    a, b, ref = phases(load_json(first, STATUS)), phases(load_json(second, STATUS)), phases(load_json(reference, STATUS))
    done_before = [n for n in NODE_LOCAL if a.get(n, {}).get("state") == "done"]
    expect(done_before, "no phase was done before the kill: nothing to resume from")
    for n in done_before:
        for k in ["startedAt", "endedAt", "attempts"]:
            expect(a[n].get(k) == b.get(n, {}).get(k),
                   f"{n}: {k} {a[n].get(k)} before the reboot, {b.get(n, {}).get(k)} after (ran again)")
    for n in NODE_LOCAL + ["wait-control-plane"]:
        if a.get(n, {}).get("state") == "running":
            expect(b.get(n, {}).get("attempts") == a[n].get("attempts", 0) + 1,
                   f"{n} was interrupted: attempts {b.get(n, {}).get('attempts')}, want {a[n].get('attempts', 0) + 1}")
    # Same end state as the uninterrupted boot.
    for n in set(ref) | set(b):
        expect(ref.get(n, {}).get("state") == b.get(n, {}).get("state"),
               f"{n}: {b.get(n, {}).get('state')} after the resumed boot, {ref.get(n, {}).get('state')} after an uninterrupted boot")
    for top in ["/etc/kubernetes", "/var/lib/kubelet"]:
        t1, t2 = tree(second, top), tree(reference, top)
        expect(t1 == t2, f"{top} differs from an uninterrupted boot: {sorted(set(t1.items()) ^ set(t2.items()))}")
    # Files of phases done before the kill were kept, not regenerated.
    if "certs" in done_before:
        for f in ["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/apiserver.crt"]:
            expect(sha(first, f) and sha(first, f) == sha(second, f), f"{f} changed across the reboot")
    again = [n for n in NODE_LOCAL + ["wait-control-plane"] if a.get(n, {}).get("state") == "running"]
    finish(f"resume: {', '.join(done_before)} kept from the killed run, {', '.join(again) or 'no phase'} "
           "run again from a clean state, the rest once; same end state as the uninterrupted boot")


def upgrade(root, next_version):
    """`firstboot upgrade plan --bundle` in the guest offers the next bundle's version."""
    plan = load_json(root, f"{REPORT}/upgrade-plan.json")
    err = read(root, f"{REPORT}/upgrade-plan.err")
    expect("exit=0" in err, f"`firstboot upgrade plan` failed in the guest: {err}")
    offered = [u.get("after", {}).get("kubernetesVersion") for u in plan.get("upgrades", [])]
    expect(next_version in offered, f"upgrade plan offers {offered}, want {next_version}")
    expect(os.path.isfile(p(root, f"/var/lib/kubebake/incoming/k8s-{next_version}.bundle")),
           "the next bundle was not copied into the node")
    finish(f"air-gapped upgrade rehearsal: the plan offers {next_version}")


def main():
    cmds = {"golden": golden, "boot": boot, "interrupted": interrupted, "resume": resume, "upgrade": upgrade}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__)
        sys.exit(2)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
