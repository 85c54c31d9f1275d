"""``medae <command> --help``: the command's keys with their meaning, read from its config file's comments.

The config file is the one source of the keys, their defaults and, in the comment above each, their
meaning. Only the standard library is imported, so help answers at once.
"""

import re
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<value>.*)$")
GROUP = re.compile(r"^ *- (?:override )?(?P<group>[\w/]+): *(?P<option>\S+)")
WIDTH = 28


def command_help(command: str, config_dir: Path = CONFIG_DIR) -> str:
    """The help of ``medae <command>``: what it does, each key (default, meaning), its config groups.

    A key's meaning is the comment block above it; keys nested one level show under their parent.

    Example:
        >>> print(command_help("predict").splitlines()[0])
        medae predict: Apply a trained model to new scans, results in each scan's own grid:
        >>> any(line.startswith("  input=???") for line in command_help("predict").splitlines())
        True
    """
    lines = (config_dir / f"{command}.yaml").read_text().splitlines()
    header: list[str] = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# ").rstrip())
    keys: list[str] = []
    groups: list[str] = []
    comment: list[str] = []
    in_defaults = False
    for line in lines[len(header) :]:
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
            continue
        if in_defaults and (group := GROUP.match(line)):
            if group["group"] != "hydra":
                groups.append(f"  {group['group']}={group['option']}")
            continue
        match = KEY.match(line)
        if match is None or len(match["indent"]) > 2:
            comment = []
            continue
        in_defaults = match["key"] == "defaults" and not match["indent"]
        if not in_defaults and match["key"] != "task_name":
            name = f"{'  ' if match['indent'] else ''}{match['key']}"
            value = match["value"].strip()
            shown = f"  {name}={value}" if value else f"  {name}:"
            meaning = " ".join(comment)
            keys.append(f"{shown:<{WIDTH}} {meaning}".rstrip() if meaning else shown)
        comment = []
    text = [f"medae {command}: {header[0]}" if header else f"medae {command}", *header[1:], ""]
    text += ["keys (key=value on the command line; nested: parent.key=value):", *keys]
    if groups:
        text += ["", "config groups (group=option; medae models | data | applications lists the options):"]
        text += groups
    text += ["", f"Hydra's own help: medae {command} --hydra-help"]
    return "\n".join(text)
