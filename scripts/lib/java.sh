# Sourced by the scripts: sets JAVA_HOME and JAVA to a JDK 25 or newer, or exits with a message.
java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }

find_jdk25() {
    local candidates=()
    [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
    candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/jdk-25*)
    local java_on_path
    java_on_path=$(command -v java 2>/dev/null) && candidates+=("$(dirname "$(dirname "$(readlink -f "$java_on_path")")")")
    local home
    for home in "${candidates[@]}"; do
        if [ -x "$home/bin/java" ] && [ "$(java_major "$home/bin/java")" -ge 25 ] 2>/dev/null; then
            export JAVA_HOME="$home"
            JAVA="$home/bin/java"
            return 0
        fi
    done
    echo "twophase: needs a JDK 25 or newer (java.lang.foreign); none found in JAVA_HOME, /usr/lib/jvm or on PATH" >&2
    exit 1
}
find_jdk25
