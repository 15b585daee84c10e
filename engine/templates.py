"""Online log-template mining with stable template ids.

Why not drain3: on the Loghub OpenStack sample drain3 with generic masks
groups only 30% of the lines correctly and runs at 50k-100k lines/s. It
merges by token similarity, so "VM Paused" and "VM Resumed", or GET and
DELETE requests, fall into one template, while it walks a parse tree in
Python for every line. This miner is Drain-like (clusters are indexed by
token count and first token, templates generalise online) but decides
differently:

1. Masking first. Each whitespace token that holds a variable - it contains
   a digit (numbers, ids, uuids, hex, ips, times, versions), is a path
   (starts with ``/``) or a URL - becomes ``<*>`` (``key=<*>`` keeps the
   key). Masking never changes the number of tokens, so parameters line
   up with template tokens. Tokens are masked through a bounded cache
   (``_TokenMasker``): split and dict lookups run in C, about twice as fast
   as a regex pass over the message.
   Before that, a bounded cache of recent messages (two generations of
   dicts, ``TemplateMiner._masked``) maps a message seen lately, as a
   whole, to its masked tokens: repeated messages skip the split and the
   per-token lookups. It only saves work (masking is a pure function), so
   it never changes a result.
   A few masks look at a token's neighbours or its shape, all generic (issue 28,
   measured on Loghub systems the miner was never tuned on, docs/accuracy.md):
   a day name followed by a month name starts a date (``Sun Jul 10 ...``); ``()``
   is an empty value; a ruler of ``-+=|~#`` is a table border drawn as wide as its
   values; an abbreviated unit after a variable (``<1 sec``, ``12 MB``) is part of the
   quantity, and a quantity restated in brackets (``1190 bytes (1.16 KB)``) is dropped;
   the name after "for/by/from/to user" is a value. Whole unit words ("seconds") and a
   month alone stay words, so the OpenStack templates mined before keep their ids.
2. Exact cache. Most lines' masked tokens were seen before: an LRU cache
   (``functools.lru_cache``, C speed) maps them straight to their cluster.
   Only a miss (under 1% of the lines of the dev set) searches the
   clusters with the same token count and first token (or a variable
   first token); all clusters of that length are scanned only before a new
   template is created.
3. Word tokens are constants. Two token sequences join only if, position by
   position, they are equal or one side is ``<*>``. A word-only difference
   ("GET"/"POST", "Paused"/"Resumed") makes a new template, because in
   system logs such words usually name the event. When more than
   ``max_word_variants`` distinct words have been seen at the same
   positions of otherwise compatible templates, those positions are
   variables after all (task names, lock names): the templates are merged
   and the slot becomes ``<*>``. This bounds the number of templates.
   Two guards keep short messages apart: a message with a constant word joins only a
   template that shares one (a template of variables only, ``<*>``, would otherwise
   swallow every one-word message of its length), and word variants merge only into a
   template that keeps a constant word. A message of under four words never turns a
   template constant into ``<*>`` (its one word is all that tells it from another).

No rule here knows about OpenStack: the same masks serve any log format.

Template ids are derived from the template itself, as Loghub's EventId is a
hash of the template: ``template_id(text)`` is ``T`` + the first 16 hex
digits of the sha256 of the template text (masked tokens joined by single
spaces). Why not numbers in the order templates were mined: every process
(each worker of a group, a worker restarted after a ``kill -9``, `rca
analyze`) mines its own lines in its own order, so counters gave one template
many ids and one id many templates, and results could not be joined on it.
A hash needs no coordination: whoever mines the same template names it the
same, for the served bundle's templates and new ones alike.

An id never changes meaning: it always stands for exactly one template text.
When a template is generalised later (a constant becomes ``<*>``, or word
variants merge), it is a new template with a new id, and the old id is kept as
an alias of the new one (``resolve(old)`` gives the id it became; ``aliases``
lists them), so results that named the old id can still be joined with the
template that absorbed it. Merged templates alias the same way.

The model's own key is apart from that: ``MatchResult.model_id`` is the id a
template had when the miner was loaded from a bundle (what the bundle's LSTM
vocabulary and parameter statistics were trained on), or, for a template mined
since, the first id it had in this process. A worker that generalises one of
the bundle's templates therefore still scores its lines with what the bundle
learned for it. State of version 1 (bundles with numbered templates) loads
with hash ids and the old numbers as model ids, so those bundles keep working.

The whole state is plain data (``to_state``/``save``) and survives a round
trip with the same ids and match results.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any

__all__ = ["TemplateMiner", "MatchResult", "WILDCARD", "mask", "mask_token", "template_id"]

WILDCARD = "<*>"
STATE_VERSION = 2

_has_digit = re.compile(r"\d").search
# a day name followed by a month name starts a date ("at Sun Jul 10 03:55:21 2005"): both are
# variables, like its numbers
_WEEKDAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
_MONTHS = frozenset(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))
# words whose next token names who or where ("for user cyrus", "host ctl-1"): a value, like the
# value of key=value, whether or not it has a digit
# an empty pair of parentheses is a value that happens to be empty ("connection from 10.0.0.1 ()",
# beside "connection from 10.0.0.2 (host.example.org)")
_EMPTY_VALUES = frozenset(("()",))
# an abbreviated unit after a variable is part of that quantity ("lifetime <1 sec" beside
# "lifetime 00:02"); whole words ("1.5 seconds") stay words, as templates always had them
_UNITS = frozenset(("sec", "secs", "ms", "msec", "msecs", "usec", "usecs", "min", "mins", "hrs",
                    "B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "kB"))
# a run of four or more of "-+=|~#" is a ruler or a table border
# ("+------+-----+"), drawn as wide as the values in it: a variable
_is_ruler = re.compile(r"[-+=|~#]{4,}\Z").match
_VALUE_KEYS = frozenset(("user", "username"))
_VALUE_LEAD = frozenset(("for", "by", "from", "to", "of", "as"))   # "session closed for user cyrus"
# a quantity in brackets right after another one restates it ("1190 bytes (1.16 KB) sent"): it
# is dropped, so messages with and without the restatement share a template
_RESTATED = re.compile(r" \(\d[\d.,]* ?[KMGTP]?i?B\)")
_MAX_CACHED_TOKEN = 128  # longer tokens (blobs) are masked every time, not cached
_MAX_CACHED_MESSAGE = 1024  # longer messages are not kept in the recent-message cache
_RECENT_MESSAGES = 4096  # per generation of the recent-message cache
_MIN_CONSTANTS = 1  # word variants merge only into a template that keeps this many constant words


def template_id(text: str) -> str:
    """The stable id of a template text: ``T`` + 16 hex digits of its sha256 (see module doc)."""
    return "T" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def mask_token(token: str) -> str:
    """``<*>`` if the token is a variable, ``key=<*>`` for a variable value,
    else the token itself.

    A variable contains a digit (numbers, ids, uuids, hex, ips, times,
    versions), or is a path (starts with ``/``, maybe after a quote or
    bracket) or a URL.
    """
    if _has_digit(token):
        key, eq, _ = token.partition("=")
        if eq and key and not _has_digit(key):
            return key + "=" + WILDCARD
        return WILDCARD
    if token[0] == "/" or token[1:2] == "/" and token[0] in "\"'([" or "://" in token:
        return WILDCARD
    if token in _EMPTY_VALUES or _is_ruler(token):
        return WILDCARD
    return token


_CONTEXT_WORDS = _UNITS | _VALUE_KEYS
_TRIGGERS = _CONTEXT_WORDS | _WEEKDAYS


def _mask_in_context(tokens: list[str], masked: list[str]) -> None:
    """The masks that depend on a token's neighbours (units, dates, user names), in place."""
    context = _CONTEXT_WORDS
    for i in range(1, len(tokens)):
        t = tokens[i]
        if t in context:
            if t in _UNITS:
                if masked[i - 1] == WILDCARD:
                    masked[i] = WILDCARD
            elif t in _VALUE_KEYS:
                if i + 1 < len(tokens) and tokens[i - 1] in _VALUE_LEAD:
                    masked[i + 1] = WILDCARD
        elif t in _MONTHS and tokens[i - 1] in _WEEKDAYS:
            masked[i - 1] = masked[i] = WILDCARD


