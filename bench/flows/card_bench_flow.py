"""A task with 50 artifacts of the usual kinds, for the card benchmark (bench/card_ops.py)."""

import base64

from flowstone import FlowSpec, step

DOT = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class CardBenchFlow(FlowSpec):
    @step
    def start(self):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(0)
        values = {}
        for i in range(10):
            values[f"number_{i}"] = i * 1.5
            values[f"text_{i}"] = "lorem ipsum " * (10 ** (i % 4))
            values[f"mapping_{i}"] = {f"key{k}": list(range(k % 20)) for k in range(10 ** (1 + i % 3))}
        for i in range(8):
            values[f"array_{i}"] = rng.random(10 ** (2 + i % 5))
        for i in range(5):
            values[f"frame_{i}"] = pd.DataFrame(rng.random((1000, 10)), columns=[f"c{c}" for c in range(10)])
            values[f"pairs_{i}"] = tuple((k, str(k)) for k in range(50))
        values["image_0"], values["image_1"] = DOT, DOT
        for name, value in values.items():
            setattr(self, name, value)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardBenchFlow()
