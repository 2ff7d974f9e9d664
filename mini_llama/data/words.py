"""TinyWorld's dictionary: the words of the word games, and how the corpus spells each of them.

Plain module, taught by no chapter. Spelling is world knowledge, as facts are: a model cannot see the letters inside
a token, so it learns that "goat" is g-o-a-t by reading it, and the corpus's dictionary source spells every word
below (the held-out game words too). The word games then ask for what the dictionary taught (spell, count, reverse)
about a word given in the prompt: answering a held-out word takes recall plus copying the prompt's word into the
answer, never a memorised answer from fine-tuning.
"""

import random

from mini_llama.data.world import in_split

# 424 everyday words of 3 to 8 letters, the world's objects, places, animals, colours and foods among them
WORDS = (
    "anchor", "angry", "ankle", "ant", "apple", "apples", "arm", "army", "arrow", "autumn", "axe", "badge", "bag",
    "ball", "banana", "bank", "banner", "barn", "barrel", "basket", "beach", "bean", "bear", "beard", "bed", "bee",
    "beetle", "bell", "bench", "berry", "bird", "black", "blade", "blanket", "blue", "boat", "bolt", "bone", "book",
    "bottle", "bowl", "box", "brave", "bread", "brick", "bridge", "bright", "broom", "brown", "brush", "bucket",
    "butter", "button", "cabin", "cabinet", "cage", "cake", "calm", "camel", "camp", "candle", "card", "carpet",
    "carrot", "castle", "cat", "cave", "chain", "chair", "chalk", "cheek", "cheese", "cherry", "chin", "church",
    "city", "clean", "clever", "cliff", "clock", "cloud", "coast", "coat", "coin", "cold", "comb", "cookie", "cord",
    "corn", "cow", "cozy", "crab", "cream", "crow", "crown", "cup", "curtain", "dark", "deep", "deer", "desert",
    "desk", "dice", "dish", "dog", "donkey", "door", "dragon", "drawer", "dream", "drum", "dry", "duck", "eagle",
    "ear", "early", "easy", "egg", "elbow", "empty", "evening", "eye", "face", "fair", "fan", "farm", "fast",
    "feather", "field", "finger", "fish", "flag", "flour", "flower", "flute", "foot", "forest", "fork", "fox",
    "frog", "game", "garden", "gate", "gentle", "gift", "glad", "glass", "glove", "goat", "gold", "goose", "grape",
    "grass", "green", "grey", "hair", "hammer", "hand", "happy", "harbor", "harp", "hat", "heart", "heavy",
    "hedgehog", "helmet", "hen", "high", "hill", "home", "honest", "honey", "hook", "horn", "horse", "house", "huge",
    "island", "jam", "jar", "joke", "jug", "juice", "kettle", "key", "kind", "kitchen", "kite", "kitten", "knee",
    "knife", "ladder", "ladle", "lake", "lamb", "lamp", "large", "late", "lazy", "leaf", "leg", "lemon", "letter",
    "library", "light", "lime", "lion", "lip", "lock", "loud", "lucky", "magnet", "map", "market", "mat", "meadow",
    "medal", "melon", "merry", "milk", "mill", "mirror", "mole", "moon", "moose", "morning", "moth", "mountain",
    "mouse", "mouth", "muffin", "mug", "mule", "nail", "narrow", "neat", "neck", "needle", "net", "night", "noisy",
    "noodle", "noon", "nose", "number", "nut", "oat", "ocean", "office", "old", "olive", "onion", "orange", "otter",
    "oven", "owl", "paint", "palace", "pan", "panda", "paper", "park", "parrot", "party", "pea", "peach", "pears",
    "pen", "pencil", "pepper", "piano", "picnic", "pie", "pig", "pillow", "pipe", "plain", "plate", "plums", "poem",
    "polite", "pond", "pony", "pot", "potato", "prison", "proud", "pumpkin", "puppy", "purple", "puzzle", "quick",
    "quiet", "rabbit", "rain", "rainbow", "red", "ribbon", "rice", "rich", "riddle", "ring", "river", "road",
    "robot", "rock", "rocket", "rope", "rough", "round", "rug", "sad", "saddle", "salad", "salt", "sand", "sauce",
    "scarf", "school", "sea", "seal", "secret", "sheep", "shelf", "shell", "shield", "shoe", "shop", "shoulder",
    "shovel", "shy", "sign", "silly", "simple", "sink", "sky", "slow", "small", "smooth", "snail", "snake", "snow",
    "soap", "sock", "sofa", "soft", "song", "soup", "sour", "spicy", "spider", "spoon", "spring", "star", "station",
    "stew", "stone", "stool", "storm", "story", "stream", "street", "strong", "sugar", "summer", "sun", "swan",
    "sweet", "sword", "table", "tall", "tea", "tent", "thick", "thin", "thumb", "ticket", "tidy", "tiger", "tiny",
    "toad", "toast", "toe", "tomato", "tooth", "towel", "tower", "town", "toy", "tray", "tree", "trumpet", "turtle",
    "valley", "village", "violin", "wagon", "warm", "water", "wave", "weak", "week", "well", "wet", "whale", "wheel",
    "whistle", "white", "wild", "wind", "window", "winter", "wire", "wise", "wizard", "wolf", "wood", "word", "worm",
    "yard", "year", "yellow", "young", "zebra"
)


def spelled(word: str) -> str:
    "The word's letters in lower case, joined by dashes: 'Goat' -> 'g-o-a-t'."
    return "-".join(word.lower())


def dictionary_entry(word: str) -> str:
    "What the dictionary says of a word, and the word games' working: its spelling, length and reversal."
    return (f"The word {word} is spelled {spelled(word)}. It has {len(word)} letters. "
            f"Backwards it is {spelled(word[::-1])}.")


# how a dictionary page names the word it spells next: the entry repeats the word, so that reading a page rewards
# copying a word named a few tokens back, as a word game's answer must copy the prompt's word (none of these frames
# is a game's prompt)
LEAD_INS = ("Look up the word {word}.", "Here is the word {word}.", "Next comes the word {word}.",
            "Think of the word {word}.")


def dictionary_page(rng: random.Random, words: list[str], n_entries: int = 3) -> str:
    "A corpus document: the entries of a few random words, each after a lead-in that names its word."
    return " ".join(f"{rng.choice(LEAD_INS).format(word=w)} {dictionary_entry(w)}" for w in rng.sample(words, n_entries))


def game_words(split: str) -> list[str]:
    """The word games' words: held-out tasks ('valid') play on the held-out fifth of WORDS, training tasks on the other
    332, so that SFT meets hundreds of words and memorising their answers cannot pay."""
    return [w for w in WORDS if in_split(w, split)]