class _TokenMasker:
    """Masks a message token by token, with a bounded cache of token -> mask.

    Splitting on whitespace (C) and looking tokens up in a dict (C, via
    ``map``) is about twice as fast as one regex pass over the message.
    The cache is two generations of plain dicts: a hit in the old one is
    promoted, and when the new one is full the old one is dropped. That is
    an LRU approximation whose hits cost one C-level dict lookup, and it
    bounds memory when variable values never repeat.
    """

    __slots__ = ("capacity", "_new", "_old")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._new: dict[str, str] = {}
        self._old: dict[str, str] = {}

    def __call__(self, content: str) -> tuple[list[str], tuple[str, ...]]:
        """(tokens, masked tokens) of a message."""
        if "B)" in content:
            content = _RESTATED.sub("", content)
        tokens = content.split()
        new = self._new
        masked = list(map(new.get, tokens))
        if None in masked:
            old = self._old
            for i, value in enumerate(masked):
                if value is None:
                    token = tokens[i]
                    value = old.get(token)
                    if value is None:
                        value = mask_token(token)
                    masked[i] = value
                    if len(token) <= _MAX_CACHED_TOKEN:
                        new[token] = value
            if len(new) >= self.capacity:
                self._old, self._new = new, {}
        if not _TRIGGERS.isdisjoint(tokens):   # rare: one C-level test for all three rules
            _mask_in_context(tokens, masked)
        return tokens, tuple(masked)


