"""Java processors: a real class compiled with javac, run in the instance's JVM (SPEC §6).

The class is the EAS manual's prototype: ``(String modelEntry, String modelConfig)``,
``Load()``, ``byte[] Process(byte[])``; an exception's message answers 400.
"""

from __future__ import annotations

import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from kernel_helpers import ECHO_APP, post, wait_for

from easlab.errors import SpecError

TOKEN = "tok-" + "j" * 8

ECHO_JAVA = """
package com.example;

import java.nio.charset.StandardCharsets;

public class EchoProcessor {
    private final String prefix;
    private final String entry;
    private boolean loaded;

    public EchoProcessor(String modelEntry, String modelConfig) {
        this.entry = modelEntry;
        this.prefix = modelConfig;
    }

    public void Load() {
        loaded = true;
        System.out.println("EchoProcessor loaded " + entry);
    }

    public byte[] Process(byte[] input) {
        String text = new String(input, StandardCharsets.UTF_8);
        if (text.equals("bad")) {
            throw new IllegalArgumentException("bad json format, send {\\"x\\": 1}");
        }
        if (text.equals("npe")) {
            String missing = null;
            return missing.getBytes(StandardCharsets.UTF_8);  // HotSpot's own NPE (a SIGSEGV)
        }
        if (text.equals("silent")) {
            throw new IllegalStateException();  // no message
        }
        if (text.equals("null")) {
            return null;
        }
        if (text.equals("entry")) {
            return entry.getBytes(StandardCharsets.UTF_8);
        }
        return (prefix + ":" + (loaded ? "" : "not loaded:") + text).getBytes(StandardCharsets.UTF_8);
    }
}
"""

TEXT_JAVA = """
package com.example;

public class TextProcessor {
    public TextProcessor(String modelEntry, String modelConfig) {}
    public void Load() {}
    public String Process(String input) { return input.toUpperCase() + " ✓"; }
}
"""

FAILING_LOAD_JAVA = """
package com.example;

public class FailingLoad {
    public FailingLoad(String modelEntry, String modelConfig) {}
    public void Load() { throw new IllegalStateException("model file missing: " + "x.bin"); }
    public byte[] Process(byte[] input) { return input; }
}
"""

LOWERCASE_JAVA = """
package com.example;

public class Lowercase {
    public Lowercase(String modelEntry, String modelConfig) {}
    public void Load() {}
    public byte[] process(byte[] input) { return input; }
}
"""


def compile_java(folder, sources: dict[str, str], jar: str | None = None):
    """javac each class into ``folder`` (a jar of them when ``jar`` is given)."""
    src = folder / "src"
    classes = folder / "classes"
    for name, text in sources.items():
        (src / "com" / "example").mkdir(parents=True, exist_ok=True)
        (src / "com" / "example" / f"{name}.java").write_text(textwrap.dedent(text))
    files = [str(p) for p in (src / "com" / "example").glob("*.java")]
    # --release 11: class files an older Java on EAS would load too
    subprocess.run(["javac", "--release", "11", "-d", str(classes), *files], check=True)
    if jar is None:
        return classes
    out = folder / "dist"
    out.mkdir()
    subprocess.run(["jar", "cf", str(out / jar), "-C", str(classes), "."], check=True)
    return out


def java_spec(name, path, mainclass, **extra):
    spec = {
        "name": name,
        "token": TOKEN,
        "processor_type": "java",
        "processor_path": str(path),
        "processor_mainclass": mainclass,
        "model_config": "cfg",
        "metadata": {"instance": 1},
    }
    spec.update(extra)
    return spec


@pytest.fixture(scope="module")
def jar_folder(tmp_path_factory):
    return compile_java(
        tmp_path_factory.mktemp("java"),
        {
            "EchoProcessor": ECHO_JAVA,
            "TextProcessor": TEXT_JAVA,
            "FailingLoad": FAILING_LOAD_JAVA,
            "Lowercase": LOWERCASE_JAVA,
        },
        jar="processor.jar",
    )


