"""GRUB's next boot, read from its files: the entries of ``grub.cfg`` (menu entries and
submenus, as ``update-grub`` writes them), the default it sets, the environment block
(``grubenv``: ``saved_entry``, and ``next_entry`` that ``grub-reboot`` sets for one boot),
and so the entry GRUB will start, with the Xen image, Dom0's kernel, command line and
initramfs it names. Pure parsing: the reads are the caller's."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

CFG = "/boot/grub/grub.cfg"
ENV = "/boot/grub/grubenv"
# what Dom0's command line has that an entry need not repeat
KEEP_OUT = ("placeholder", "BOOT_IMAGE", "root", "ro", "rw")


@dataclass(frozen=True)
class Entry:
    title: str
    id: str | None
    xen: str | None = None        # the hypervisor (multiboot2/multiboot); None: Linux alone
    kernel: str | None = None     # Dom0's kernel (the first module with a vmlinuz), or linux's
    args: str = ""                # its command line
    initrd: str | None = None

    @property
    def release(self) -> str | None:
        """The kernel release its file name carries (``/boot/vmlinuz-<release>``)."""
        if self.kernel is None or "vmlinuz-" not in self.kernel:
            return None
        return self.kernel.rsplit("vmlinuz-", 1)[1]


@dataclass
class Menu:
    title: str
    id: str | None
    items: list[Entry | Menu] = field(default_factory=list)


def _title_and_id(words: list[str]) -> tuple[str, str | None]:
    title = words[1] if len(words) > 1 else ""
    ident = None
    for i, w in enumerate(words):
        if w in ("$menuentry_id_option", "--id") and i + 1 < len(words):
            ident = words[i + 1]
    return title, ident


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError:
        return line.split()


def parse(cfg: str) -> Menu:
    """The menu of a grub.cfg: its entries and submenus, nested as GRUB shows them."""
    root = Menu("", None)
    stack: list[Menu] = [root]
    entry: dict[str, str | None] | None = None   # the menuentry being read
    depth = 0          # braces opened inside a menuentry or another block ({ ... })
    other = 0          # braces of blocks that are neither (functions)
    for raw in cfg.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = _words(line)
        if entry is not None:
            if line == "}" and depth == 0:
                stack[-1].items.append(Entry(
                    str(entry["title"]), entry["id"], entry.get("xen"), entry.get("kernel"),
                    entry.get("args") or "", entry.get("initrd")))
                entry = None
            elif line.endswith("{"):
                depth += 1
            elif line == "}":
                depth -= 1
            elif words[:1] in (["multiboot2"], ["multiboot"]) and len(words) > 1:
                entry["xen"] = words[1]
            elif words[:1] in (["module2"], ["module"]):
                rest = [w for w in words[1:] if not w.startswith("--")]
                if rest and "vmlinuz" in rest[0] and entry.get("kernel") is None:
                    entry["kernel"] = rest[0]
                    entry["args"] = " ".join(w for w in rest[1:] if w != "placeholder")
                elif rest and entry.get("initrd") is None and entry.get("kernel") is not None:
                    entry["initrd"] = rest[0]
            elif words[:1] == ["linux"] and len(words) > 1:
                entry["kernel"] = words[1]
                entry["args"] = " ".join(words[2:])
            elif words[:1] == ["initrd"] and len(words) > 1:
                entry["initrd"] = words[1]
            continue
        if other:
            other += line.endswith("{") - (line == "}")
            continue
        if words[:1] == ["menuentry"] and line.endswith("{"):
            title, ident = _title_and_id(words)
            entry = {"title": title, "id": ident}
            depth = 0
        elif words[:1] == ["submenu"] and line.endswith("{"):
            title, ident = _title_and_id(words)
            menu = Menu(title, ident)
            stack[-1].items.append(menu)
            stack.append(menu)
        elif line == "}" and len(stack) > 1:
            stack.pop()
        elif line.endswith("{"):
            other = 1
    return root


def parse_env(text: str) -> dict[str, str]:
    """grubenv's variables (its padding of #s left out)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out[k] = v
    return out


def default_spec(cfg: str, env: dict[str, str]) -> tuple[str, str]:
    """What GRUB starts at the next boot, as it names it (a number, a title, an id, or a
    path of them joined by ``>``), and why: ``next_entry`` (set for one boot), else the
    default grub.cfg sets (``${saved_entry}`` read from grubenv)."""
    if env.get("next_entry"):
        return env["next_entry"], "grubenv's next_entry (set for one boot by grub-reboot)"
    spec, why = "0", "GRUB's first entry (grub.cfg sets no default)"
    for line in cfg.splitlines():
        words = _words(line.strip())
        if len(words) == 2 and words[0] == "set" and words[1].startswith("default="):
            value = words[1].removeprefix("default=")
            if value == "${next_entry}":
                continue
            if value == "${saved_entry}":
                spec = env.get("saved_entry") or "0"
                why = f"grubenv's saved_entry ({spec!r}; GRUB_DEFAULT=saved)"
            else:
                spec, why = value, f"grub.cfg's default ({value!r}: GRUB_DEFAULT)"
    return spec, why


def select(menu: Menu, spec: str) -> Entry | None:
    """The entry ``spec`` names (each part of ``a>b`` a position, a title or an id, as
    GRUB matches them); None when it names nothing, or a submenu."""
    node: Entry | Menu = menu
    for part in spec.split(">"):
        if not isinstance(node, Menu):
            return None
        items = node.items
        found: Entry | Menu | None = None
        if part.isdigit():
            found = items[int(part)] if int(part) < len(items) else None
        else:
            found = next((i for i in items if part in (i.title, i.id)), None)
        if found is None:
            return None
        node = found
    return node if isinstance(node, Entry) else None


def next_entry(cfg: str, env: dict[str, str]) -> tuple[Entry | None, str]:
    """The entry GRUB will start at the next boot, and why that one. A default that names
    nothing makes GRUB start its first entry, as it does."""
    menu = parse(cfg)
    spec, why = default_spec(cfg, env)
    entry = select(menu, spec)
    if entry is None and spec != "0":
        first = select(menu, "0")
        return first, f"{why}, which names no entry: GRUB falls back to its first"
    return entry, why


def missing_args(running: str, entry: str, bdf: str) -> list[str]:
    """What Dom0's command line has now, or the hide, that the entry would not give it."""
    have = set(entry.split())
    want = [w for w in running.split() if w.split("=", 1)[0] not in KEEP_OUT]
    want.append(f"xen-pciback.hide=({bdf})")
    return [w for w in dict.fromkeys(want) if w not in have]