def mask(content: str) -> str:
    """The message with its variable tokens replaced by ``<*>`` (whitespace
    normalised to single spaces)."""
    return " ".join(mask_token(t) for t in content.split())


class _Cluster:
    """One template: its token list, its id (the hash of its text), the id the model knows it
    by, and how many lines it has absorbed."""

    __slots__ = ("id", "model_id", "tokens", "text", "size", "alias")

    def __init__(self, tokens: list[str], size: int = 0, model_id: str | None = None):
        self.tokens = tokens
        self.text = " ".join(tokens)
        self.id = template_id(self.text)
        self.model_id = model_id or self.id
        self.size = size
        self.alias: _Cluster | None = None  # set when merged into another cluster

    def live(self) -> "_Cluster":
        c = self
        while c.alias is not None:
            c = c.alias
        return c


class MatchResult:
    """The template of one line: ``template_id`` (stable, what results name), ``model_id``
    (the key the model was trained on), ``template`` and ``params``.

    ``params`` (the values at the ``<*>`` positions) is computed on first
    access, since most consumers only need the id.
    """

    __slots__ = ("template_id", "model_id", "template", "_template_tokens", "_content", "_params")

    def __init__(self, cluster: _Cluster, content: str):
        self.template_id: str = cluster.id
        self.model_id: str = cluster.model_id
        self.template: str = cluster.text
        self._template_tokens = cluster.tokens
        self._content = content  # split on whitespace when params are asked for
        self._params: list[str] | None = None

    @property
    def params(self) -> list[str]:
        if self._params is None:
            self._params = extract_params(self._template_tokens, self._content.split())
        return self._params

    def __repr__(self) -> str:
        return f"MatchResult(template_id={self.template_id!r}, template={self.template!r})"


@lru_cache(maxsize=4096)
def _token_pattern(token: str) -> re.Pattern:
    """'key=<*>' -> regex with one group per <*>."""
    return re.compile("(.*?)".join(re.escape(p) for p in token.split(WILDCARD)) + r"\Z", re.DOTALL)


