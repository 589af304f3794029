"""A 20-step linear flow; BENCH_FAIL_AT=<step> makes that step fail (for the resume benchmark)."""

import os

from flowstone import FlowSpec, step


class BenchLinearFlow(FlowSpec):
    @step
    def start(self):
        if os.environ.get("BENCH_FAIL_AT") == "start":
            raise RuntimeError("planned failure in start")
        self.counter = 0
        self.next(self.step1)

    @step
    def step1(self):
        if os.environ.get("BENCH_FAIL_AT") == "step1":
            raise RuntimeError("planned failure in step1")
        self.counter += 1
        self.next(self.step2)

    @step
    def step2(self):
        if os.environ.get("BENCH_FAIL_AT") == "step2":
            raise RuntimeError("planned failure in step2")
        self.counter += 1
        self.next(self.step3)

    @step
    def step3(self):
        if os.environ.get("BENCH_FAIL_AT") == "step3":
            raise RuntimeError("planned failure in step3")
        self.counter += 1
        self.next(self.step4)

    @step
    def step4(self):
        if os.environ.get("BENCH_FAIL_AT") == "step4":
            raise RuntimeError("planned failure in step4")
        self.counter += 1
        self.next(self.step5)

    @step
    def step5(self):
        if os.environ.get("BENCH_FAIL_AT") == "step5":
            raise RuntimeError("planned failure in step5")
        self.counter += 1
        self.next(self.step6)

    @step
    def step6(self):
        if os.environ.get("BENCH_FAIL_AT") == "step6":
            raise RuntimeError("planned failure in step6")
        self.counter += 1
        self.next(self.step7)

    @step
    def step7(self):
        if os.environ.get("BENCH_FAIL_AT") == "step7":
            raise RuntimeError("planned failure in step7")
        self.counter += 1
        self.next(self.step8)

    @step
    def step8(self):
        if os.environ.get("BENCH_FAIL_AT") == "step8":
            raise RuntimeError("planned failure in step8")
        self.counter += 1
        self.next(self.step9)

    @step
    def step9(self):
        if os.environ.get("BENCH_FAIL_AT") == "step9":
            raise RuntimeError("planned failure in step9")
        self.counter += 1
        self.next(self.step10)

    @step
    def step10(self):
        if os.environ.get("BENCH_FAIL_AT") == "step10":
            raise RuntimeError("planned failure in step10")
        self.counter += 1
        self.next(self.step11)

    @step
    def step11(self):
        if os.environ.get("BENCH_FAIL_AT") == "step11":
            raise RuntimeError("planned failure in step11")
        self.counter += 1
        self.next(self.step12)

    @step
    def step12(self):
        if os.environ.get("BENCH_FAIL_AT") == "step12":
            raise RuntimeError("planned failure in step12")
        self.counter += 1
        self.next(self.step13)

    @step
    def step13(self):
        if os.environ.get("BENCH_FAIL_AT") == "step13":
            raise RuntimeError("planned failure in step13")
        self.counter += 1
        self.next(self.step14)

    @step
    def step14(self):
        if os.environ.get("BENCH_FAIL_AT") == "step14":
            raise RuntimeError("planned failure in step14")
        self.counter += 1
        self.next(self.step15)

    @step
    def step15(self):
        if os.environ.get("BENCH_FAIL_AT") == "step15":
            raise RuntimeError("planned failure in step15")
        self.counter += 1
        self.next(self.step16)

    @step
    def step16(self):
        if os.environ.get("BENCH_FAIL_AT") == "step16":
            raise RuntimeError("planned failure in step16")
        self.counter += 1
        self.next(self.step17)

    @step
    def step17(self):
        if os.environ.get("BENCH_FAIL_AT") == "step17":
            raise RuntimeError("planned failure in step17")
        self.counter += 1
        self.next(self.step18)

    @step
    def step18(self):
        if os.environ.get("BENCH_FAIL_AT") == "step18":
            raise RuntimeError("planned failure in step18")
        self.counter += 1
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("BENCH_FAIL_AT") == "end":
            raise RuntimeError("planned failure in end")
        self.counter += 1


if __name__ == "__main__":
    BenchLinearFlow()
