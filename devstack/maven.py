"""Resolve Java artifacts from Maven Central into the project's cache.

Kafka and s3proxy are run straight from their official Maven Central
artifacts on the local JDK, so a fresh machine needs only Java and Maven.
We let Maven do the dependency resolution (it is the well-kept tool for it)
by writing a throw-away pom and running `dependency:copy-dependencies`.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>openstack-rca.devstack</groupId><artifactId>{name}</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def resolve(name: str, coordinates: list[str], cache_dir: Path) -> Path:
    """Return a folder of jars for `coordinates` ("group:artifact:version").

    Resolved once; later calls find the `.complete` marker and return at once.
    """
    lib = cache_dir / name / "lib"
    marker = cache_dir / name / ".complete"
    if marker.exists():
        return lib
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is required to fetch %s; install it (apt-get install maven)" % name)
    work = cache_dir / name
    work.mkdir(parents=True, exist_ok=True)
    deps = "\n".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>".format(
            *c.split(":")
        )
        for c in coordinates
    )
    (work / "pom.xml").write_text(_POM.format(name=name, deps=deps))
    log.info("resolving %s from Maven Central (first use only)", name)
    proc = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib}"],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Maven could not resolve {name}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    marker.write_text("\n".join(coordinates))
    return lib
