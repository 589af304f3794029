"""A flow whose steps use decorators of the user's own (StepDecorator subclasses): one asks for retries, sets an
environment variable and reports every hook; one catches failures."""

import os

from flowstone import FlowSpec, current, step
from flowstone.flow import StepDecorator, make_step_decorator


class FlakyGuard(StepDecorator):
    """Retries the step's code, at once; sets GUARD_LABEL while it runs; prints each hook it sees."""

    name = "flaky_guard"
    defaults = {"retries": 2, "label": "guarded"}

    def extra_attempts(self):
        return int(self.attributes["retries"]), 0

    def task_environment(self):
        return {"GUARD_LABEL": self.attributes["label"]}

    def task_pre_step(self, flow):
        print(f"hook pre attempt {current.retry_count}")

    def task_post_step(self, flow):
        print("hook post")

    def task_exception(self, exc, flow):
        print(f"hook exception {type(exc).__name__}")
        return False

    def task_finally(self, flow):
        print("hook finally")


class Swallow(StepDecorator):
    """Turns any failure of the step into success, remembering the message."""

    name = "swallow"

    def task_exception(self, exc, flow):
        flow.swallowed = str(exc)
        return True


flaky_guard = make_step_decorator(FlakyGuard)
swallow = make_step_decorator(Swallow)


class CustomDecoratorFlow(FlowSpec):
    @flaky_guard(label="from-the-decorator")
    @step
    def start(self):
        self.label = os.environ["GUARD_LABEL"]
        if current.retry_count < 2:
            raise RuntimeError(f"attempt {current.retry_count} fails on purpose")
        self.succeeded_on = current.retry_count
        self.next(self.fragile)

    @swallow
    @step
    def fragile(self):
        if self.label:
            raise KeyError("always fails")
        self.next(self.end)

    @step
    def end(self):
        self.label_in_end = os.environ.get("GUARD_LABEL")


if __name__ == "__main__":
    CustomDecoratorFlow()
