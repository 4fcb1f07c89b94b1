"""Apache Kafka's jars: fetched once from Maven Central (with Maven) into a cache, and the
Java they need.

The broker (`kafka.Kafka`) and its storage tool (`kafka.tools.StorageTool`) are in
`org.apache.kafka:kafka_2.13`; its published POM leaves the logging binding out, so the
log4j 2 SLF4J 1.7 binding is fetched beside it (without it the broker logs nothing).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

KAFKA_VERSION = "4.1.1"  # the version deploy/compose.yaml runs: keep them together
LOG4J_VERSION = "2.24.3"
MIN_JAVA = 17
_COMPLETE = ".complete"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>caseweave</groupId><artifactId>kafka-local</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


class KafkaSetupError(Exception):
    """What is missing to run Kafka here, in one line a person can act on."""


def java_major(version_output: str) -> int | None:
    """Return the major version `java -version` reports (`1.8.0_392` is 8), or None."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_java() -> str:
    """Return the `java` to run Kafka with, or raise KafkaSetupError saying what is missing."""
    java = shutil.which("java")
    if java is None:
        raise KafkaSetupError(f"Kafka needs Java {MIN_JAVA} or newer: no `java` on PATH")
    shown = subprocess.run(  # noqa: S603 - the java found on PATH, fixed arguments
        [java, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    major = java_major(shown.stderr + shown.stdout)
    if major is None or major < MIN_JAVA:
        raise KafkaSetupError(f"Kafka needs Java {MIN_JAVA} or newer: `java` is {major or '?'}")
    return java


def jars_fetched(cache: Path, *, version: str = KAFKA_VERSION) -> bool:
    """Tell whether Kafka `version`'s jars are already in `cache`."""
    return (cache / version / "libs" / _COMPLETE).exists()


def ensure_jars(cache: Path, *, version: str = KAFKA_VERSION) -> Path:
    """Return the directory of Kafka `version`'s jars, fetching them into `cache` the first
    time (Maven resolves the broker's runtime closure from Maven Central)."""
    home = cache / version
    libs = home / "libs"
    if (libs / _COMPLETE).exists():
        return libs
    maven = shutil.which("mvn")
    if maven is None:
        raise KafkaSetupError("fetching Kafka's jars needs Maven: no `mvn` on PATH")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    fetching = home / "libs.partial"
    shutil.rmtree(fetching, ignore_errors=True)
    fetched = subprocess.run(  # noqa: S603 - the mvn found on PATH, fixed arguments
        [maven, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={fetching}"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    if fetched.returncode != 0:
        last = (fetched.stdout + fetched.stderr).strip().splitlines()[-1:] or ["no output"]
        raise KafkaSetupError(f"Maven could not fetch Kafka {version}: {last[0]}")
    shutil.rmtree(libs, ignore_errors=True)
    fetching.rename(libs)
    (libs / _COMPLETE).touch()
    return libs


def java_and_jars(cache: Path) -> tuple[str, Path]:
    """Return (java, jars directory) to run Kafka with, fetching the jars the first time (and
    saying so on stderr); raise KafkaSetupError saying what is missing."""
    java = check_java()
    if not jars_fetched(cache):
        print(f"Fetching Apache Kafka {KAFKA_VERSION}'s jars (once)…", file=sys.stderr)
    return java, ensure_jars(cache)
