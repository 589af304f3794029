"""A flow that trains a "model" (its parameter, stored as an artifact), for another flow to read."""

from flowstone import FlowSpec, Parameter, step


class ModelFlow(FlowSpec):
    weight = Parameter("weight", default=1, help="the model's one weight")

    @step
    def start(self):
        self.model = {"weight": int(self.weight)}
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ModelFlow()
