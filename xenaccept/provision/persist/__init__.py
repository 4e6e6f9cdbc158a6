"""The setup made permanent, as an operator makes it, and undone byte for byte:
:mod:`.templates` (the texts), :mod:`.apply` (written, journaled), :mod:`.bootentry` (the
boot entry checked before any reboot), :mod:`.record` (what was changed, and its undo).

What ``--provision --persist`` writes, all in files of its own (nothing of the operator's is
edited):

Dom0
  * ``/etc/default/grub.d/zz-xenaccept.cfg``: ``xen-pciback.hide=(BDF)`` appended to Dom0's
    command line in the Xen boot entries (``GRUB_CMDLINE_LINUX_XEN_REPLACE``), then
    ``update-grub``;
  * ``/etc/initramfs-tools/hooks/xenaccept-pciback`` (xen-pciback into the initramfs) and
    ``/etc/modprobe.d/xenaccept-pciback.conf`` (``softdep <native> pre: xen-pciback``: loaded
    before the native driver, so it seizes the hidden device first), then
    ``update-initramfs -u -k all``;
  * ``xenaccept-domains.service``, enabled: at boot it creates the driver domain, waits for
    it to say it is ready (bridge up, ``xl devd`` running: a flag in its own xenstore
    ``data/``), then creates the guests; at shutdown it stops them, guests first. Not
    ``/etc/xen/auto``: Debian's xendomains saves every domain at shutdown by default
    (``XENDOMAINS_SAVE``), which a domain with a PCI device cannot do, and restores guests
    before their backend exists.

The driver domain (its own disk, built by the suite)
  * systemd-networkd makes the bridge with the NIC's MAC and the NIC enslaved;
  * ``xenaccept-devd.service`` runs ``xl devd``; ``xenaccept-ready.service`` writes the flag.

Before ``update-grub`` and ``update-initramfs`` the files they regenerate are copied to the
work dir; restoring puts them back byte for byte, unless something else has regenerated them
since (a kernel upgrade): then they are made again without the suite's files.
"""