def extract_params(template_tokens: list[str], words: list[str]) -> list[str]:
    """Values of the ``<*>`` slots of a template in a message's words.

    A ``<*>`` may stand for several words (runs of variables are collapsed,
    see ``_collapse``): it then takes the words up to the one that fits the
    next template token, joined by single spaces.
    """
    if len(words) == len(template_tokens):
        out: list[str] = []
        for t, w in zip(template_tokens, words):
            if t == WILDCARD:
                out.append(w)
            elif WILDCARD in t:
                _extend_token_params(out, t, w)
        return out
    return _align_params(template_tokens, words)


def _extend_token_params(out: list[str], template_token: str, word: str) -> None:
    m = _token_pattern(template_token).match(word)
    if m:
        out.extend(m.groups())
    else:
        out.append(word)


def _align_params(template_tokens: list[str], words: list[str]) -> list[str]:
    out: list[str] = []
    i, n_words, n_tokens = 0, len(words), len(template_tokens)
    for k, t in enumerate(template_tokens):
        if i >= n_words:
            return out
        if t != WILDCARD:
            if WILDCARD in t:
                _extend_token_params(out, t, words[i])
            i += 1
            continue
        if k == n_tokens - 1:
            end = n_words
        elif template_tokens[k + 1] == WILDCARD:
            end = i + 1
        else:
            end, following = i + 1, template_tokens[k + 1]
            while end < n_words and not _fits(following, words[end]):
                end += 1
        out.append(" ".join(words[i:end]))
        i = end
    return out


