"""The driver domain's image is made from an allow-list: package files (the closure of what
it runs), /etc only below known prefixes, accounts with locked passwords. Dom0's secrets
cannot be selected. Fed by Dom0's real package database, recorded on the lab."""

import base64
import io
import tarfile

import pytest

from tests.support import FakeRunner, data
from xenaccept.images import drvdom_image as img
from xenaccept.images import packages, personal
from xenaccept.images import guest_payload
from xenaccept.errors import HarnessError



@pytest.fixture(scope="module")
def pkgs():
    return packages.parse_packages(data("dom0_dpkg-query-W-closure-fields_plain.txt"))


def test_the_closure_holds_what_the_driver_domain_runs_and_leaves_the_rest(pkgs):
    chosen = packages.closure(pkgs, [*packages.ROOTS, "xen-utils-4.17"])
    for needed in ("openssh-server", "systemd", "udev", "iproute2", "xen-utils-4.17",
                   "xen-utils-common", "libc6", "mawk", "kmod", "bash"):
        assert needed in chosen, needed
    # not needed by anything it runs: the kernel image, the hypervisor, apt, Dom0's ifupdown
    for left in ("linux-image-amd64", "xen-hypervisor-4.17-amd64", "apt", "ifupdown",
                 "isc-dhcp-client", "xen-system-amd64"):
        assert left not in chosen, left
    assert len(chosen) < len(pkgs)


@pytest.mark.parametrize("path", [
    "/etc/shadow", "/etc/gshadow", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_config", "/root/.ssh/id_ed25519", "/root/.bash_history", "/home/op/.ssh/id_rsa",
    "/etc/ssl/private/server.key", "/etc/xen/xl.conf", "/etc/xen/drvdom.cfg",
    "/etc/xen/auto/web.cfg", "/var/lib/xen/save", "/etc/network/interfaces",
    "/etc/security/opasswd", "/etc/sudoers", "/etc/machine-id", "/usr/share/doc/bash/copyright",
])
def test_dom0s_secrets_and_configs_are_never_selected(path):
    assert not packages.keep(path)


@pytest.mark.parametrize("path", [
    "/etc/xen/scripts/vif-bridge", "/usr/lib/xen-4.17/bin/xl", "/usr/sbin/sshd",
    "/etc/pam.d/sshd", "/etc/systemd/journald.conf", "/bin/sh",
])
def test_what_the_driver_domain_runs_is_selected(path):
    assert packages.keep(path)


def test_accounts_carry_no_password_hash():
    files = personal.accounts(data("dom0_etc-passwd_plain.txt"),
                         data("dom0_etc-group_plain.txt"))
    users = [line.split(":") for line in files["etc/passwd"].splitlines()]
    assert {"root", "sshd", "systemd-network", "nobody"} <= {u[0] for u in users}
    assert all(u[1] == "x" for u in users)
    shadow = [line.split(":") for line in files["etc/shadow"].splitlines()]
    assert [s[0] for s in shadow] == [u[0] for u in users]
    assert all(s[1] == "*" for s in shadow)
    assert all(line.split(":")[1] == "*" for line in files["etc/gshadow"].splitlines())


def test_a_users_entry_with_a_hash_in_passwd_loses_it():
    files = personal.accounts("root:$6$salt$hash:0:0:root:/root:/bin/bash\n"
                         "op:x:1000:1000::/home/op:/bin/bash\n", "root:x:0:\nop:x:1000:\n")
    assert files["etc/passwd"] == "root:x:0:0:root:/root:/bin/bash\n"  # op: not a system user
    assert "$6$" not in "".join(files.values())


def test_the_generated_files():
    p = personal.Personal("drvdom", "e1000", None, None, ("ssh-ed25519 AAAA k",), "0" * 32)
    archive = tarfile.open(fileobj=io.BytesIO(base64.b64decode(personal.personal_tar(p, {}))))
    names = archive.getnames()
    assert "root/.ssh/authorized_keys" in names and "etc/ssh/sshd_config" in names
    net = archive.extractfile("etc/systemd/network/50-xenaccept-nic.network").read().decode()
    assert "Driver=e1000" in net and "DHCP=ipv4" in net
    sshd = archive.extractfile("etc/ssh/sshd_config").read().decode()
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin prohibit-password" in sshd
    masked = {m.name for m in archive.getmembers() if m.issym() and m.linkname == "/dev/null"}
    assert {"etc/systemd/system/sys-kernel-debug.mount",
            "etc/systemd/system/getty-static.service"} <= masked
    static = personal.personal_files(personal.Personal("d", "e1000e", "192.0.2.5/24", "192.0.2.1", (),
                                             "0" * 32))
    text = static["etc/systemd/network/50-xenaccept-nic.network"][1]
    assert "Address=192.0.2.5/24" in text and "Gateway=192.0.2.1" in text and "DHCP" not in text


