"""Cards: a report of each step, made with components, viewed with `card view` or `card server`.

    python examples/card_flow.py run
    python examples/card_flow.py card view train        # the train step's card, in a browser
    python examples/card_flow.py card server            # every card of the latest run, live while it runs
"""

import random
import time

from flowstone import FlowSpec, Parameter, card, current, step
from flowstone.cards import Markdown, ProgressBar, Table, ValueBox, VegaChart


class CardExampleFlow(FlowSpec):
    epochs = Parameter("epochs", default=20, help="How many epochs to train for.")

    @card  # the default card: this task's artifacts, parameters, timing and place in the graph
    @step
    def start(self):
        rng = random.Random(7)
        self.samples = [{"x": i, "y": 2 * i + rng.gauss(0, 3)} for i in range(40)]
        self.next(self.train)

    @card(type="blank", id="training", refresh_interval=1)
    @step
    def train(self):
        current.card.append(Markdown("# Training\nA straight line fitted to the samples, one epoch at a time."))
        progress = ProgressBar(max=self.epochs, label="Epochs")
        current.card.append(progress)
        slope, history = 0.0, []
        for epoch in range(1, self.epochs + 1):
            gradient = sum((slope * s["x"] - s["y"]) * s["x"] for s in self.samples) / len(self.samples)
            slope -= 0.001 * gradient
            loss = sum((slope * s["x"] - s["y"]) ** 2 for s in self.samples) / len(self.samples)
            history.append({"epoch": epoch, "loss": loss})
            progress.update(epoch, metadata=f"loss {loss:.2f}")
            current.card.refresh()  # watchers of `card server` see it move
            time.sleep(0.05)
        self.slope, self.history = slope, history
        current.card.append(ValueBox(title="Fitted slope", value=round(slope, 3), theme="success"))
        current.card.append(VegaChart({
            "data": {"values": history},
            "mark": "line",
            "encoding": {"x": {"field": "epoch", "type": "quantitative"},
                         "y": {"field": "loss", "type": "quantitative", "scale": {"type": "log"}}},
        }))  # fmt: skip
        current.card.append(Table([[h["epoch"], f"{h['loss']:.2f}"] for h in history[-5:]], headers=["epoch", "loss"]))
        self.next(self.end)

    @step
    def end(self):
        print(f"slope {self.slope:.3f} after {self.epochs} epochs")


if __name__ == "__main__":
    CardExampleFlow()
