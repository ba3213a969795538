#!/usr/bin/python3
"""Writes corpus.txt, the text the mapreduce example counts words in: original prose made from
sentence patterns over an English word list and made-up place and person names, with word
frequencies as skewed as in real text (a few very common words, a long tail of rare ones).
Deterministic: the same seed gives the same file.

    /usr/bin/python3 examples/data/make_corpus.py [--kb 300] [--seed 11] [--out examples/data/corpus.txt]
"""
import argparse

import numpy as np

NOUNS = """river harbor lantern orchard meadow tower bridge valley forest garden window letter
mountain village island market kitchen library candle mirror compass anchor feather engine
storm winter summer morning evening shadow silver copper harvest journey voyage signal
machine record archive ledger painter sailor farmer weaver miller baker keeper stranger child
sister brother mother father teacher doctor captain pilot merchant clerk poet singer dancer
road path gate wall field stone cloud rain snow wind fire smoke ash salt bread wine honey
apple pear plum cherry walnut acorn willow birch cedar maple pine thistle clover heather
fox crow raven heron owl sparrow otter badger hare deer horse goat sheep cattle bee moth
clock bell drum flute violin song story rumor promise secret question answer reason memory
dream hour minute season year century city province kingdom empire border coast tide wave
lighthouse canal mill barn cottage chapel square fountain statue portrait map chart star moon""".split()

VERBS = """carried followed remembered watched crossed opened closed mended painted counted
gathered sold bought traded built burned buried found lost kept gave took sent wrote read
sang told heard saw visited left reached climbed sailed rowed walked wandered waited listened
answered asked promised forgot noticed measured weighed planted harvested baked brewed
carved polished repaired rebuilt guarded welcomed warned thanked greeted chased""".split()

ADJECTIVES = """old young quiet loud bright dark narrow wide gentle cold warm early late small
great long short tall low high green grey golden silver red blue white black pale deep
hollow broken patient careful restless tired happy lonely famous forgotten distant nearby
ancient modern simple strange honest clever slow swift heavy light empty full steady
wooden stony sandy misty windy rainy sunny""".split()

ADVERBS = """slowly quickly quietly carefully gladly rarely often always never soon again
once twice together alone early late finally suddenly gently patiently""".split()

PREPOSITIONS = "of in on by near under over beyond across through beside behind toward from with".split()
CONNECTIVES = "and but so then while because although until before after".split()
SYLLABLES = """ar bel cor dan el fen gar hal is jor kel lan mor nor ol pel quin ros sel tor
ul ven wil yar zan bri cal dor eth fir gwen hol ild kas lor mir nes ost pra rin sta thal
urn vel wyn""".split()


def zipf_choice(rng, words, exponent=1.1):
    """A word drawn with probability proportional to 1 / rank^exponent."""
    ranks = np.arange(1, len(words) + 1)
    weights = 1.0 / ranks ** exponent
    return words[rng.choice(len(words), p=weights / weights.sum())]


def make_names(rng, count):
    names = set()
    while len(names) < count:
        parts = rng.choice(SYLLABLES, size=rng.integers(2, 4))
        names.add("".join(parts))
    return sorted(names)


def noun_phrase(rng, names):
    roll = rng.random()
    if roll < 0.18:
        return zipf_choice(rng, names, 0.9).capitalize()
    phrase = "the " if rng.random() < 0.7 else "a "
    if rng.random() < 0.55:
        phrase += zipf_choice(rng, ADJECTIVES) + " "
    phrase += zipf_choice(rng, NOUNS)
    if rng.random() < 0.3:
        phrase += " " + zipf_choice(rng, PREPOSITIONS) + " " + zipf_choice(rng, names, 0.9).capitalize()
    return phrase


def clause(rng, names):
    words = [noun_phrase(rng, names)]
    if rng.random() < 0.25:
        words.append(zipf_choice(rng, ADVERBS))
    words.append(zipf_choice(rng, VERBS))
    words.append(noun_phrase(rng, names))
    if rng.random() < 0.4:
        words.append(zipf_choice(rng, PREPOSITIONS) + " " + noun_phrase(rng, names))
    return " ".join(words)


def sentence(rng, names):
    text = clause(rng, names)
    if rng.random() < 0.35:
        text += ", " + zipf_choice(rng, CONNECTIVES) + " " + clause(rng, names)
    return text[0].upper() + text[1:] + "."


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=300, help="approximate size of the text")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", default="examples/data/corpus.txt")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    names = make_names(rng, 1500)
    size = 0
    paragraphs = []
    while size < args.kb * 1024:
        paragraph = " ".join(sentence(rng, names) for _ in range(rng.integers(3, 8)))
        size += len(paragraph) + 2
        paragraphs.append(paragraph)
    with open(args.out, "w") as out:
        for paragraph in paragraphs:
            words, line = paragraph.split(), ""
            for word in words:  # wrapped at 78 columns
                if line and len(line) + 1 + len(word) > 78:
                    out.write(line + "\n")
                    line = word
                else:
                    line = word if not line else line + " " + word
            out.write(line + "\n\n")


if __name__ == "__main__":
    main()
