"""Build base.pt, the small checkpoint that the untrained model version samples from.

Run from this directory with the platform's python (torch is all it needs)::

    python make_base.py

It trains a fresh network on BASE_TEXT below (plain English prose written for this repository,
so there is no licence to worry about) and writes base.pt next to this file, in about ten
seconds on two CPU cores. The seed is fixed, so a rebuild gives the same model up to
floating-point differences between machines and torch versions. The training stops well
before the network memorises the text: the base should write English-like text of its own,
not recite these paragraphs.
"""

import time
from pathlib import Path

import torch
from model import CharLM, fit

STEPS = 350
LEARNING_RATE = 0.004
SEED = 1234

BASE_TEXT = """\
The house at the end of the lane had been empty for three winters. Nobody in the village could
say who owned it now. The roof still held, the windows were whole, and every spring the garden
came back on its own: first the snowdrops under the hedge, then the long grass, then a tangle of
roses that nobody had pruned in years.

One morning in early April a woman arrived with a small cart and a dog. She unlocked the front
door with a key that she kept on a string around her neck, and she opened every window in the
house before she carried a single box inside. By the evening there was smoke from the chimney
and a lamp in the kitchen, and the dog was asleep on the step as if it had always lived there.

The children were the first to visit. They stood at the gate and watched her dig. She did not
chase them away, and she did not ask them in. After a while she held up a spade and said that
it was heavy work for one person, and that she paid in apples. That was enough. By the end of
the week the garden had straight paths again, a row of beans, a bed of onions and a bench under
the pear tree where the old wall caught the afternoon sun.

In the village shop they talked about her for a month. Some said she was a teacher who had
given up teaching; others said she had been a sailor, because she could tie a knot faster than
anyone had ever seen. The baker said she paid for her bread with coins from another century.
The truth, when it came out, was simpler. She had grown up in the house, left it at sixteen,
and promised herself that she would come back when she had something worth bringing home.

What she had brought home was a library. There were books in every box on the cart, and more
arrived by post for the rest of the year: books about rivers and bridges, about the weather,
about stars and seeds and the slow work of bees. She lent them to anyone who asked, and she
wrote the name of each borrower in a green notebook that lived on the kitchen table. Nobody
ever forgot to bring a book back. It would have felt like breaking a promise.

On winter evenings the kitchen filled with people. A farmer came to read about drainage and
stayed to learn the names of the constellations. Two brothers who had not spoken in ten years
found themselves at opposite ends of the same table, reading the same book about boats, and by
spring they were building one together in the barn. The woman listened more than she talked.
When she did talk, it was usually a question.

"What would you do," she asked the children once, "if you had a whole year and nothing you had
to do with it?" One said he would walk to the sea. One said she would learn to draw birds. The
smallest one said she would read every book in the kitchen, twice. The woman laughed and said
that was the best answer, because the second reading is always the better one.

Years later, when the children had grown up and gone away and some of them had come back, the
house at the end of the lane still had a lamp in the kitchen window. The green notebook had
become a shelf of green notebooks. The pear tree had been struck by lightning and had grown
again from the root. And on the bench under the old wall, on any warm afternoon, you could find
someone reading, with a dog asleep at their feet and the sound of bees in the roses.

A good tool is a quiet thing. It does one job, it does it the same way every time, and it
tells you plainly when something is wrong. The best workshops are full of such tools: a plane
that has been sharpened so often that its blade is half its first length, a square that is
still true after fifty years, a mallet with a handle worn smooth by three generations of hands.
None of them is clever. All of them are trusted.

Rain came in from the west that night, light at first and then steady. It ran along the gutters
and filled the barrels by the shed, and in the morning the whole valley smelled of wet earth and
cut grass. The river was high and brown. Down at the mill the wheel turned faster than it had
all summer, and the miller stood in the doorway with his coffee, watching the water and saying
nothing at all, which was how he liked his mornings best.
"""


def main() -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    started = time.perf_counter()
    lm = CharLM()  # the base vocabulary: newline and printable ASCII
    fit(lm, BASE_TEXT, steps=STEPS, learning_rate=LEARNING_RATE, seed=SEED, log_every=100)
    target = lm.save(Path(__file__).resolve().parent / "base.pt")
    print(
        f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    print("sample:", repr(lm.generate("The ", 200, temperature=0.8, seed=1)))


if __name__ == "__main__":
    main()
