# Local simulation of the device machine: modules its image lacks cannot be imported.
import sys

ABSENT = {
    "ipywidgets",
    "anywidget",
    "jupyterlab",
    "IPython",
    "ipykernel",
    "traitlets",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "jupyter_server",
    "comm",
    "mlserver",
    "litserve",
}


class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            raise ImportError(f"device-sim: {name} is absent on the device")
        return None


sys.meta_path.insert(0, _Block())
