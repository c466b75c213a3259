"""Which questions a session draws: plain values in, question ids out (no Firestore here).

Exam mode draws uniformly at random. Practice mode is adaptive, tier by tier:

  1. questions the student has never been served,
  2. served but never answered (skipped, or the session was left),
  3. last answered wrong, the longest ago first,
  4. last answered right, the longest ago first;

a tier is used whole before the next is touched. Inside tiers 1 and 2 the draw is random,
weighted by how weak the student is in each domain; inside tiers 3 and 4 the age of the last
answer is scaled by the same weight, so a weak domain's questions come back sooner.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping

DEFAULT_ACCURACY = 0.5  # a domain never answered counts as half right


def domain_weight(answered: int, correct: int) -> float:
    """1 for a domain always answered right, up to 3 for one always wrong (smoothed)."""
    accuracy = (correct + 2 * DEFAULT_ACCURACY) / (answered + 2)
    return 1.0 + 2.0 * (1.0 - accuracy)


def uniform(candidates: Mapping[str, list[str]], count: int, rng: random.Random) -> list[str]:
    """`count` distinct ids uniformly at random from all domains' lists, without joining them."""
    domains = sorted(candidates)
    offsets: list[int] = []
    total = 0
    for d in domains:
        offsets.append(total)
        total += len(candidates[d])
    picked = []
    for position in rng.sample(range(total), min(count, total)):
        i = bisect.bisect_right(offsets, position) - 1
        picked.append(candidates[domains[i]][position - offsets[i]])
    return picked


def weighted_by_domain(
    pools: Mapping[str, list[str]], weights: Mapping[str, float], count: int, rng: random.Random
) -> list[str]:
    """`count` distinct ids: each pick chooses a domain with probability weight x what it has
    left, then an id of that domain uniformly (so weight 1 everywhere is a uniform draw)."""
    left = {d: len(ids) for d, ids in pools.items() if ids}
    quota: dict[str, int] = dict.fromkeys(left, 0)
    for _ in range(min(count, sum(left.values()))):
        domains = list(left)
        [d] = rng.choices(domains, weights=[weights.get(x, 1.0) * left[x] for x in domains])
        quota[d] += 1
        left[d] -= 1
        if not left[d]:
            del left[d]
    picked: list[str] = []
    for d, n in quota.items():
        picked += rng.sample(pools[d], n)
    rng.shuffle(picked)
    return picked


def adaptive(
    candidates: Mapping[str, list[str]],
    answered: Mapping[str, int],
    served: Mapping[str, int],
    weights: Mapping[str, float],
    count: int,
    now: int,
    rng: random.Random,
) -> list[str]:
    """`count` distinct ids by the tiers above. `answered[qid]` = 2 x epoch second of the last
    answer + 1 if it was right; `served[qid]` = epoch second it was last served; `now` in
    epoch seconds."""
    if not answered and not served:
        return weighted_by_domain(candidates, weights, count, rng)
    total = sum(len(ids) for ids in candidates.values())
    if len(answered) + len(served) <= (total - count) // 2:
        # Most of the bank is unseen: draw unseen ids by rejection instead of sorting the bank
        # into tiers (a 50,000-id scan is most of a start's own CPU time).
        drawn = _unseen_by_rejection(candidates, answered, served, weights, count, rng)
        if drawn is not None:
            return drawn
    unseen: dict[str, list[str]] = {}
    skipped: dict[str, list[str]] = {}
    wrong: list[tuple[float, str]] = []
    right: list[tuple[float, str]] = []
    for domain, ids in candidates.items():
        weight = weights.get(domain, 1.0)
        for qid in ids:
            code = answered.get(qid)
            if code is not None:
                age = max(1, now - code // 2) * weight
                (right if code & 1 else wrong).append((-age, qid))
            elif qid in served:
                skipped.setdefault(domain, []).append(qid)
            else:
                unseen.setdefault(domain, []).append(qid)
    picked: list[str] = []
    for pool in (unseen, skipped):
        size = sum(len(ids) for ids in pool.values())
        if size <= count - len(picked):
            ids = [q for d in pool for q in pool[d]]
            rng.shuffle(ids)
            picked += ids
        else:
            picked += weighted_by_domain(pool, weights, count - len(picked), rng)
        if len(picked) >= count:
            return picked[:count]
    for ordered in (wrong, right):
        ordered.sort()
        picked += [qid for _, qid in ordered[: count - len(picked)]]
        if len(picked) >= count:
            break
    return picked[:count]


def _unseen_by_rejection(
    candidates: Mapping[str, list[str]],
    answered: Mapping[str, int],
    served: Mapping[str, int],
    weights: Mapping[str, float],
    count: int,
    rng: random.Random,
) -> list[str] | None:
    """`count` unseen ids: a domain by weight x its size, then an id of it, redrawn when seen or
    taken. At least half the bank is unseen here, so a pick needs two tries on average; None
    (the caller sorts into tiers) in the unlikely case that tries run out."""
    domains = [d for d, ids in candidates.items() if ids]
    domain_weights = [weights.get(d, 1.0) * len(candidates[d]) for d in domains]
    picked: dict[str, None] = {}
    for _ in range(count * 20):
        [domain] = rng.choices(domains, weights=domain_weights)
        ids = candidates[domain]
        qid = ids[rng.randrange(len(ids))]
        if qid not in answered and qid not in served and qid not in picked:
            picked[qid] = None
            if len(picked) == count:
                return list(picked)
    return None
