"""A card that a step refreshes while it runs; the step works until the file CARD_GATE exists (at most a minute),
then fails if CARD_FAIL is set."""

import os
import time

from flowstone import FlowSpec, card, current, step
from flowstone.cards import Markdown, ProgressBar


class CardLiveFlow(FlowSpec):
    @card(refresh_interval=0)
    @step
    def start(self):
        bar = ProgressBar(max=1000, label="Items")
        current.card.append(Markdown("# Live report"))
        current.card.append(bar)
        current.card.refresh()
        gate, deadline, done = os.environ.get("CARD_GATE"), time.time() + 60, 0
        while gate and not os.path.exists(gate) and time.time() < deadline:
            done += 1
            bar.update(done)
            current.card.refresh()
            time.sleep(0.1)  # a step doing its work, an item at a time
        self.done = done
        if os.environ.get("CARD_FAIL"):
            raise RuntimeError("the step fails after its live card was shown")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardLiveFlow()
