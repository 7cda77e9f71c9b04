"""Real ECMWF sample files for the reader tests: cfgrib's source distribution carries them (the wheel does not)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

CFGRIB_SDIST = "cfgrib==0.9.15.1"


def _test_cache() -> Path:
    return Path(os.environ.get("AQNET_TEST_CACHE", Path.home() / ".cache" / "aqnet-tests")).expanduser()


@pytest.fixture(scope="session")
def ecmwf_samples() -> Path:
    """cfgrib's source distribution's tests/sample-data/ (real ECMWF GRIB files), downloaded once through pip.

    Cached under $AQNET_TEST_CACHE (default ~/.cache/aqnet-tests); a machine with PyPI access downloads it on first
    use. Without it the test fails (it never skips): the GRIB path must be tested on real files.
    """
    from aqnet.utils.atomic import atomic_output, file_lock

    target = _test_cache() / CFGRIB_SDIST.replace("==", "-")
    if not (target / "era5-levels-members.grib").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target):
            if not target.exists():
                with tempfile.TemporaryDirectory() as tmp:
                    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
                    done = subprocess.run([*command, CFGRIB_SDIST, "-d", tmp], capture_output=True, text=True)
                    if done.returncode != 0:
                        pytest.fail(f"pip download {CFGRIB_SDIST} (sdist) failed: {done.stderr[-2000:]}")
                    (archive,) = Path(tmp).glob("cfgrib-*.tar.gz")
                    with tarfile.open(archive) as tar, atomic_output(target) as staging:
                        staging.mkdir()
                        for member in tar.getmembers():
                            if "/tests/sample-data/" in member.name and member.isfile():
                                extracted = tar.extractfile(member)
                                assert extracted is not None
                                (staging / Path(member.name).name).write_bytes(extracted.read())
    return target
