"""A flow that predicts with the model of ModelFlow's latest run, found through the Client API."""

from flowstone import Flow, FlowSpec, step


class PredictFlow(FlowSpec):
    @step
    def start(self):
        self.inputs = [1, 2, 3]
        self.next(self.predict)

    @step
    def predict(self):
        run = Flow("ModelFlow").latest_run
        self.model_run = run.pathspec
        self.predictions = [x * run.data.model["weight"] for x in self.inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PredictFlow()
