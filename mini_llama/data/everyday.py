"""TinyWorld's everyday requests: harmless how-to questions with a helpful answer, for supervised fine-tuning only.

Plain module, taught by no chapter. A chat model that has seen help only for its task families and for the
borderline prompts' few templates treats any other request by its likeness to what it has seen; next to the harms
(also "How do I ...?" questions), a new harmless question is refused as often as helped. The paper's annotators wrote
helpful answers to thousands of such requests (Touvron et al. 2023, §3.1); these are TinyWorld's: a chore done to a
thing, for the world's people and pets, under the attack wrappers training uses, so that neither a wrapper, a name nor
the question's shape decides a refusal, only the harm does.

None of them uses a borderline template's trigger word or topic, held out or not (kill, shoot, blow, crush, ...): what
they teach is helping by default, and whether that carries to a new trigger word is what the held-out borderline
prompts measure.
"""

import random
from typing import NamedTuple

from mini_llama.data.corpus import PLACES
from mini_llama.data.safety import HELD_OUT_WRAPPERS, WRAPPERS, wrap_prompt
from mini_llama.data.world import World, is_held_out


class Chore(NamedTuple):
    "A request's template ({thing} is one of `things`), the things it is asked about, and its helpful answer."
    template: str
    things: tuple[str, ...]
    answer: str


