"""Rank root-cause candidates (OpenStack modules) of an anomalous run or window.

Anomalies are the errors, and the warnings normal runs (almost) never show.
Candidates are every OpenStack module on their traceback paths, their
loggers when they are OpenStack code, the causes of similar past
incidents (``CauseMemory``), and with a code map (engine/rca/codemap.py) the
modules the failing frames' functions call. ``candidate_context`` says which
modules are candidates, ``candidate_features`` measures one: another kind of
cause (infrastructure) can add its candidates beside them.

Two learned models, multiplied:

* which subsystem is the origin (SUBSYSTEM_FEATURES: which subsystem's
  services deviated first, how much of the anomaly they logged, whether they
  logged a traceback through their own code, ...), mixed with the votes of
  similar past incidents. A Neutron fault often surfaces as a Nova error
  first and only: the past incidents with the same symptoms are what points
  back to Neutron;
* which module within it, by a learning-to-rank model (engine/rca/ltr.py; the
  logistic model of before when there is no code map) over CANDIDATE_FEATURES
  (the innermost OpenStack frame
  is usually the code that raised or made the bad call, generic helpers such
  as ``utils`` rarely are; how early it shows; whether the records were
  logged by its own service or forwarded; whether records of other services
  sharing its request/instance ids came after it (origin) or before it
  (symptom); a learned prior of the module being at fault when it shows up).

A wrong value made in one module often trips in another (its caller, a
serializer, the API layer): the faulty module is then on no traceback at all.
So candidates also come from ``CauseMemory.co_root``: for the modules in
sight, which modules were the cause of past incidents they were candidates in
(``co_root``). On the large set's CV this put the cause among the first three
packages 0.824 -> 0.840 and modules 0.681 -> 0.697 (first module unchanged).

Both are fitted on training incidents, each one's memory-based features
computed with that incident left out, so the weights reflect how well the
memory generalises to an unseen incident.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from schemas.log_event import LogEvent

from .features import ERROR_LEVELS, NormalProfile, code_frames, code_path, signature
from .linear import LinearModel, fit_logistic
from .ltr import TreeRanker, fit_lambdarank
from .modules import is_project_module, subsystem_of, subsystem_of_service

log = logging.getLogger(__name__)

NOVEL_SHARE = 0.02  # a signature in at most this share of normal runs is novel
MAX_ANOMALIES = 2000
HELPER_NAMES = frozenset({"utils", "hooks", "base", "exception", "exceptions", "wsgi", "decorators"})
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")

CANDIDATE_FEATURES = (
    "inner",                 # innermost OpenStack frame of some anomalous record
    "inner_own_code",        # innermost frame that is not a generic helper (utils, ...)
    "depth_score",           # best 1/(1+frames from the innermost)
    "log_records",           # anomalous records whose path holds it
    "is_logger",             # logger of an anomalous record
    "first_position",        # 0 = the first anomalous record mentions it, 1 = the last
    "subsystem_order",       # 0 = its subsystem deviated first among subsystems
    "own_service",           # share of its records logged by its own subsystem
    "helper",                # generic helper module (utils, hooks, base, ...)
    "module_prior",          # learned: log-lift of being the cause when it appears
    "assoc_module",          # learned: similar past incidents were caused here
    "rarity",                # how novel its records are (0..1)
    "upstream",              # later anomalies of other subsystems share its ids
    "downstream",            # earlier anomalies of other subsystems share its ids
    "assoc_only",            # no record mentions it: suggested by the memory only
    "co_root",               # learned: when the modules seen here were candidates, how often it was the cause
    "first_error",           # logger or innermost frame of the first ERROR record
    "code_callee",           # code map: best 1/(1+frames from the innermost) of a frame whose function calls it
    "code_calls",            # code map: frames of anomalous records whose function calls it
    "code_between",          # code map: called by an outer frame's function and calls the next frame's module
    "code_only",             # suggested by the code map only (no record, no memory)
    "code_caller",           # code map: it calls the module of an innermost frame
)


@dataclass
class Anomaly:
    """An anomalous record and what the ranker needs of it."""

    order: int
    event: LogEvent
    sig: str
    novelty: float  # 0..1
    path: list[str]  # OpenStack modules, outermost first
    subsystem: str | None  # subsystem of the service that logged it
    ids: frozenset
    frames: tuple = ()  # (module, function) of its OpenStack frames, outermost first


def find_anomalies(events: Sequence[LogEvent], profile: NormalProfile,
                   sigs: Sequence[str] | None = None) -> list[Anomaly]:
    """Errors, plus warnings that normal runs (almost) never show, in time order: what says there
    is something to rank (detection's evidence).

    ``sigs``: ``signature(e)`` of every event, in order, when the caller has them already.
    """
    return _anomalies(events, profile, sigs, ("WARNING",))


def ranking_anomalies(events: Sequence[LogEvent], profile: NormalProfile,
                      sigs: Sequence[str] | None = None) -> list[Anomaly]:
    """What a ranking (and its training) looks at: ``find_anomalies``, or when there are none,
    the INFO records normal runs (almost) never show.

    Why the INFO fallback: a fault whose exception the API turns into a 4xx answer logs no error
    at all (nova's ``HTTP exception thrown: Keypair data is invalid`` is INFO); its one novel INFO
    record still says which service failed the request. Only when nothing worse is in sight, so
    the ranking of every incident with an error or a novel warning is unchanged; detection never
    uses it.
    """
    return find_anomalies(events, profile, sigs) or quiet_anomalies(events, profile, sigs)


def quiet_anomalies(events: Sequence[LogEvent], profile: NormalProfile,
                    sigs: Sequence[str] | None = None) -> list[Anomaly]:
    """The INFO records normal runs (almost) never show (``ranking_anomalies``' fallback)."""
    return _anomalies(events, profile, sigs, ("INFO",), novel_only=True)


def _anomalies(events: Sequence[LogEvent], profile: NormalProfile, sigs: Sequence[str] | None,
               novel_levels: tuple[str, ...], novel_only: bool = False) -> list[Anomaly]:
    """Records of ERROR_LEVELS (unless ``novel_only``) and of ``novel_levels`` when novel."""
    out: list[Anomaly] = []
    max_rarity = -math.log(0.5 / (profile.n_runs + 1.0)) if profile.n_runs else 1.0
    for i, e in enumerate(events):
        if e.parse_error is not None:
            continue
        if e.level in novel_levels:
            novel = True
        elif e.level in ERROR_LEVELS and not novel_only:
            novel = False
        else:
            continue
        sig = sigs[i] if sigs is not None else signature(e)
        if novel and profile.share(sig) > NOVEL_SHARE:
            continue
        novelty = min(profile.rarity(sig) / max_rarity, 1.0) if profile.n_runs else 1.0
        sub = subsystem_of_service(e.service) or subsystem_of(e.logger if is_project_module(e.logger) else None)
        ids = set(_UUID.findall(e.message.split("\n", 1)[0]))
        if e.request_id:
            ids.add(e.request_id)
        if e.instance_id:
            ids.add(e.instance_id)
        out.append(Anomaly(len(out), e, sig, novelty, code_path(e), sub, frozenset(ids), tuple(code_frames(e))))
        if len(out) >= MAX_ANOMALIES:
            break
    return out


@dataclass
class Candidate:
    module: str
    features: list[float]
    anomalies: list[Anomaly]
    score: float = 0.0
    confidence: float | None = None   # calibrated P(this is the faulty module); None: not calibrated
    kind: str = "code"   # what kind of cause: "code" (an OpenStack module); others add their own


@dataclass
class CauseMemory:
    """Past incidents: their anomalous signatures and the module that caused them.

    ``associations`` finds the training incidents whose symptoms look like
    this one's (cosine similarity of signature sets, each signature weighted
    by how specific it is across incidents) and lets them vote for their
    cause. ``exclude`` leaves one incident (by index) out of its own features.
    """

    incidents: list = field(default_factory=list)  # [(frozenset(signatures), candidates, root)]
    sig_incidents: Counter = field(default_factory=Counter)  # signature -> incidents showing it
    module_root: Counter = field(default_factory=Counter)  # module -> incidents it caused
    module_seen: Counter = field(default_factory=Counter)  # module -> incidents it was a candidate in
    # Cosine similarity below which a past incident does not count as similar
    # (sharing only generic symptoms, e.g. "instance set to ERROR state").
    min_similarity: float = 0.3
    # candidate module -> roots of the incidents it was a candidate in (a wrong value made in one
    # module often trips in another: which modules' failures the ones in sight stand for)
    co_roots: dict = field(default_factory=dict)

    def add(self, sigs: set[str], candidates: set[str], root: str) -> None:
        self.incidents.append((frozenset(sigs), frozenset(candidates), root))
        self.sig_incidents.update(sigs)
        self.module_root[root] += 1
        self.module_seen.update(set(candidates) | {root})
        for m in set(candidates):
            self.co_roots.setdefault(m, Counter())[root] += 1

    def co_root(self, candidates: Iterable[str], exclude: int | None = None, k: float = 1.0) -> dict[str, float]:
        """root module -> the highest share, over these candidates, of the past incidents with that
        candidate whose cause it was (shrunk by ``k``; ``exclude`` leaves one incident out)."""
        ex_cands, ex_root = (self.incidents[exclude][1], self.incidents[exclude][2]) if exclude is not None else ((), None)
        out: dict[str, float] = {}
        co_roots = getattr(self, "co_roots", None) or {}   # a model fitted before it existed has none
        for m in sorted(set(candidates)):
            roots = co_roots.get(m)
            if not roots:
                continue
            n = sum(roots.values()) - (m in ex_cands)
            if n <= 0:
                continue
            for r, c in roots.items():
                c -= (m in ex_cands and r == ex_root)
                if c > 0:
                    out[r] = max(out.get(r, 0.0), c / (n + k))
        return out

    @property
    def n_incidents(self) -> int:
        return len(self.incidents)

    @property
    def base_rate(self) -> float:
        seen = sum(self.module_seen.values())
        return (self.n_incidents / seen) if seen else 0.1

    def prior(self, module: str, exclude: int | None = None) -> float:
        """Log-lift of a module being the cause when it is a candidate (0: no history)."""
        root = self.module_root.get(module, 0)
        seen = self.module_seen.get(module, 0)
        if exclude is not None:
            _, cands, ex_root = self.incidents[exclude]
            root -= module == ex_root
            seen -= module in cands or module == ex_root
        r0, k = self.base_rate, 2.0
        return math.log(((root + k * r0) / (seen + k)) / r0)

    def _idf(self, sig: str) -> float:
        return math.log((self.n_incidents + 1.0) / (self.sig_incidents.get(sig, 0) + 0.5))

    def similar(self, sigs: set[str], exclude: int | None = None) -> list[tuple[float, str]]:
        """(similarity, root module) of the past incidents similar to these symptoms."""
        if not self.incidents or not sigs:
            return []
        w = {s: self._idf(s) for s in sigs}
        # fsum: exact, so a similarity never depends on a set's (hash) order
        norm = math.sqrt(math.fsum(v * v for v in w.values())) or 1.0
        out = []
        for i, (isigs, _, root) in enumerate(self.incidents):
            if i == exclude:
                continue
            shared = sigs & isigs
            if not shared:
                continue
            inorm = math.sqrt(math.fsum(self._idf(s) ** 2 for s in isigs)) or 1.0
            sim = math.fsum(w[s] ** 2 for s in shared) / (norm * inorm)
            if sim >= self.min_similarity:
                out.append((sim, root))
        return out

    def associations(self, sigs: set[str], exclude: int | None = None) -> tuple[dict, dict]:
        """(module -> vote, subsystem -> vote) of similar past incidents, each in 0..1."""
        sims = self.similar(sigs, exclude)
        total = sum(s for s, _ in sims) + 0.25  # shrink when the matches are weak
        by_mod: dict[str, float] = defaultdict(float)
        by_sub: dict[str, float] = defaultdict(float)
        for sim, root in sims:
            by_mod[root] += sim / total
            by_sub[subsystem_of(root)] += sim / total
        return by_mod, by_sub


CO_ROOT_SUGGESTIONS = 10   # modules the memory suggests (co_root) that join the candidates
CODE_SUGGESTIONS = 15      # modules the code map suggests that join the candidates
CODE_DEPTH = 3             # the innermost frames of a traceback whose callees the code map suggests


# The features of the logistic module ranking (a ranker without a code map): those it had before
# the learned ranking, so that without source the ranking is exactly what it was.
LOGISTIC_FEATURES = CANDIDATE_FEATURES[:CANDIDATE_FEATURES.index("first_error")]


@dataclass
class CandidateContext:
    """What every candidate of one incident is measured against (built once per ranking)."""

    anomalies: list[Anomaly]
    occurrences: dict      # module -> [(anomaly, depth from the innermost frame or None for a logger)]
    as_logger: set
    inner_own: set
    by_mod: dict           # similar past incidents' votes per module
    co: dict               # co_root shares
    code: dict             # module -> code-map evidence {"callee": best 1/(1+d), "calls": n, "between": bool}
    first_error: set       # modules of the first ERROR record (logger, innermost frame)
    sub_rank: dict
    n_subs: int
    code_map: object = None
    inner_modules: frozenset = frozenset()   # innermost OpenStack frame of each record


def candidate_context(anomalies: list[Anomaly], memory: CauseMemory | None, exclude: int | None = None,
                      associations: tuple[dict, dict] | None = None, code_map=None) -> CandidateContext:
    """Which modules are candidates, and the evidence their features are computed from.

    Sources: traceback frames and loggers of the anomalous records, the causes of similar past
    incidents and ``co_root`` (the memory), and, with a code map, the callees of the innermost
    frames' functions and the modules between two frames (engine/rca/codemap.py).
    """
    occurrences: dict[str, list[tuple[Anomaly, int | None]]] = defaultdict(list)
    as_logger: set[str] = set()
    inner_own: set[str] = set()
    for a in anomalies:
        for depth, mod in enumerate(reversed(a.path)):
            occurrences[mod].append((a, depth))
        own_code = [m for m in a.path if not _is_helper(m)]
        if own_code:
            inner_own.add(own_code[-1])
        lg = a.event.logger
        if is_project_module(lg):
            as_logger.add(lg)
            if lg not in a.path:
                occurrences[lg].append((a, None))
    if associations is None:
        associations = memory.associations({a.sig for a in anomalies}, exclude) if memory else ({}, {})
    by_mod = associations[0]
    # ties broken by name: the candidates (and so a training's rows) never depend on hash order
    for mod, p in sorted(by_mod.items(), key=lambda kv: (-kv[1], kv[0]))[:5]:
        occurrences.setdefault(mod, [])
    co = memory.co_root(list(occurrences), exclude) if memory else {}
    for mod, p in sorted(co.items(), key=lambda kv: (-kv[1], kv[0]))[:CO_ROOT_SUGGESTIONS]:
        occurrences.setdefault(mod, [])
    code = code_evidence(anomalies, code_map) if code_map is not None else {}
    fresh = sorted((m for m in code if m not in occurrences),
                   key=lambda m: (-code[m]["callee"], -code[m]["calls"], m))
    for mod in fresh[:CODE_SUGGESTIONS]:
        occurrences.setdefault(mod, [])
    first_error: set[str] = set()
    for a in anomalies:
        if a.event.level in ERROR_LEVELS:
            if is_project_module(a.event.logger):
                first_error.add(a.event.logger)
            if a.path:
                first_error.add(a.path[-1])
            break
    sub_rank, n_subs = _subsystem_order(anomalies)
    return CandidateContext(anomalies, occurrences, as_logger, inner_own, by_mod, co, code, first_error,
                            sub_rank, n_subs, code_map, frozenset(a.path[-1] for a in anomalies if a.path))


def code_evidence(anomalies: list[Anomaly], code_map) -> dict[str, dict]:
    """module -> what the code map says of it for these records: ``callee`` (best 1/(1+d) of a
    frame, d from the innermost, whose function calls it; the CODE_DEPTH innermost frames of each
    record), ``calls`` (how many such frames), ``between`` (an outer frame's function calls it and
    it calls the next frame's module)."""
    out: dict[str, dict] = {}
    seen_tb: set = set()
    for a in anomalies:
        frames = a.frames
        if not frames or frames in seen_tb:
            continue
        seen_tb.add(frames)
        for d, (mod, fn) in enumerate(reversed(frames[-CODE_DEPTH:])):
            for callee in code_map.callees(mod, fn):
                e = out.setdefault(callee, {"callee": 0.0, "calls": 0, "between": False})
                e["callee"] = max(e["callee"], 1.0 / (1 + d))
                e["calls"] += 1
        for (outer, fn), (inner, _) in zip(frames, frames[1:]):
            if outer != inner:
                for mod in code_map.between(outer, fn, inner):
                    e = out.setdefault(mod, {"callee": 0.0, "calls": 0, "between": False})
                    e["between"] = True
    return out


def candidate_features(mod: str, occ: list, ctx: CandidateContext, memory: CauseMemory | None,
                       exclude: int | None = None) -> list[float]:
    """One candidate's features (CANDIDATE_FEATURES order)."""
    anomalies, n = ctx.anomalies, len(ctx.anomalies)
    sub = subsystem_of(mod)
    recs = _unique([a for a, _ in occ])
    depths = [d for _, d in occ if d is not None]
    own = [a for a in recs if a.subsystem == sub]
    ids = set().union(*(a.ids for a in (own or recs))) if recs else set()
    t0 = min((a.event.timestamp or 0.0 for a in recs), default=None)
    up = down = 0
    if ids and t0 is not None:
        for a in anomalies:
            if a.subsystem and a.subsystem != sub and a.ids & ids:
                if (a.event.timestamp or 0.0) >= t0:
                    up += 1
                else:
                    down += 1
    code = ctx.code.get(mod)
    return [
        1.0 if 0 in depths else 0.0,
        1.0 if mod in ctx.inner_own else 0.0,
        max((1.0 / (1 + d) for d in depths), default=0.0),
        math.log1p(len(recs)),
        1.0 if mod in ctx.as_logger else 0.0,
        (min(a.order for a in recs) / max(n - 1, 1)) if recs else 1.0,
        (ctx.sub_rank[sub] / ctx.n_subs) if sub in ctx.sub_rank else 1.0,
        (len(own) / len(recs)) if recs else 0.0,
        1.0 if _is_helper(mod) else 0.0,
        memory.prior(mod, exclude) if memory else 0.0,
        ctx.by_mod.get(mod, 0.0),
        max((a.novelty for a in recs), default=0.0),
        math.log1p(up),
        math.log1p(down),
        0.0 if recs else 1.0,
        ctx.co.get(mod, 0.0),
        1.0 if mod in ctx.first_error else 0.0,
        code["callee"] if code else 0.0,
        math.log1p(code["calls"]) if code else 0.0,
        1.0 if code and code["between"] else 0.0,
        1.0 if (not recs and code and mod not in ctx.by_mod and mod not in ctx.co) else 0.0,
        1.0 if code_map_calls_inner(mod, ctx) else 0.0,
    ]


def code_map_calls_inner(mod: str, ctx: "CandidateContext") -> bool:
    cm = ctx.code_map
    if cm is None:
        return False
    callees = set(cm.callees(mod))
    return any(inner in callees for inner in ctx.inner_modules if inner != mod)


def build_candidates(anomalies: list[Anomaly], memory: CauseMemory | None,
                     exclude: int | None = None,
                     associations: tuple[dict, dict] | None = None, code_map=None) -> list[Candidate]:
    """Candidates and their features (CANDIDATE_FEATURES order).

    ``associations``: ``memory.associations`` of these anomalies' signatures
    (with ``exclude``), when the caller has them already. ``code_map``: an
    engine/rca/codemap.py ``CodeMap`` (None: no code candidates or code features).
    """
    if not anomalies:
        return []
    ctx = candidate_context(anomalies, memory, exclude, associations, code_map)
    return [Candidate(mod, candidate_features(mod, occ, ctx, memory, exclude), _unique([a for a, _ in occ]))
            for mod, occ in ctx.occurrences.items()]


def _subsystem_order(anomalies: list[Anomaly]) -> tuple[dict[str, int], int]:
    """(subsystem -> 0-based rank in the order its services first deviated, the last rank or 1)."""
    first: dict[str, int] = {}
    for a in anomalies:
        if a.subsystem and a.subsystem not in first:
            first[a.subsystem] = a.order
    order = {s: i for i, s in enumerate(sorted(first, key=first.get))}
    return order, max(len(order) - 1, 1)


def _is_helper(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in HELPER_NAMES


def _unique(items: list[Anomaly]) -> list[Anomaly]:
    seen, out = set(), []
    for a in items:
        if a.order not in seen:
            seen.add(a.order)
            out.append(a)
    return sorted(out, key=lambda a: a.order)


# Hand weights used until a model has labelled incidents to learn from.
DEFAULT_WEIGHTS = {
    "inner": 1.0, "inner_own_code": 1.0, "depth_score": 1.0, "log_records": 0.3, "is_logger": 0.5,
    "first_position": -1.0, "subsystem_order": -1.0, "own_service": 0.7, "helper": -1.0,
    "module_prior": 0.5, "assoc_module": 1.0, "rarity": 0.5,
    "upstream": 0.3, "downstream": -0.3, "assoc_only": -1.0, "co_root": 0.5,
    "first_error": 0.0, "code_callee": 0.0, "code_calls": 0.0, "code_between": 0.0, "code_only": 0.0,
    "code_caller": 0.0,
}

SUBSYSTEM_FEATURES = (
    "order",           # 0 = its services deviated first, 1 = last (or never)
    "share_records",   # share of the anomalous records its services logged
    "own_traceback",   # its services logged a traceback through its own code
    "log_records",     # anomalous records its services logged
    "has_error",       # its services logged an ERROR (not only novel warnings)
    "novelty",         # how novel its records are (0..1)
    "remote_frames",   # its code is on tracebacks logged by other subsystems
)
DEFAULT_SUBSYSTEM_WEIGHTS = {
    "order": -1.5, "share_records": 1.0, "own_traceback": 1.0, "log_records": 0.3,
    "has_error": 0.5, "novelty": 0.5, "remote_frames": 0.5,
}


def subsystem_features(anomalies: list[Anomaly], extra: Iterable[str] = ()) -> dict[str, list[float]]:
    """Candidate subsystems and their features (SUBSYSTEM_FEATURES order).

    Candidates: subsystems whose services logged anomalies, whose code is on
    their tracebacks, and ``extra`` (e.g. suggested by similar past incidents).
    """
    if not anomalies:
        return {}
    subs = {a.subsystem for a in anomalies if a.subsystem}
    subs |= {subsystem_of(m) for a in anomalies for m in a.path}
    subs |= set(extra)
    order, n_order = _subsystem_order(anomalies)
    out = {}
    for sub in sorted(s for s in subs if s):
        own = [a for a in anomalies if a.subsystem == sub]
        out[sub] = [
            order[sub] / n_order if sub in order else 1.0,
            len(own) / len(anomalies),
            1.0 if any(any(subsystem_of(m) == sub for m in a.path) for a in own) else 0.0,
            math.log1p(len(own)),
            1.0 if any(a.event.level in ERROR_LEVELS for a in own) else 0.0,
            max((a.novelty for a in own), default=0.0),
            1.0 if any(a.subsystem != sub and any(subsystem_of(m) == sub for m in a.path)
                       for a in anomalies) else 0.0,
        ]
    return out


@dataclass
class Ranker:
    """Scores candidates: P(its subsystem is the origin) x how its module ranks within it.

    The subsystem: a logistic model over SUBSYSTEM_FEATURES mixed with similar past incidents.
    The module: a learning-to-rank model (LightGBM lambdarank, engine/rca/ltr.py) over
    CANDIDATE_FEATURES, each training incident a group; until there are labelled incidents, or
    for a ranker fitted before it existed, a logistic model (hand weights until learned).
    """

    modules: LinearModel = field(default_factory=lambda: LinearModel(
        [DEFAULT_WEIGHTS[f] for f in CANDIDATE_FEATURES]))
    subsystems: LinearModel = field(default_factory=lambda: LinearModel(
        [DEFAULT_SUBSYSTEM_WEIGHTS[f] for f in SUBSYSTEM_FEATURES]))
    memory: CauseMemory = field(default_factory=CauseMemory)
    # How much similar past incidents weigh against this run's own evidence
    # when choosing the subsystem (their votes are shrunk when matches are weak).
    memory_weight: float = 0.5
    # P(a candidate is the faulty module) from where its score stands among the others
    # (CONFIDENCE_FEATURES), fitted on the training incidents ranked each with itself left out of
    # the memory: what an operator reads as "how sure". None: fitted before it existed.
    confidence: LinearModel | None = None
    # The learned module ranking (None: the logistic ``modules``), and the code map it was
    # trained with (engine/rca/codemap.py; None: no code candidates or code features).
    ltr: TreeRanker | None = None
    code_map: object | None = None
    # Features the ranking may use (None: all of CANDIDATE_FEATURES); an ablation drops some.
    feature_mask: tuple | None = None

    @property
    def learned(self) -> bool:
        return self.modules.learned or (getattr(self, "ltr", None) is not None and self.ltr.learned)

    def _code_map(self):
        return getattr(self, "code_map", None)

    def _cols(self, feats: list[float]) -> list[float]:
        mask = getattr(self, "feature_mask", None)
        if not mask:
            return feats
        return [v if f in mask else 0.0 for f, v in zip(CANDIDATE_FEATURES, feats)]

    def fit(self, incidents: list[tuple[list[Anomaly], str]], c: float = 0.3, code_map=None,
            seed: int = 0, learn_to_rank: bool | None = None) -> "Ranker":
        """Learn from (anomalies, true root module) of training incidents.

        ``learn_to_rank`` (None: when there is a code map): the module ranking is a lambdarank
        model over all CANDIDATE_FEATURES; else the logistic model over the features it had
        before the code map (LOGISTIC_FEATURES), so that without source the ranking is what it
        was. On the large set's CV lambdarank without the code map's features ranked worse
        (module top-3 0.667 against 0.697, docs/accuracy.md "Ranking").
        """
        self.code_map = code_map
        if learn_to_rank is None:
            learn_to_rank = code_map is not None
        if not learn_to_rank and self.feature_mask is None:
            self.feature_mask = LOGISTIC_FEATURES
        self.memory = CauseMemory()
        for anomalies, root in incidents:
            cands = {c.module for c in build_candidates(anomalies, None, code_map=code_map)}
            self.memory.add({a.sig for a in anomalies}, cands, root)
        Xm, ym, per_incident, Xs, ys = [], [], [], [], []
        for exclude, (anomalies, root) in enumerate(incidents):
            cands = build_candidates(anomalies, self.memory, exclude, code_map=code_map)
            rows = [self._cols(cand.features) for cand in cands]
            labels = [int(cand.module == root) for cand in cands]
            Xm.extend(rows)
            ym.extend(labels)
            per_incident.append((rows, labels))
            for sub, feats in subsystem_features(anomalies).items():
                Xs.append(feats)
                ys.append(int(sub == subsystem_of(root)))
        self.ltr = None
        if len(set(ym)) == 2:
            self.modules = fit_logistic(Xm, ym, c)
            if learn_to_rank:
                self.ltr = _fit_ltr(per_incident, seed)
        if len(set(ys)) == 2:
            self.subsystems = fit_logistic(Xs, ys, c)
        held_out = None
        if self.ltr is not None:
            # the calibration ranks each training incident with a model that did not see it
            k = CALIBRATION_FOLDS
            held_out = [replace(self, ltr=_fit_ltr([g for i, g in enumerate(per_incident) if i % k != j], seed),
                                confidence=None) for j in range(k)]
        self.confidence = self._calibrate(incidents, held_out)
        if not self.learned:
            log.info("ranker: not enough labelled incidents (%d), keeping default weights", len(incidents))
        log.debug("ranker: modules %s subsystems %s", self.ltr.importance() if self.ltr else
                  self.modules.weights(CANDIDATE_FEATURES), self.subsystems.weights(SUBSYSTEM_FEATURES))
        return self

    def _calibrate(self, incidents: list[tuple[list[Anomaly], str]],
                   held_out: list["Ranker"] | None = None) -> LinearModel | None:
        """Platt scaling of the ranking's scores on the training incidents (each ranked with itself
        left out of the memory, as an unseen incident would be); top CALIBRATION_DEPTH candidates each.
        ``held_out``: rankers whose learned ranking did not see incident i (i mod their number);
        without, the ranking's own weights saw these incidents and it errs towards confidence."""
        X, y = [], []
        for exclude, (anomalies, root) in enumerate(incidents):
            ranker = held_out[exclude % len(held_out)] if held_out else self
            if ranker.ltr is None and held_out:
                ranker = self
            cands = ranker.rank(anomalies, exclude=exclude, calibrated=False)
            for i, c in enumerate(cands[:CALIBRATION_DEPTH]):
                X.append(_confidence_features(cands, i))
                y.append(int(c.module == root))
        if len(set(y)) < 2 or len(y) < 10:
            return None
        return fit_logistic(X, y, c=1.0, balanced=False)

    def subsystem_scores(self, anomalies: list[Anomaly],
                         associations: tuple[dict, dict] | None = None, exclude: int | None = None) -> dict[str, float]:
        """P(subsystem is the origin): this run's evidence, mixed with similar past incidents.

        ``associations``: ``self.memory.associations`` of these anomalies'
        signatures, when the caller has them already.
        """
        if associations is None:
            associations = self.memory.associations({a.sig for a in anomalies}, exclude)
        votes = associations[1]
        scores = {s: self.subsystems.probability(f)
                  for s, f in subsystem_features(anomalies, votes).items()}
        if votes:
            w = self.memory_weight
            scores = {s: (1 - w) * p + w * votes.get(s, 0.0) for s, p in scores.items()}
        return scores

    def module_scores(self, cands: list[Candidate]) -> dict[str, float]:
        """How each candidate ranks within its subsystem, 0..1 (1: the best of its subsystem)."""
        ltr = getattr(self, "ltr", None)
        if ltr is None:
            p_mod = {c.module: self.modules.probability(self._cols(c.features)) for c in cands}
            best: dict[str, float] = defaultdict(float)
            for c in cands:
                sub = subsystem_of(c.module)
                best[sub] = max(best[sub], p_mod[c.module])
            return {m: (p / best[subsystem_of(m)] if best[subsystem_of(m)] > 0 else 0.0) for m, p in p_mod.items()}
        raw = {c.module: ltr.score(self._cols(c.features)) for c in cands}
        top: dict[str, float] = {}
        for m, v in raw.items():
            sub = subsystem_of(m)
            top[sub] = max(top.get(sub, v), v)
        return {m: math.exp(max(v - top[subsystem_of(m)], -50.0)) for m, v in raw.items()}

    def rank(self, anomalies: list[Anomaly], exclude: int | None = None, calibrated: bool = True) -> list[Candidate]:
        """Candidates by P(subsystem) x the module's standing within it (1 for its best).

        So the first candidate is the best module of the most likely
        subsystem, even when that subsystem is known only from similar past
        incidents and its modules have little direct evidence.
        ``exclude``: a training incident left out of the memory (calibration). ``calibrated``: fill
        each candidate's ``confidence`` when the ranker has a calibration.
        """
        assoc = self.memory.associations({a.sig for a in anomalies}, exclude)
        cands = build_candidates(anomalies, self.memory, exclude=exclude, associations=assoc,
                                 code_map=self._code_map())
        p_sub = self.subsystem_scores(anomalies, assoc)
        within = self.module_scores(cands)
        for c in cands:
            c.score = p_sub.get(subsystem_of(c.module), 0.0) * within[c.module]
        cands.sort(key=lambda c: (-c.score, c.module))
        conf = getattr(self, "confidence", None) if calibrated else None
        if conf is not None and cands:
            for i, c in enumerate(cands):
                c.confidence = conf.probability(_confidence_features(cands, i))
        return cands


def _fit_ltr(per_incident: list[tuple[list, list]], seed: int) -> TreeRanker | None:
    """Lambdarank over the training incidents whose cause is among their candidates (the others
    teach no order); ``per_incident``: (feature rows, 0/1 labels) of each."""
    Xk, yk, gk = [], [], []
    for rows, labels in per_incident:
        if any(labels) and len(rows) > 1:
            Xk.extend(rows)
            yk.extend(labels)
            gk.append(len(rows))
    if len(gk) < LTR_MIN_INCIDENTS:
        return None
    return fit_lambdarank(Xk, yk, gk, CANDIDATE_FEATURES, seed=seed)


LTR_MIN_INCIDENTS = 10
CALIBRATION_FOLDS = 5


CALIBRATION_DEPTH = 5
# What says how sure a rank is: a candidate's score relative to the first, its lead over the
# next one (the first) or its gap to the first (the others), and whether it is first. Chosen
# on the large set's 5-fold CV over the raw score (whose top-1 quartiles ran backwards: the
# highest-scored first names were the least often right); held out, the first name's
# confidence by quartile was 0.38/0.47/0.59/0.73 against 0.39/0.45/0.61/0.69 right.
CONFIDENCE_FEATURES = ("share_of_top", "margin", "first")


def _confidence_features(cands: list[Candidate], i: int) -> list[float]:
    top, score = cands[0].score, cands[i].score
    other = (cands[1].score if len(cands) > 1 else 0.0) if i == 0 else top
    return [score / top if top > 0 else 0.0, score - other, float(i == 0)]
