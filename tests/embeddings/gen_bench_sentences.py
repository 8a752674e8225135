#!/usr/bin/env python3
"""Write tests/embeddings/bench_sentences.txt: 256 deterministic benchmark sentences.

Command: python3 tests/embeddings/gen_bench_sentences.py > tests/embeddings/bench_sentences.txt

Sentences are composed from fixed phrase lists with a seeded random.Random, so the output is the
same on every machine and Python 3 version. Lengths vary from about 5 to 60 words (a mix of short
titles, one-clause sentences and long multi-clause ones, like product titles and descriptions).
"""
import random

SUBJECTS = [
    "The new stream processor", "Our support team", "A customer in Berlin", "The nightly batch job",
    "This lightweight rain jacket", "The city council", "A small bakery downtown", "The research group",
    "The mobile app", "Every warehouse robot", "The quarterly report", "A volunteer firefighter",
    "The museum's new wing", "The open-source library", "The delivery driver", "Her latest novel",
    "The hiking trail", "A cargo ship", "The vector database", "The school orchestra",
]
VERBS = [
    "processed", "announced", "reviewed", "delivered", "repaired", "described", "rejected",
    "measured", "translated", "photographed", "rebuilt", "published", "scheduled", "compared",
    "indexed", "celebrated", "inspected", "summarised", "recommended", "cancelled",
]
OBJECTS = [
    "two million records an hour", "the broken coffee machine", "a detailed migration plan",
    "the results of the spring survey", "three hundred parcels before noon", "the old railway bridge",
    "a recipe for sourdough bread", "the new privacy policy", "a list of missing invoices",
    "the festival programme", "an unusual pattern in the logs", "the solar panels on the roof",
    "every order placed last week", "a map of the northern coast", "the noisy ventilation fan",
    "the customer's refund request", "a collection of old postcards", "the latency of the search API",
]
TAILS = [
    "after a long discussion", "despite the heavy rain", "without any downtime",
    "in less than ten minutes", "for the second time this year", "with help from local students",
    "before the deadline on Friday", "using only open data", "at the request of the board",
    "while the servers were being upgraded", "to the surprise of everyone involved",
    "according to the weekly newsletter", "in three different languages", "on a very tight budget",
]
CLAUSES = [
    "because the previous version kept losing messages during restarts",
    "although nobody had expected the change to be so popular",
    "so that the evening shift could start on time",
    "which meant the team had to rewrite parts of the documentation",
    "and the feedback from early users was mostly positive",
    "but several questions about pricing remained open",
    "while the engineers kept a close eye on memory usage",
    "since the old system could no longer handle the load",
    "and a short video explaining the process was shared online",
    "even though the weather forecast predicted storms for the whole week",
]
TITLES = [
    "Waterproof hiking boots", "Wireless noise-cancelling headphones", "Stainless steel water bottle",
    "Beginner's guide to sourdough", "Ergonomic office chair", "Cast iron frying pan",
    "Children's picture book about whales", "Solar-powered garden lights", "Mechanical keyboard",
    "Organic green tea", "Running shoes for trail and road", "Vintage film camera",
]
ADJ = ["lightweight", "durable", "compact", "affordable", "handmade", "refurbished", "award-winning"]


def sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.2:  # short product-like title, ~5-9 words
        s = rng.choice(TITLES)
        a, b, c = rng.sample(ADJ, 3)
        return f"{a.capitalize()} {s[0].lower()}{s[1:]}, {b} and {c}"
    parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    if kind > 0.35:
        parts.append(rng.choice(TAILS))
    n_clauses = 0 if kind < 0.5 else (1 if kind < 0.8 else rng.randint(2, 4))
    for clause in rng.sample(CLAUSES, n_clauses):
        parts.append(", " + clause if not parts[-1].endswith(",") else clause)
    text = " ".join(parts).replace(" ,", ",")
    return text + "."


def main() -> None:
    rng = random.Random(20261124)
    seen = set()
    while len(seen) < 256:  # distinct sentences, in generation order
        s = sentence(rng)
        if s not in seen:
            seen.add(s)
            print(s)


if __name__ == "__main__":
    main()
