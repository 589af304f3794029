from behaviours import misbehave

from flowstone import FlowSpec, step


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        misbehave(self)
        self.rows = ["r0", "r1"]
        self.next(self.row, foreach="rows")

    @step
    def row(self):
        misbehave(self)
        self.row_name = self.input
        self.cols = [0, 1, 2]
        self.next(self.cell, foreach="cols")

    @step
    def cell(self):
        misbehave(self)
        stack = self.foreach_stack()
        self.cell_id = f"{self.row_name}:{self.input}:{[(i, n) for i, n, _ in stack]}"
        self.next(self.join_cols)

    @step
    def join_cols(self, inputs):
        misbehave(self)
        self.row_cells = [inp.cell_id for inp in inputs]
        self.next(self.join_rows)

    @step
    def join_rows(self, inputs):
        misbehave(self)
        self.grid = [inp.row_cells for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        self.result = {"grid": self.grid}


if __name__ == "__main__":
    NestedForeachFlow()
