"""Class-level constants and Metaflow's private names, read in every kind of step."""

from flowstone import FlowSpec, Parameter, current, step


class ConstantsFlow(FlowSpec):
    RATE = 0.5
    LABELS = ("x", "y")
    scale = Parameter("scale", default=3)

    @step
    def start(self):
        self.steps_seen = [self._current_step]
        self.parameter_names_seen = list(current.parameter_names)
        try:
            self.RATE = 1.0
        except AttributeError as exc:
            self.refused = str(exc)
        self.items = list(self.LABELS)
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.frames = [(frame.var, frame.index) for frame in self._foreach_stack]
        self.rate_seen = self.RATE * self.scale
        self.next(self.join)

    @step
    def join(self, inputs):
        self.rates = [inp.rate_seen for inp in inputs]
        self.rate_in_join = self.RATE
        self.parameter_names_in_join = list(current.parameter_names)
        self.next(self.end)

    @step
    def end(self):
        self.node_type = self._graph[self._current_step].type


if __name__ == "__main__":
    ConstantsFlow()
