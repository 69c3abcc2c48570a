#!/usr/bin/env bash
# Finds or provisions the Apache Kafka the Kafka end-to-end suite runs (issue 13), and prints its
# folder on stdout: $KAFKA_HOME if set (a folder with libs/*.jar, as in Kafka's own tarball), else
# .peers/kafka-<version>, resolved from Maven Central with mvn: org.apache.kafka:kafka_2.13 (the
# broker, its KRaft controller and kafka.tools.StorageTool), its runtime dependencies and a logging
# backend (log4j2), copied into .peers/kafka-<version>/libs. Run it with `java -cp '<folder>/libs/*'`.
# Anything else it says goes to stderr; it exits non-zero, saying how to provide Kafka, when it
# cannot find or resolve one.
set -euo pipefail

KAFKA_VERSION="4.4.0"
LOG4J_VERSION="2.25.2"
SLF4J_VERSION="2.0.17"
root="$(cd "$(dirname "$0")/../.." && pwd)"
home="$root/.peers/kafka-$KAFKA_VERSION"

fail() {
  echo "shardvoy e2e: $1" >&2
  echo "  Provide Apache Kafka 4.x with KAFKA_HOME=/path/to/kafka (a folder with libs/*.jar, e.g. the unpacked kafka_2.13-$KAFKA_VERSION.tgz), or make mvn, Java 17 and Maven Central reachable so that org.apache.kafka:kafka_2.13:$KAFKA_VERSION can be resolved into $home/libs." >&2
  exit 1
}

has_kafka() { compgen -G "$1/libs/kafka_2.13-*.jar" >/dev/null; }

if [ -n "${KAFKA_HOME:-}" ]; then
  has_kafka "$KAFKA_HOME" || fail "KAFKA_HOME=$KAFKA_HOME has no libs/kafka_2.13-*.jar"
  echo "$KAFKA_HOME"; exit 0
fi
if [ -f "$home/.complete" ] && has_kafka "$home"; then
  echo "$home"; exit 0
fi

command -v java >/dev/null 2>&1 || fail "no java to run Kafka with (Debian: apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null 2>&1 || fail "no mvn to resolve Kafka with (Debian: apt-get install maven)"
echo "shardvoy e2e: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $home/libs" >&2
rm -rf "$home"
mkdir -p "$home/libs"
cat >"$home/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>shardvoy.peers</groupId>
  <artifactId>kafka</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
mvn -q -B -f "$home/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$home/libs" >&2 \
  || { rm -rf "$home"; fail "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"; }
has_kafka "$home" || { rm -rf "$home"; fail "mvn resolved no kafka_2.13 jar"; }
# Kafka's own tarball logs with log4j2 from config/log4j2.yaml: the same, to stdout, as a file here.
cat >"$home/log4j2.properties" <<'LOG'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${sys:kafka.log.level:-INFO}
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = ${sys:kafka.log.level:-INFO}
logger.apache.name = org.apache.kafka
logger.apache.level = ${sys:kafka.log.level:-INFO}
LOG
touch "$home/.complete"
echo "$home"