def test_the_guest_link_local_address_is_the_eui64_of_its_mac():
    assert guest_payload.guest_link_local("00:16:3e:5a:00:01") == "fe80::216:3eff:fe5a:1"
    assert guest_payload.extra("fe80::5054:ff:fe5a:5") == \
        "console=hvc0 xenaccept_peer=fe80::5054:ff:fe5a:5"
    with pytest.raises(Exception, match="link-local"):
        guest_payload.peer_of("2001:db8::1")


def dom0_with(free_kb: int, without: str = "") -> FakeRunner:
    """Dom0 answering from the recorded package database (less the package ``without``),
    with ``free_kb`` free in /var/lib."""
    pkgs = data("dom0_dpkg-query-W-closure-fields_plain.txt")
    if without:
        pkgs = "".join(line for line in pkgs.splitlines(keepends=True)
                       if not line.startswith(f"{without}\t"))
    return FakeRunner("dom0", {
        "dpkg-query -W": pkgs,
        "df -Pk": ("Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                   f"/dev/vda 4000000 3000000 {free_kb} 80% /\n"),
        "test -d": (1, "", ""),
    }, read_only=False, match="prefix", default="")


def refused_before_writing(dom0: FakeRunner, says: str) -> None:
    """Building the image in ``dom0`` is refused with ``says``, before anything is written."""
    image = img.DriverDomainImage(dom0, "drvdom", log=lambda m: None)
    p = personal.Personal("drvdom", "e1000", None, None, (), "0" * 32)
    with pytest.raises(HarnessError, match=says):
        image.build(p)
    assert not dom0.transcript.mutating()


def test_a_dom0_without_mkfs_ext4_is_refused_before_anything_is_written():
    """As the trixie lab first was: debootstrap no longer brings e2fsprogs there."""
    refused_before_writing(dom0_with(free_kb=4000 * 1024, without="e2fsprogs"),
                           r"no mkfs\.ext4 \(Debian: e2fsprogs\).*driver_domain\.disk")


def test_too_little_space_in_dom0_is_refused_before_anything_is_written():
    refused_before_writing(dom0_with(free_kb=100 * 1024),
                           r"Dom0 has 100 MB free in /var/lib .*needs about \d+ MB.*"
                           r"driver_domain\.disk")


def test_the_boot_files_script_is_valid_shell_naming_every_module_it_brings(tmp_path):
    import subprocess
    text = img.boot_files_script("/var/lib/xenaccept/drvdom", "e1000", "/etc/xen/drvdom.cfg")
    script = tmp_path / "boot-files"
    script.write_text(text)
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    assert "e1000 xen-netback xen-pcifront bridge" in text and "--optional" in text
    usage = subprocess.run(["sh", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "build|install|remove" in usage.stderr


def test_a_kernel_hook_that_fails_never_fails_apt(tmp_path):
    """apt runs /etc/kernel/postinst.d with the release: a failure is said, not returned."""
    import subprocess
    from xenaccept.provision.persist.templates import kernel_hook
    broken = tmp_path / "boot-files"
    broken.write_text("echo 'no modules for the kernel' >&2; exit 3\n")
    hook = tmp_path / "hook"
    hook.write_text(kernel_hook(str(broken), "install"))
    p = subprocess.run(["sh", str(hook), "6.12.57+deb12-amd64", "/boot/vmlinuz-6.12"],
                       capture_output=True, text=True)
    assert p.returncode == 0
    assert "boot files for 6.12.57+deb12-amd64 were not made (install)" in p.stderr
    hook.write_text(kernel_hook(str(tmp_path / "absent"), "remove"))
    assert subprocess.run(["sh", str(hook), "6.1"], capture_output=True).returncode == 0


def test_the_kernel_hooks_point_the_config_at_the_newest_kernel_quoted_as_xl_reads_it(tmp_path):
    """Run for real, /boot made a temporary directory: removing a kernel's boot files
    points the config at the newest kernel left, with the quotes xl's parser needs (found
    on the lab: unquoted, `xl create` refused the config at the next boot)."""
    import subprocess
    boot, work = tmp_path / "boot", tmp_path / "drvdom"
    boot.mkdir()
    work.mkdir()
    for rel in ("6.1.0-50-amd64", "6.12.95+deb12-amd64"):
        (boot / f"vmlinuz-{rel}").write_text("")
        (work / f"initrd.img-{rel}").write_text("")
    cfg = tmp_path / "drvdom.cfg"
    cfg.write_text('name = "drvdom"\nkernel = "/boot/vmlinuz-6.1.0-50-amd64"\n'
                   f'ramdisk = "{work}/initrd.img-6.1.0-50-amd64"\n')
    script = tmp_path / "boot-files"
    script.write_text(img.boot_files_script(str(work), "e1000", str(cfg))
                      .replace("\nboot=/boot\n", f"\nboot={boot}\n"))
    r = subprocess.run(["sh", str(script), "remove", "6.1.0-50-amd64"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert cfg.read_text() == ('name = "drvdom"\n'
                               f'kernel = "{boot}/vmlinuz-6.12.95+deb12-amd64"\n'
                               f'ramdisk = "{work}/initrd.img-6.12.95+deb12-amd64"\n')
    assert not (work / "initrd.img-6.1.0-50-amd64").exists()