def _collapse(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Collapse runs of ``<*>``: lists of variable length ("files: a b c")
    then share one template instead of one per length."""
    out = []
    previous = None
    for t in tokens:
        if t != WILDCARD or previous != WILDCARD:
            out.append(t)
        previous = t
    return tuple(out)


def _fits(template_token: str, token: str) -> bool:
    """Does ``token`` (possibly masked, e.g. 'key=<*>') fit ``template_token``?"""
    if template_token == token or template_token == WILDCARD:
        return True
    if WILDCARD not in template_token:
        return False
    return _token_pattern(template_token).match(token) is not None


class TemplateMiner:
    """Online template miner (see the module docstring for the algorithm).

    ``add(content)`` learns and returns a ``MatchResult``; ``match(content)``
    only looks up (None when no template fits as is). ``templates`` maps
    live ids to template text; ``len(miner)`` is their number.
    """

    def __init__(self, max_word_variants: int = 8, cache_size: int = 20_000,
                 token_cache_size: int = 100_000):
        self.max_word_variants = max_word_variants
        self.cache_size = cache_size
        self.token_cache_size = token_cache_size
        self._clusters: dict[str, _Cluster] = {}  # live clusters by id
        self._aliases: dict[str, str] = {}  # id of a former template -> the id it became
        self._by_len: dict[int, list[_Cluster]] = {}  # clusters by token count
        self._index: dict[tuple[int, str], list[_Cluster]] = {}  # by (count, first token)
        self._init_caches()

    def _init_caches(self) -> None:
        self._mask = _TokenMasker(self.token_cache_size)
        # recent message -> masked tokens (two generations, bounded)
        self._recent_capacity = max(1, min(self.cache_size, _RECENT_MESSAGES))
        self._recent: dict[str, tuple[str, ...]] = {}
        self._recent_old: dict[str, tuple[str, ...]] = {}
        # masked text -> cluster, learning on a miss (bounded LRU, C speed)
        self._lookup = lru_cache(maxsize=self.cache_size)(self._learn)
        # masked text -> cluster or None, no learning; cleared on any change
        self._peek = lru_cache(maxsize=self.cache_size)(self._find)

    # -- public API ---------------------------------------------------------------

    def _masked(self, content: str) -> tuple[str, ...]:
        """The masked tokens of a message, through a bounded cache of recent
        messages (two generations, like ``_TokenMasker``): a repeated message
        costs one dict lookup instead of a split and a lookup per token."""
        masked = self._recent.get(content)
        if masked is None:
            masked = self._recent_old.get(content)
            if masked is None:
                masked = self._mask(content)[1]
            if len(content) <= _MAX_CACHED_MESSAGE:
                recent = self._recent
                recent[content] = masked
                if len(recent) >= self._recent_capacity:
                    self._recent_old, self._recent = recent, {}
        return masked

    def add(self, content: str) -> MatchResult:
        """Learn from one message; return its (possibly generalised) template."""
        recent = self._recent
        masked = recent.get(content)
        if masked is None:  # self._masked(content), inlined
            masked = self._recent_old.get(content)
            if masked is None:
                masked = self._mask(content)[1]
            if len(content) <= _MAX_CACHED_MESSAGE:
                recent[content] = masked
                if len(recent) >= self._recent_capacity:
                    self._recent_old, self._recent = recent, {}
        cluster = self._lookup(masked)
        if cluster.alias is not None:
            cluster = cluster.live()
        cluster.size += 1
        return MatchResult(cluster, content)

    def match(self, content: str) -> MatchResult | None:
        """The template that fits ``content`` as it is, without learning."""
        cluster = self._peek(self._masked(content))
        if cluster is None:
            return None
        return MatchResult(cluster.live(), content)

    @property
    def templates(self) -> dict[str, str]:
        return {cid: c.text for cid, c in self._clusters.items()}

    @property
    def aliases(self) -> dict[str, str]:
        """Ids of templates that were generalised or merged -> the id each became (one step)."""
        return dict(self._aliases)

    def resolve(self, tid: str) -> str:
        """The live id of a template id that may have been generalised or merged away."""
        seen = 0
        while tid in self._aliases and seen <= len(self._aliases):
            tid = self._aliases[tid]
            seen += 1
        return tid

    def live(self, tid: str) -> tuple[str, str]:
        """(live id, its text) of a template id that may have been generalised or merged away
        since a line was matched; KeyError for an id this miner never had."""
        cluster = self._clusters.get(tid)
        if cluster is None:
            cluster = self._clusters.get(self.resolve(tid))
            if cluster is None:
                raise KeyError(tid)
        return cluster.id, cluster.text

    def size_of(self, tid: str) -> int:
        """How many lines the template has absorbed."""
        return self._clusters[self.resolve(tid)].size

    def __len__(self) -> int:
        return len(self._clusters)

    # -- learning -----------------------------------------------------------------

    def _candidates(self, n: int) -> list[_Cluster]:
        return self._by_len.get(n, [])

    def _find(self, masked: tuple[str, ...]) -> _Cluster | None:
        """Best cluster whose template fits the masked tokens as is (no change)."""
        tokens = _collapse(masked)
        n = len(tokens)
        pool = self._index.get((n, WILDCARD), [])
        if n and WILDCARD not in tokens[0]:
            pool = self._index.get((n, tokens[0]), []) + pool
        elif not n:
            pool = self._by_len.get(0, [])
        best, best_score = None, -1
        has_constant = any(t != WILDCARD for t in tokens)
        for c in pool:
            score = 0
            for t, s in zip(c.tokens, tokens):
                if t == s:
                    if t != WILDCARD:
                        score += 1
                elif not _fits(t, s):
                    break
            else:
                if (score or not has_constant) and score > best_score or (score == best_score and c.id < best.id):
                    best, best_score = c, score
        return best

    def _learn(self, masked: tuple[str, ...]) -> _Cluster:
        """Cache miss: join a compatible cluster, merge word variants, or create.

        A compatible template has the same first token or a variable there,
        so the clusters indexed under (length, first token) and (length,
        ``<*>``) are searched first; all clusters of the same length are
        scanned only before creating a template (to count word variants).
        """
        tokens = _collapse(masked)
        n = len(tokens)
        # constants that may turn into <*> at once; none in a message of under four words, whose
        # one word is all that tells it from another ("normal" / "ambient=<*>")
        max_new = n // 4
        first = tokens[0] if n else ""
        if n and WILDCARD not in first:
            pool = self._index.get((n, first), []) + self._index.get((n, WILDCARD), [])
            best, new, _ = self._search(tokens, pool, max_new)
            if best is not None:
                if new:
                    self._generalise(best, new, tokens)
                return best
        best, new, near = self._search(tokens, self._by_len.get(n, []), max_new)
        if best is not None:
            if new:
                self._generalise(best, new, tokens)
            return best
        if near:
            merged = self._merge_variants(tokens, near)
            if merged is not None:
                return merged
        return self._create(tokens)

    @staticmethod
    def _search(tokens: tuple[str, ...], clusters: list[_Cluster], max_new: int):
        """(best compatible cluster, its positions to generalise, near clusters).

        Compatible: every position is equal, fits a ``<*>`` of the template,
        or is a variable where the template has a constant (at most
        ``max_new`` of those). Near: differs in at most ``max_new`` words.
        """
        best, best_score, best_new = None, -1, None
        near: list[tuple[_Cluster, list[int]]] = []
        # a message with a constant word joins only a template that shares one: a template of
        # variables only ("<*>") would otherwise swallow every one-word message of its length
        has_constant = any(t != WILDCARD for t in tokens)
        for c in clusters:
            score, diff, new = 0, [], []
            for i, (t, s) in enumerate(zip(c.tokens, tokens)):
                if t == s:
                    if t != WILDCARD:
                        score += 1
                elif _fits(t, s):
                    pass
                elif WILDCARD in s:
                    new.append(i)
                else:
                    diff.append(i)
            if len(new) > max_new:
                continue
            if not diff and (score or not has_constant):
                # most constants in common; ties go to the smaller id (a hash of
                # the text), so that every miner holding these templates decides
                # alike, whatever order it learned them in
                if score > best_score or (score == best_score and c.id < best.id):
                    best, best_score, best_new = c, score, new
            elif len(diff) <= max_new and not new:
                near.append((c, diff))
        return best, best_new, near

    def _merge_variants(self, tokens: tuple[str, ...],
                        near: list[tuple[_Cluster, list[int]]]) -> _Cluster | None:
        """Merge word variants when a slot has more than max_word_variants words."""
        values: dict[int, set[str]] = {}
        for c, diff in near:
            for i in diff:
                values.setdefault(i, {tokens[i]}).add(c.tokens[i])
        slots = {i for i, v in values.items() if len(v) > self.max_word_variants}
        if not slots:
            return None
        constants = sum(1 for i, t in enumerate(tokens) if i not in slots and WILDCARD not in t)
        if constants < _MIN_CONSTANTS:
            return None   # a template of variables only would swallow unrelated one-word messages
        members = [c for c, diff in near if slots.issuperset(diff)]
        if not members:
            return None
        survivor = min(members, key=lambda c: c.id)
        self._generalise(survivor, sorted(slots), tokens)
        return survivor

    def _create(self, tokens: tuple[str, ...]) -> _Cluster:
        cluster = _Cluster(list(tokens))
        self._aliases.pop(cluster.id, None)   # a live template wins over a former one of that text
        self._add_cluster(cluster)
        self._peek.cache_clear()
        return cluster

    @staticmethod
    def _index_key(tokens: list[str]) -> tuple[int, str]:
        first = tokens[0] if tokens else ""
        return len(tokens), WILDCARD if WILDCARD in first else first

    def _add_cluster(self, cluster: _Cluster) -> None:
        self._clusters[cluster.id] = cluster
        self._by_len.setdefault(len(cluster.tokens), []).append(cluster)
        self._index.setdefault(self._index_key(cluster.tokens), []).append(cluster)

    def _generalise(self, cluster: _Cluster, positions: list[int], tokens: tuple[str, ...]) -> None:
        """Turn ``positions`` of the template into variables, then absorb the
        templates that the generalised one now covers (they merge into it)."""
        new_tokens = list(cluster.tokens)
        for i in positions:
            s = tokens[i]
            new_tokens[i] = s if WILDCARD in s and _fits(s, new_tokens[i]) else WILDCARD
        old_key, new_key = self._index_key(cluster.tokens), self._index_key(new_tokens)
        if old_key != new_key:
            self._index[old_key].remove(cluster)
            self._index.setdefault(new_key, []).append(cluster)
        cluster.tokens = new_tokens
        cluster.text = " ".join(new_tokens)
        old_id, cluster.id = cluster.id, template_id(cluster.text)
        if old_id != cluster.id:   # a new template: a new id, the old one an alias of it
            self._clusters.pop(old_id, None)
            self._aliases[old_id] = cluster.id
            self._aliases.pop(cluster.id, None)
        for other in list(self._candidates(len(new_tokens))):
            if other is not cluster and all(_fits(t, o) for t, o in zip(new_tokens, other.tokens)):
                self._absorb(cluster, other)
        self._clusters[cluster.id] = cluster
        self._peek.cache_clear()

    def _absorb(self, survivor: _Cluster, other: _Cluster) -> None:
        """`other` is covered by `survivor`: its lines join it, its id becomes an alias of it."""
        survivor.size += other.size
        self._by_len[len(other.tokens)].remove(other)
        self._index[self._index_key(other.tokens)].remove(other)
        other.alias = survivor
        other.tokens = survivor.tokens
        if self._clusters.get(other.id) is other:
            del self._clusters[other.id]
        if other.id != survivor.id:
            self._aliases[other.id] = survivor.id

    # -- persistence ----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The whole miner as plain data (templates with their model ids and sizes, aliases,
        settings); ids are not stored, they are the hashes of the templates."""
        return {
            "version": STATE_VERSION,
            "max_word_variants": self.max_word_variants,
            "cache_size": self.cache_size,
            "token_cache_size": self.token_cache_size,
            "clusters": [[c.tokens, c.size, c.model_id] for c in self._clusters.values()],
            "aliases": [[k, v] for k, v in self._aliases.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TemplateMiner":
        version = state.get("version")
        if version not in (1, STATE_VERSION):
            raise ValueError(f"unsupported template state version {version!r}")
        miner = cls(max_word_variants=state["max_word_variants"], cache_size=state["cache_size"],
                    token_cache_size=state.get("token_cache_size", 100_000))
        if version == 1:   # numbered templates: hash ids, the old numbers stay the model's keys
            numbered = {int(cid): _Cluster(list(tokens), size, str(cid))
                        for cid, tokens, size in sorted(state["clusters"])}
            clusters = list(numbered.values())
            old = {int(k): int(v) for k, v in state["aliases"]}

            def live(n: int) -> int:
                while n in old and n not in numbered:
                    n = old[n]
                return n

            aliases = {str(k): numbered[live(k)].id for k in old if live(k) in numbered}
            aliases.update({str(n): c.id for n, c in numbered.items()})   # callers holding old numbers
        else:
            clusters = [_Cluster(list(tokens), size, model_id) for tokens, size, model_id in state["clusters"]]
            aliases = {str(k): str(v) for k, v in state["aliases"]}
        for c in sorted(clusters, key=lambda c: c.id):
            miner._add_cluster(c)
        miner._aliases = aliases
        return miner

    def save(self) -> bytes:
        """The state as JSON bytes."""
        return json.dumps(self.to_state(), separators=(",", ":")).encode()

    @classmethod
    def load(cls, data: bytes) -> "TemplateMiner":
        return cls.from_state(json.loads(data))

    def __getstate__(self) -> dict[str, Any]:  # pickle the plain state, not the caches
        return self.to_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(TemplateMiner.from_state(state).__dict__)
        self._init_caches()
