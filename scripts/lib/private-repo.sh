# Sourced by scripts/check-consumer and scripts/example-dl4j: a private Maven local repository for
# projects outside this build, so that installing twophase never touches ~/.m2 (other builds may
# be using it). Releases already in ~/.m2/repository are read from there as a file repository
# (nothing is written to it); the rest comes from Maven Central.
#
# private_repo DIR       writes DIR/settings.xml for the repository DIR/m2 and sets MVN (an array)
# install_core LOG       installs the parent pom and twophase-core there (no tests, no javadoc)
private_repo() {
    PRIVATE_DIR=$1
    mkdir -p "$PRIVATE_DIR/m2"
    cat > "$PRIVATE_DIR/settings.xml" <<XML
<settings>
  <localRepository>$PRIVATE_DIR/m2</localRepository>
  <profiles>
    <profile>
      <id>user-releases</id>
      <repositories>
        <repository><id>user-m2</id><url>file://$HOME/.m2/repository</url><snapshots><enabled>false</enabled></snapshots></repository>
      </repositories>
      <pluginRepositories>
        <pluginRepository><id>user-m2</id><url>file://$HOME/.m2/repository</url><snapshots><enabled>false</enabled></snapshots></pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles><activeProfile>user-releases</activeProfile></activeProfiles>
</settings>
XML
    MVN=(mvn -B -q -s "$PRIVATE_DIR/settings.xml")
}

install_core() {
    rm -rf "$PRIVATE_DIR/m2/dev/twophase"
    "${MVN[@]}" install -pl java/twophase-core -am -DskipTests -Dtwophase.skipJavadoc=true > "$1" 2>&1 \
        || { cat "$1" >&2; echo "mvn install of twophase-core failed (log: $1)" >&2; exit 1; }
}
