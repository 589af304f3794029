"""A flow with included files, text and binary; FS_TEST_FAIL_IN_END makes its last step fail once."""

import os

from flowstone import FlowSpec, IncludeFile, step


class IncludeFlow(FlowSpec):
    """Reads included files in every step."""

    table = IncludeFile("table", help="a text file", default="table.csv")
    blob = IncludeFile("blob", is_text=False, required=False)

    @step
    def start(self):
        self.rows = self.table.splitlines()
        self.next(self.middle)

    @step
    def middle(self):
        self.blob_size = None if self.blob is None else len(self.blob)
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FS_TEST_FAIL_IN_END"):
            raise RuntimeError("planned failure in end")
        self.seen = {"table": self.table, "type": type(self.table).__name__, "blob": self.blob}


if __name__ == "__main__":
    IncludeFlow()
