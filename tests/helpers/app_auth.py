"""A sandbox project whose GitHub source authenticates as the sandbox's GitHub App."""

from __future__ import annotations

from pathlib import Path

from sandbox import Sandbox
from tests.helpers.e2e import env_for, project


def app_project(tmp: Path, sb: Sandbox) -> tuple[Path, dict[str, str]]:
    """The project's config with App credentials instead of a token (the key in a 0600
    file), and the environment to run okrsync in: the Jira token only."""
    config = project(tmp, sb)
    key = tmp / "app.pem"
    key.write_text(sb.app_private_key)
    key.chmod(0o600)
    config.write_text(config.read_text().replace(
        'token = ""\norg =', f'app_id = {sb.app_id}\ninstallation_id = {sb.installation_id}'
        f'\nprivate_key_path = "{key}"\norg ='))
    env = env_for(sb)
    env.pop("OKRSYNC_SOURCES__GITHUB__TOKEN")
    return config, env