def test_the_manuals_java_processor_serves(kernel, jar_folder, tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    svc = kernel.create(
        java_spec(
            "java_echo",
            jar_folder,
            "com.example.EchoProcessor",
            processor_entry="processor.jar",
            model_path=str(model),
        )
    )
    assert svc.status == "Running", svc.desc["message"]
    assert post(svc.url, b"hello", TOKEN).content == b"cfg:hello"  # Load() ran first
    big = b"z" * 300_000
    assert post(svc.url, big, TOKEN).content == b"cfg:" + big
    assert post(svc.url, b"entry", TOKEN).content == str(model).encode()
    empty = post(svc.url, b"null", TOKEN)
    assert empty.status_code == 200 and empty.content == b""
    # EAS: an exception's message with 400
    bad = post(svc.url, b"bad", TOKEN)
    assert bad.status_code == 400 and bad.text == 'bad json format, send {"x": 1}'
    npe = post(svc.url, b"npe", TOKEN)
    assert npe.status_code == 400 and npe.text.startswith('Cannot invoke "String.getBytes')
    silent = post(svc.url, b"silent", TOKEN)
    assert silent.status_code == 400 and silent.text == "java.lang.IllegalStateException"

    def logged() -> str:
        return "\n".join(kernel.client.logs("java_echo", 0))

    # the Java stack trace, for the author, in the service log
    wait_for(lambda: "at com.example.EchoProcessor.Process" in logged(), what="the stack trace")
    assert "EchoProcessor loaded" in logged()  # System.out reaches the log too
    assert post(svc.url, b"after", TOKEN).content == b"cfg:after"
    # the instance's worker threads call Process side by side, each attached to the JVM
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(svc.url, b"%d" % i, TOKEN).content, range(64)))
    assert answers == [b"cfg:%d" % i for i in range(64)]


def test_a_folder_of_classes_and_a_string_process(kernel, tmp_path_factory):
    classes = compile_java(tmp_path_factory.mktemp("javatext"), {"TextProcessor": TEXT_JAVA})
    svc = kernel.create(java_spec("java_text", classes, "com.example.TextProcessor"))
    assert svc.status == "Running", svc.desc["message"]
    assert post(svc.url, "héllo".encode(), TOKEN).content == "HÉLLO ✓".encode()
    refused = post(svc.url, b"\xff\xfe", TOKEN)
    assert refused.status_code == 400 and "not UTF-8 text" in refused.text


def test_mistakes_say_what_to_fix(kernel, jar_folder, python_service):
    neighbour = python_service("java_neighbour", ECHO_APP, token=TOKEN)
    svc = kernel.create(java_spec("java_missing", jar_folder, "com.example.Nope"))
    assert svc.status == "Failed"
    assert (
        "processor_mainclass 'com.example.Nope' is not on the classpath (processor.jar"
        in (svc.desc["message"])
    )
    svc = kernel.create(java_spec("java_lower", jar_folder, "com.example.Lowercase"))
    assert svc.status == "Failed"
    assert "has no public Process(byte[])" in svc.desc["message"]
    assert "it has process: EAS calls Process, capital P" in svc.desc["message"]
    svc = kernel.create(java_spec("java_load", jar_folder, "com.example.FailingLoad"))
    assert svc.status == "Failed"
    assert (
        "com.example.FailingLoad.Load() threw java.lang.IllegalStateException: "
        "model file missing: x.bin" in svc.desc["message"]
    )
    with pytest.raises(SpecError, match=r"'x.jar' not found in .* \(it holds processor.jar\)"):
        kernel.create(
            java_spec(
                "java_entry", jar_folder, "com.example.EchoProcessor", processor_entry="x.jar"
            )
        )
    assert post(neighbour.url, b"still here", TOKEN).content == b"still here"
    for name in ("java_missing", "java_lower", "java_load"):
        kernel.delete(name)


def test_processor_path_may_be_the_jar_itself(kernel, jar_folder):
    spec = java_spec("java_jar", jar_folder / "processor.jar", "com.example.EchoProcessor")
    svc = kernel.create(spec)
    assert svc.status == "Running", svc.desc["message"]
    assert post(svc.url, b"x", TOKEN).content == b"cfg:x"
    kernel.delete("java_jar")
