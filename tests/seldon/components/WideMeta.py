"""Metadata the executor's graph metadata rewrites: a non-ASCII and HTML-unsafe name,
a custom block (not one of its ModelMetadata's fields), keys out of Go's order."""


class WideMeta:
    def predict(self, X, names):
        return X

    def init_metadata(self):
        return {
            "versions": ["v1"],
            "name": "模型 <v2>",
            "custom": {"owner": "data-team"},
            "platform": "p",
            "inputs": [{"shape": [1], "name": "x", "datatype": "BYTES"}],
            "outputs": [],
        }
