"""Java processors: an EAS Java processor class run unchanged (SPEC §6).

The class, as the EAS manual writes it::

    public class TestProcessor {
        public TestProcessor(String modelEntry, String modelConfig) { ... }
        public void Load() { ... }
        public byte[] Process(byte[] input) { ... }
    }

The instance starts a JVM in its own process through JPype (``jvm.py``), with the
processor on its classpath, builds the class with the model's path and
``model_config`` (as text), calls ``Load()`` once, then ``Process`` per request
from the instance's worker threads. As on EAS, an exception thrown by
``Process`` answers 400 with its message (the Java stack trace goes to the
service log). ``Process`` may take and return ``byte[]`` or ``String`` (UTF-8);
a ``null`` answer is an empty body.

service.json: ``"processor_type": "java"``, ``"processor_path"`` (a .jar, a
folder, or an archive of them), ``"processor_mainclass"`` (the class, e.g.
``com.aliyun.TestProcessor``) and optionally ``"processor_entry"`` (the jar in
that folder). The classpath: that jar, then every other .jar in the folder and
in its ``lib/``, then the folder itself (loose ``.class`` files).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from easlab.kernel.processors.base import Processor, ProcessorContext, ProcessorError
from easlab.kernel.processors.jvm import start_jvm

PROTOTYPE = (
    "public class C { public C(String modelEntry, String modelConfig); "
    "public void Load(); public byte[] Process(byte[] input); }"
)


def classpath(ctx: ProcessorContext) -> tuple[Path, list[str]]:
    """The processor's folder and the classpath its class is loaded from (module doc)."""
    path = ctx.processor_path
    if path is None:
        raise ProcessorError(
            400, "a java processor needs `processor_path` (a .jar, or the folder holding it)"
        )
    if path.is_file():
        return path.parent, [str(path)]
    entries: list[Path] = []
    entry = ctx.processor_entry
    if entry:
        jar = path / entry
        if not jar.is_file():
            raise ProcessorError(
                400,
                f"processor_entry {entry!r} not found in {path}; name the .jar that holds "
                "processor_mainclass, or leave processor_entry out to use every .jar there",
            )
        entries.append(jar)
    for folder in (path, path / "lib"):
        entries += [jar for jar in sorted(folder.glob("*.jar")) if jar not in entries]
    return path, [str(p) for p in entries] + [str(path)]


def _config_text(config: Any) -> str:
    if config is None:
        return ""
    return config if isinstance(config, str) else json.dumps(config)


def java_message(exc: Any) -> str:
    """A Java exception in words: its message, else its class (``null`` message)."""
    message = exc.getMessage()
    return str(message) if message is not None else str(exc.getClass().getName())


class JavaProcessor(Processor):
    """Builds ``processor_mainclass`` once, calls ``Load()``, then ``Process`` per request."""

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self._process: Any = None
        self._takes_text = False
        self._gives_text = False
        self._to_java: Any = None
        self._thrown_type: Any = None  # jpype.JException, kept off each request's imports
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def initialize(self) -> None:
        mainclass = str(self.ctx.spec.get("processor_mainclass") or "").strip()
        if not mainclass:
            raise ProcessorError(
                400,
                "a java processor needs `processor_mainclass`: the class to load, "
                'e.g. "processor_mainclass": "com.aliyun.TestProcessor"',
            )
        folder, jars = classpath(self.ctx)
        os.chdir(folder)  # the class opens relative files as inside EAS
        start_jvm(jars, "a java processor", "java")
        import jpype

        try:
            cls = jpype.JClass(mainclass)
        except TypeError:  # JPype: "Class com.x.Y is not found"
            raise ProcessorError(
                400,
                f"processor_mainclass {mainclass!r} is not on the classpath "
                f"({', '.join(Path(p).name for p in jars)}); give the fully qualified name "
                "(package and class) of a public class in processor_path",
            ) from None
        methods: dict[str, list[tuple[list[str], str]]] = {}
        for method in cls.class_.getMethods():
            params = [str(t.getName()) for t in method.getParameterTypes()]
            methods.setdefault(str(method.getName()), []).append(
                (params, str(method.getReturnType().getName()))
            )
        process = [m for m in methods.get("Process", []) if m[0] in (["[B"], ["java.lang.String"])]
        if not process:
            similar = [name for name in methods if name.lower() == "process"]
            hint = f" (it has {similar[0]}: EAS calls Process, capital P)" if similar else ""
            raise ProcessorError(
                400,
                f"{mainclass} has no public Process(byte[]) or Process(String){hint}; "
                f"the class EAS loads: {PROTOTYPE}",
            )
        params, returns = next((m for m in process if m[0] == ["[B"]), process[0])
        self._takes_text = params == ["java.lang.String"]
        self._gives_text = returns == "java.lang.String"
        self._to_java = jpype.JString if self._takes_text else jpype.JArray(jpype.JByte)
        entry = str(self.ctx.model_entry or self.ctx.model_path or "")
        try:
            instance = cls(jpype.JString(entry), jpype.JString(_config_text(self.ctx.model_config)))
        except TypeError:  # no (String, String) constructor
            raise ProcessorError(
                400,
                f"{mainclass} has no public constructor (String modelEntry, String modelConfig); "
                f"the class EAS loads: {PROTOTYPE}",
            ) from None
        except jpype.JException as exc:
            raise RuntimeError(self._thrown(exc, f"the constructor of {mainclass}")) from None
        if ([], "void") in methods.get("Load", []):
            try:
                instance.Load()
            except jpype.JException as exc:
                raise RuntimeError(self._thrown(exc, f"{mainclass}.Load()")) from None
        else:
            print(f"{mainclass} has no Load(); nothing loaded before the first request")
        self._process = instance.Process
        self._thrown_type = jpype.JException

    @staticmethod
    def _thrown(exc: Any, where: str) -> str:
        """What a start failure says; the Java stack trace goes to the service log."""
        sys.stderr.write(f"{where} threw:\n{str(exc.stacktrace()).rstrip()}\n")
        return f"{where} threw {exc.getClass().getName()}: {java_message(exc)}"

    def process(self, data: bytes) -> tuple[bytes, int]:
        if self._takes_text:
            try:
                arg = self._to_java(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                return (
                    f"the body is not UTF-8 text ({exc}); this processor's Process takes a "
                    "String: send text, or take byte[] in Process".encode(),
                    400,
                )
        else:
            arg = self._to_java(data)
        try:
            answer = self._process(arg)
        except self._thrown_type as exc:
            # EAS: the exception's message, with 400 (SPEC §6)
            self._log(exc)
            return java_message(exc).encode("utf-8", "replace"), 400
        if answer is None:
            return b"", 200
        if self._gives_text:
            return str(answer).encode("utf-8"), 200
        return bytes(memoryview(answer)), 200

    def _log(self, exc: Any) -> None:
        """The first stack trace from each place into the service log; repeats counted
        at 10, 100, ... (a failing client must not flood the log)."""
        trace = exc.getStackTrace()
        where = str(trace[0]) if len(trace) else ""
        key = (str(exc.getClass().getName()), where)
        with self._lock:
            count = self._seen[key] = self._seen.get(key, 0) + 1
        if count == 1:
            sys.stderr.write(f"Process threw (answered 400):\n{str(exc.stacktrace()).rstrip()}\n")
        elif math.log10(count).is_integer():
            sys.stderr.write(f"Process threw {key[0]} again ({count} times so far) at {where}\n")
        else:
            return
        sys.stderr.flush()
