"""The local .env chooses the settings module too: manage.py, `rathaus` and the WSGI application read it first."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = "rathaus.config.settings.production"
DEV = "rathaus.config.settings.dev"
SHOW = "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SESSION_COOKIE_SECURE)"

# Each starts the program the operator starts, with the .env file of the test in place of the checkout's.
ENTRY_POINTS = {
    "manage.py": ("import runpy; sys.argv = ['manage.py', 'shell', '-c', SHOW]; "
                  f"runpy.run_path({str(ROOT / 'manage.py')!r}, run_name='__main__')"),
    "rathaus": "from rathaus.cli import main; main(['rathaus', 'shell', '-c', SHOW])",
    "wsgi": f"from rathaus.config.wsgi import application; {SHOW}",
}


def _run(entry_point: str, env_file: Path, **environment: str) -> str:
    code = (f"import sys; from pathlib import Path; SHOW = {SHOW!r}; import rathaus.config.envfile as envfile; "
            f"envfile.ENV_FILE = Path({str(env_file)!r}); " + ENTRY_POINTS[entry_point])
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "src"), **environment}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=env_file.parent, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def production_env_file(tmp_path) -> Path:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DJANGO_SETTINGS_MODULE={PRODUCTION}\nSECRET_KEY={secrets.token_urlsafe(50)}\n"
                        f"ALLOWED_HOSTS=rathaus.example.de\nRATHAUS_VAR_DIR={tmp_path}\n"
                        f"DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite3'}\n")
    return env_file


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_the_settings_module_named_in_the_env_file_is_used(entry_point, production_env_file):
    assert _run(entry_point, production_env_file) == f"{PRODUCTION} False True"


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
def test_a_real_environment_variable_wins_over_the_env_file(entry_point, production_env_file):
    assert _run(entry_point, production_env_file, DJANGO_SETTINGS_MODULE=DEV).startswith(f"{DEV} True")


def test_without_an_env_file_the_dev_settings_are_the_default(tmp_path):
    assert _run("rathaus", tmp_path / ".env", RATHAUS_VAR_DIR=str(tmp_path)).startswith(f"{DEV} True")