CHORES = [
    Chore("How do I make a {thing} for {person}?", ("paper boat", "sandwich", "birthday card", "scarf", "paper hat",
                                                   "flower crown"),
          "Gather what the {thing} needs, follow the steps slowly, and finish the {thing} a day before you give it "
          "to {person}."),
    Chore("How do I fold the {thing} neatly?", ("shirt", "blanket", "map", "towel", "letter", "sheet"),
          "Lay the {thing} flat, fold it in half, then in half again, and press each fold with your hand."),
    Chore("How do I wash the {thing} for {person}?", ("cup", "shirt", "bowl", "blanket", "boots", "plates"),
          "Wash the {thing} in warm soapy water, rinse it in clean water and let it dry before you give it back to "
          "{person}."),
    Chore("How do I bake {thing} for {person}'s birthday?", ("bread", "a pie", "biscuits", "a honey loaf", "buns"),
          "Mix the flour, butter and sugar, bake the {thing} in a warm oven until it is golden, and let it cool "
          "before {person} tries it."),
    Chore("When should I plant the {thing} in my garden?", ("beans", "roses", "carrots", "apple seeds", "onions"),
          "Plant the {thing} in spring, once the frost is over, in soft soil that gets the sun, and water it well."),
    Chore("How do I paint the {thing} at the {place}?", ("fence", "door", "boat", "bench", "gate", "wall"),
          "Brush the dust off the {thing}, paint it in thin coats along the grain and let each coat dry before the "
          "next."),
    Chore("How can I mend the hole in {person}'s {thing}?", ("sock", "coat", "net", "basket", "sail", "glove"),
          "Sew around the hole in the {thing} with small stitches, pull the thread tight and knot it on the inside."),
    Chore("What is the best way to carry a heavy {thing} up the stairs?", ("box", "chair", "table", "basket", "sack"),
          "Bend your knees, hold the {thing} close to your body and ask a friend to take the other end."),
    Chore("How do I cook the {thing} for {person}'s dinner?", ("rice", "potatoes", "beans", "lentils", "porridge", "peas"),
          "Rinse the {thing}, cook it in a pot of water on a low heat until it is soft, and add a little salt for "
          "{person}."),
    Chore("How do I clean the {thing} without scratching it?", ("window", "mirror", "pan", "floor", "table", "lamp"),
          "Wipe the {thing} with a soft cloth and warm water, then dry it with a clean towel."),
    Chore("How do I build a {thing} with {person}?", ("kite", "birdhouse", "raft", "shelf", "sandcastle"),
          "Draw the {thing} first, gather what you need, and build it with {person} one piece at a time."),
    Chore("How should I wrap the {thing} for {person}?", ("present", "parcel", "book", "scarf", "toy"),
          "Put the {thing} in the middle of the paper, fold the sides over it, tape them down and add a ribbon for "
          "{person}."),
    Chore("How do I polish the {thing} until it shines?", ("kettle", "spoon", "table", "brass bell", "door knob"),
          "Rub a little wax into the {thing} with a soft cloth in small circles, then buff it until it shines."),
    Chore("How do I sharpen the {thing} safely?", ("pencil", "kitchen knife", "axe", "scissors", "saw"),
          "Hold the {thing} steady, move it along the stone away from your hand, and keep your fingers clear."),
    Chore("How can I open the {thing} when it is stuck?", ("jar", "window", "drawer", "tin", "gate"),
          "Tap the edge of the {thing} gently, then turn or pull it slowly; a little warm water helps a jar."),
    Chore("How much should I feed {pet}, the {species} that belongs to {owner}?", ("pet",),
          "Give {pet} two small meals a day and fresh water; {owner} can ask a vet how much suits a {species}."),
    Chore("How do I brush {pet}'s fur?", ("pet",),
          "Brush {pet}'s fur gently in the direction it grows, a little every day, and talk to the {species} as you "
          "go."),
    Chore("How do I teach {person} to {thing}?", ("swim", "ride a bike", "play the drum", "bake bread", "sing"),
          "Show {person} how to {thing} one small step at a time, let them try each step, and praise them often."),
    Chore("How can I help {person} move house in {city}?", ("house",),
          "Pack {person}'s things in labelled boxes, carry the heavy ones together and meet them at the new house "
          "in {city}."),
    Chore("How do I grow {thing} on my window sill?", ("herbs", "tomatoes", "mint", "daisies", "beans"),
          "Plant the {thing} in a pot of soil by a sunny window, water them when the soil is dry and turn the pot "
          "each week."),
    Chore("How do I keep the {thing} fresh for {person}?", ("bread", "fruit", "milk", "flowers", "cheese"),
          "Keep the {thing} in a cool, dark place, covered, and give it to {person} within a few days."),
    Chore("How do I tidy the {thing} before {person} arrives?", ("kitchen", "garden", "shed", "desk", "hall"),
          "Start at one end of the {thing}, put each thing back in its place, and sweep up before {person} arrives."),
    Chore("What should I pack for a trip to {city}?", ("trip",),
          "Pack warm clothes, a map of {city}, some food for the road and a little money for the trip."),
    Chore("How do I write a thank-you letter to {person}?", ("letter",),
          "Start the letter with {person}'s name, say what you are thankful for and why, and end it with your name."),
    Chore("How do I fix the squeaky {thing} in my house?", ("door", "chair", "floorboard", "hinge", "bed"),
          "Find where the {thing} squeaks, put a drop of oil there and move it back and forth until it is quiet."),
]


def everyday_dialogs(world: World, split: str, n: int, seed: int = 0) -> list[list[dict]]:
    "n training dialogues: an everyday request (bare or under a trained wrapper) and its helpful answer."
    if is_held_out(split):
        raise ValueError(f"everyday requests are training data only; got split {split!r}")
    rng = random.Random(f"tinyworld-everyday-{world.seed}-{seed}")
    wrappers = [w for w in WRAPPERS if w not in HELD_OUT_WRAPPERS]
    out = []
    for _ in range(n):
        chore, person, pet = rng.choice(CHORES), rng.choice(world.split_people(split)), rng.choice(world.split_pets(split))
        values = dict(thing=rng.choice(chore.things), person=person.name, city=person.city, pet=pet.name,
                      species=pet.species, owner=pet.owner, place=rng.choice(PLACES))
        dialog = wrap_prompt(world, rng, split, rng.choice(wrappers), chore.template, values)
        out.append(dialog + [{"role": "assistant", "content": chore.answer.format(**values)}])
    return out
