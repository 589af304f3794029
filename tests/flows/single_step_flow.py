"""A flow of one step: it starts and ends the flow."""

from flowstone import FlowSpec, Parameter, step


class SingleStepFlow(FlowSpec):
    size = Parameter("size", default=3)

    @step(start=True, end=True)
    def only(self):
        self.result = list(range(self.size))


if __name__ == "__main__":
    SingleStepFlow()
