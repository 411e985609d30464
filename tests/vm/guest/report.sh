#!/bin/sh
# Test-only part of the VM test's user-data (tests/vm/run.sh), run by cloud-init's final stage
# (after multi-user.target, so after kubebake-firstboot.service finished): writes what the test
# reads from the stopped disk into /var/lib/kubebake-vmtest. Not part of the product.
out=/var/lib/kubebake-vmtest
mkdir -p "$out"
{
  echo "uptime: $(cut -d' ' -f1 /proc/uptime)"
  systemctl show kubebake-firstboot.service -p ActiveState -p Result -p ExecMainStatus
  systemctl show kubelet.service -p ActiveState -p MainPID -p NRestarts
} >"$out/units.txt" 2>&1
firstboot status >"$out/status.txt" 2>&1
echo "exit=$?" >>"$out/status.txt"
firstboot status -o json >"$out/status.json" 2>"$out/status-json.err"
ctr -n k8s.io images ls >"$out/images.txt" 2>&1
pid="$(systemctl show kubelet.service -p MainPID --value)"
if [ -n "$pid" ] && [ "$pid" != 0 ]; then tr '\0' '\n' <"/proc/$pid/cmdline" >"$out/kubelet-cmdline.txt"; fi
journalctl -b --no-pager -o short-iso -u containerd.service >"$out/containerd.log" 2>&1
journalctl -b --no-pager -o short-iso -u kubebake-firstboot.service >"$out/firstboot.log" 2>&1
journalctl -b --no-pager -o short-iso -u kubelet.service >"$out/kubelet.log" 2>&1
# Air-gapped upgrade rehearsal: a drive labelled kbupgrade carries the next bundle; copy it into
# the node and ask firstboot what it allows (no network: QEMU user networking with restrict=on).
if [ -e /dev/disk/by-label/kbupgrade ]; then
  mkdir -p /mnt/kbupgrade /var/lib/kubebake/incoming
  if mount -o ro /dev/disk/by-label/kbupgrade /mnt/kbupgrade; then
    cp /mnt/kbupgrade/*.bundle /mnt/kbupgrade/*.minisig /mnt/kbupgrade/*.pub /var/lib/kubebake/incoming/
    umount /mnt/kbupgrade
  fi
  b="$(ls /var/lib/kubebake/incoming/*.bundle | head -n1)"
  k="$(ls /var/lib/kubebake/incoming/*.pub | head -n1)"
  firstboot upgrade plan --bundle "$b" --public-key "$k" -o json >"$out/upgrade-plan.json" 2>"$out/upgrade-plan.err"
  echo "exit=$?" >>"$out/upgrade-plan.err"
  firstboot upgrade plan --bundle "$b" --public-key "$k" >"$out/upgrade-plan.txt" 2>&1
fi
echo done >"$out/finished"
sync
