from flowstone import FlowSpec, step


class BenchLinearFlow(FlowSpec):
    @step
    def start(self):
        self.counter = 0
        self.next(self.step1)

    @step
    def step1(self):
        self.counter += 1
        self.next(self.step2)

    @step
    def step2(self):
        self.counter += 1
        self.next(self.step3)

    @step
    def step3(self):
        self.counter += 1
        self.next(self.step4)

    @step
    def step4(self):
        self.counter += 1
        self.next(self.step5)

    @step
    def step5(self):
        self.counter += 1
        self.next(self.step6)

    @step
    def step6(self):
        self.counter += 1
        self.next(self.step7)

    @step
    def step7(self):
        self.counter += 1
        self.next(self.step8)

    @step
    def step8(self):
        self.counter += 1
        self.next(self.step9)

    @step
    def step9(self):
        self.counter += 1
        self.next(self.step10)

    @step
    def step10(self):
        self.counter += 1
        self.next(self.step11)

    @step
    def step11(self):
        self.counter += 1
        self.next(self.step12)

    @step
    def step12(self):
        self.counter += 1
        self.next(self.step13)

    @step
    def step13(self):
        self.counter += 1
        self.next(self.step14)

    @step
    def step14(self):
        self.counter += 1
        self.next(self.step15)

    @step
    def step15(self):
        self.counter += 1
        self.next(self.step16)

    @step
    def step16(self):
        self.counter += 1
        self.next(self.step17)

    @step
    def step17(self):
        self.counter += 1
        self.next(self.step18)

    @step
    def step18(self):
        self.counter += 1
        self.next(self.end)

    @step
    def end(self):
        self.counter += 1


if __name__ == "__main__":
    BenchLinearFlow()
