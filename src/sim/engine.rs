//! The event loop.
//!
//! Arrivals come from the (sorted) request slice and are merged with the pending events; equal
//! times pop in insertion order (sequence numbers), arrivals first. Events that follow "now" by
//! a constant delay (a region's round trip: an answer reaching the gateway) go to one FIFO
//! queue per delay, which stays sorted by construction; only events with variable delays
//! (completions, retries, timeouts) go through the binary heap. Work that takes no simulated
//! time (a gateway re-route) is done inline, so a request served on its first attempt costs
//! one heap event.
//!
//! **Request lifecycle.** Each request in flight has one [`Phase`] and two counters: its client
//! attempt (1 = the first send) and its dispatch (every send from the gateway to a deployment,
//! across attempts). Every event names the counter it belongs to: a deployment's answer and a
//! gateway's sleep carry the dispatch, a client timeout and a client re-send the attempt. An
//! event acts only when its request is still live, in the phase the event expects, and on the
//! counter the event carries; anything else is stale and changes nothing for the client (a
//! late answer is still billed, and still reaches the gateway's bookkeeping). So:
//! * a request ends exactly once (`arrived = succeeded + failed`), and an ended request is
//!   never revived: its state is freed and stale events find nothing to act on;
//! * events per request are bounded by construction: at most `max_retries + 1` attempts, each
//!   with at most `retries + 1` dispatches (the gateway's re-route budget), each dispatch with
//!   one completion, one answer and one gateway sleep; each attempt with one timeout and one
//!   re-send. [`run`] checks the total against that bound and reports a breach as an internal
//!   error instead of running on.
//!
//! Choices made here:
//! * admission is decided when the request leaves the gateway, and the region's round trip
//!   delays the answer (a 429 reaches the gateway one round trip later, a completion one round
//!   trip after the work ends); the deployment's state thus runs half a round trip (tens of
//!   milliseconds) ahead of the real service, which keeps one event per request;
//! * a client attempt that would outlast `timeout_s` is abandoned at the timeout: the backend
//!   still does (and is charged for) the work, the late answer is ignored (counted as `late`),
//!   and the client retries as for any failure without Retry-After. The gateway does not
//!   re-route an abandoned attempt;
//! * client backoff: `min(base × 2ⁿ, max)`, times `1 − 0.25 × U` with jitter (openai-python);
//!   a Retry-After of at most 60 s replaces it when `honour_retry_after`;
//! * clients retry 408, 429 and 5xx; a 400 is final;
//! * the service answers 400 (before admission) to a prompt above the model's input limit (or
//!   the provisioned long-context limit), and to a request whose own `max_tokens` is above the
//!   model's output limit or does not fit the context window with the prompt;
//! * a completion is never longer than the model's output limit (or the request's own
//!   `max_tokens`): a longer one in a trace is cut there and counted as `truncated`;
//! * native spillover happens inside the provisioned deployment's resource at the same instant;
//!   when the Standard deployment refuses too, the provisioned 429 (or 400) is returned.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use super::backend::{Admit, Bucket, Limits, Meter};
use super::gateway::{Choice, GatewayState, Outcome, Retry};
use super::hist::Hist;
use super::topology::{Admission, Deployment, Topology};
use super::{
    Budget, CostSummary, DeploymentReport, Failures, GatewayRejections, Latency, RequestOutcome,
    Rng, Series, Served, SimError, SimOptions, SimReport, SimRequest, Spillover, Timeline,
};
use crate::catalog::Reservation;

/// Clients honour a Retry-After of at most this long (openai-python).
const CLIENT_MAX_RETRY_AFTER_US: i64 = 60_000_000;
/// Jitter factor of client backoff: delay × (1 − JITTER × U).
const CLIENT_JITTER: f64 = 0.25;
/// Status the simulator uses for a client-side timeout.
const TIMEOUT: u16 = 408;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Deployment `dep` finished dispatch `id`; `x` holds the admission estimate (f64 bits).
    Done,
    /// The answer to dispatch `id` from `dep` reaches the gateway: `status`, `x` = Retry-After
    /// µs (-1: none).
    Response,
    /// The gateway re-routes dispatch `id`'s failure after sleeping (LiteLLM).
    GatewayRetry,
    /// The client re-sends after the failure of attempt `id`.
    ClientRetry,
    /// The client gives up on attempt `id`.
    ClientTimeout,
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    t: i64,
    seq: u64,
    x: i64,
    req: u32,
    /// The attempt or dispatch the event belongs to (see [`Kind`]).
    id: u32,
    dep: u16,
    status: u16,
    /// Gateway instance (high byte) and backend index (low byte) of the dispatch.
    via: u16,
    kind: Kind,
}

impl Ev {
    fn new(t: i64, kind: Kind, req: u32, id: u32) -> Ev {
        Ev {
            t,
            seq: 0,
            x: 0,
            req,
            id,
            dep: 0,
            status: 0,
            via: 0,
            kind,
        }
    }

    fn via(mut self, via: u16) -> Ev {
        self.via = via;
        self
    }

    fn at(mut self, dep: usize) -> Ev {
        self.dep = dep as u16;
        self
    }

    fn with(mut self, status: u16, x: i64) -> Ev {
        self.status = status;
        self.x = x;
        self
    }
}

/// A heap entry: the event's time and sequence number, and where the event waits in the
/// slab. Keeping the event itself out of the heap makes each sift move 24 bytes, not 40.
#[derive(Debug, Clone, Copy)]
struct Key {
    t: i64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.seq == o.seq
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest time, then lowest sequence.
        o.t.cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

/// Where a live request is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// Arrived, not yet sent (only inside `arrive`).
    #[default]
    New,
    /// Sent to a deployment: waiting for the answer to dispatch `dispatch`.
    InFlight,
    /// The gateway sleeps before re-routing the failure of dispatch `dispatch`.
    GatewayWait,
    /// The client waits before re-sending after the failure of attempt `attempt`.
    Backoff,
}

/// Progress of a live request.
#[derive(Debug, Clone, Copy, Default)]
struct ReqState {
    phase: Phase,
    /// Client attempts so far (1 = the first send).
    attempt: u32,
    /// Dispatches so far, over all attempts.
    dispatch: u32,
    /// Gateway re-routes in the current attempt.
    gw_tries: u16,
    inst: u16,
    /// Gateway backend index of the current dispatch.
    backend: u16,
    fallback: bool,
    /// The current attempt's timeout is scheduled.
    timeout_armed: bool,
    attempt_start: i64,
}

/// Progress of the requests in flight: a slab of [`ReqState`] reused as requests end, and a
/// map from request to slot. Memory is 4 bytes per request plus the states of those in flight
/// (a week of traffic would otherwise need a state per request). A request's slot is taken
/// once, at its arrival, and released once, when it ends: an ended request has no state.
struct States {
    slot_of: Vec<u32>,
    slab: Vec<ReqState>,
    free: Vec<u32>,
}

/// `slot_of` marks: not arrived yet, and ended.
const NO_SLOT: u32 = u32::MAX;
const ENDED: u32 = u32::MAX - 1;

impl States {
    fn new(n: usize) -> Self {
        States {
            slot_of: vec![NO_SLOT; n],
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A copy of a live request's state (None: not arrived, or ended).
    #[inline]
    fn get(&self, req: u32) -> Option<ReqState> {
        match self.slot_of[req as usize] {
            NO_SLOT | ENDED => None,
            s => Some(self.slab[s as usize]),
        }
    }

    /// The state of a live request.
    #[inline]
    fn get_mut(&mut self, req: u32) -> Option<&mut ReqState> {
        match self.slot_of[req as usize] {
            NO_SLOT | ENDED => None,
            s => Some(&mut self.slab[s as usize]),
        }
    }

    /// A fresh state for an arriving request.
    fn arrive(&mut self, req: u32) -> &mut ReqState {
        let slot = match self.free.pop() {
            Some(f) => f,
            None => {
                self.slab.push(ReqState::default());
                (self.slab.len() - 1) as u32
            }
        };
        self.slab[slot as usize] = ReqState::default();
        self.slot_of[req as usize] = slot;
        &mut self.slab[slot as usize]
    }

    /// The request has ended: its slot is reused.
    fn end(&mut self, req: u32) {
        let s = self.slot_of[req as usize];
        if s != NO_SLOT && s != ENDED {
            self.free.push(s);
        }
        self.slot_of[req as usize] = ENDED;
    }
}

#[derive(Debug, Clone, Default)]
struct DepStats {
    attempts: u64,
    successes: u64,
    late: u64,
    throttled: u64,
    rejected: u64,
    spilled_in: u64,
    prompt: u64,
    cached: u64,
    completion: u64,
    cost: f64,
}

enum Adm {
    Bucket(Bucket),
    Limits(Limits),
}

/// Why a request was answered with a failure, for the failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Deployment,
    /// The gateway answered by itself (no backend available).
    Gateway,
    TokenLimit,
    Timeout,
}

struct Sim<'a> {
    topo: &'a Topology,
    reqs: &'a [SimRequest],
    state: States,
    heap: BinaryHeap<Key>,
    /// Events waiting in the heap, by slot; `free_slots` are reused.
    slab: Vec<Ev>,
    free_slots: Vec<u32>,
    /// (delay, events scheduled `delay` after their creation, in time order).
    fifos: Vec<(i64, VecDeque<Ev>)>,
    seq: u64,
    rng: Rng,
    gw: GatewayState,
    adm: Vec<Adm>,
    /// Azure-style utilisation per deployment.
    meters: Vec<Meter>,
    stats: Vec<DepStats>,
    /// Gateway priority per deployment (None: reached only by spillover).
    priority: Vec<Option<u32>>,
    p1: u32,
    latencies: Hist,
    failures: Failures,
    rejections: GatewayRejections,
    succeeded: u64,
    failed: u64,
    client_retries: u64,
    gateway_retries: u64,
    timed_out_attempts: u64,
    truncated: u64,
    outside_p1_requests: u64,
    outside_p1_tokens: u64,
    served_tokens: u64,
    timeline: Option<Timeline>,
    record: Option<Vec<RequestOutcome>>,
    served: Option<Vec<Served>>,
    last_t: i64,
    /// Latest time an answer reached a client.
    end_t: i64,
    /// Successful answers change nothing at the gateway for the APIM policies without a token
    /// limit, so they are settled when the deployment finishes instead of as an event.
    success_inline: bool,
}

/// Most events one request can cause (see the module doc): `(max_retries + 1)` attempts, each
/// with a timeout and a re-send, and `(retries + 1)` dispatches, each with a completion, an
/// answer and a gateway sleep.
pub(super) fn events_per_request_bound(topo: &Topology) -> u64 {
    let attempts = topo.client.max_retries as u64 + 1;
    let dispatches = topo.gateway.retries as u64 + 1;
    attempts * (2 + 3 * dispatches)
}

/// Runs the simulation of `reqs` (sorted by arrival) through `topo`.
pub fn run(topo: &Topology, reqs: &[SimRequest], opts: SimOptions) -> Result<SimReport, SimError> {
    let start = reqs.first().map_or(0, |r| r.t_us);
    let start_s = start.div_euclid(1_000_000);
    let deps = &topo.deployments;
    let adm = deps
        .iter()
        .map(|d| match &d.admission {
            a @ Admission::Provisioned {
                drain_per_us,
                bucket_tokens,
                schedule,
                ..
            } => Adm::Bucket(match schedule {
                Some(h) => Bucket::scheduled(h.map(|ptu| a.rates_at(ptu)), start),
                None => Bucket::new(*drain_per_us, *bucket_tokens, start),
            }),
            Admission::Standard {
                tpm_limit,
                rpm_limit,
                tpm_window_us,
                rpm_window_us,
            } => Adm::Limits(Limits::new(
                *tpm_limit,
                *rpm_limit,
                *tpm_window_us,
                *rpm_window_us,
            )),
        })
        .collect();
    let meters = deps
        .iter()
        .map(|d| match &d.admission {
            a @ Admission::Provisioned {
                drain_per_us,
                schedule,
                ..
            } => match schedule {
                Some(h) => Meter::scheduled(h.map(|ptu| a.rates_at(ptu).0 * 60e6), start),
                None => Meter::new(drain_per_us * 60e6, start),
            },
            Admission::Standard { tpm_limit, .. } => Meter::new(*tpm_limit as f64, start),
        })
        .collect();
    let limits = topo
        .gateway
        .backends
        .iter()
        .map(|b| {
            let d = &deps[b.deployment];
            let own = match d.admission {
                Admission::Standard {
                    tpm_limit,
                    rpm_limit,
                    ..
                } => (Some(tpm_limit), Some(rpm_limit.floor() as u64)),
                Admission::Provisioned { .. } => (None, None),
            };
            (b.tpm.or(own.0), b.rpm.or(own.1))
        })
        .collect();
    let priority: Vec<Option<u32>> = (0..deps.len())
        .map(|d| topo.backend_of(d).map(|b| b.priority))
        .collect();
    let mut sim = Sim {
        topo,
        reqs,
        state: States::new(reqs.len()),
        heap: BinaryHeap::with_capacity(1024),
        slab: Vec::with_capacity(1024),
        free_slots: Vec::new(),
        fifos: Vec::new(),
        seq: 0,
        rng: Rng::new(opts.seed),
        gw: GatewayState::new(&topo.gateway, limits),
        adm,
        meters,
        stats: vec![DepStats::default(); deps.len()],
        p1: topo
            .gateway
            .backends
            .iter()
            .map(|b| b.priority)
            .min()
            .unwrap_or(1),
        priority,
        latencies: Hist::default(),
        failures: Failures::default(),
        rejections: GatewayRejections::default(),
        succeeded: 0,
        failed: 0,
        client_retries: 0,
        gateway_retries: 0,
        timed_out_attempts: 0,
        truncated: 0,
        outside_p1_requests: 0,
        outside_p1_tokens: 0,
        served_tokens: 0,
        timeline: opts.timeline.then(|| Timeline {
            start_s,
            seconds: 0,
            deployments: vec![Series::default(); deps.len()],
        }),
        record: opts
            .record
            .then(|| vec![RequestOutcome::default(); reqs.len()]),
        served: opts.ledger.then(Vec::new),
        last_t: start,
        end_t: start,
        success_inline: !topo.gateway.policy.is_litellm() && topo.gateway.token_limit.is_none(),
    };
    let bound = (reqs.len() as u64).saturating_mul(events_per_request_bound(topo));
    let events = sim.run_loop(bound)?;
    Ok(sim.report(start, events, opts.reservation))
}

impl Sim<'_> {
    /// Schedules `ev` (its sequence number is assigned here).
    fn push(&mut self, mut ev: Ev) {
        self.seq += 1;
        ev.seq = self.seq;
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.slab[s as usize] = ev;
                s
            }
            None => {
                self.slab.push(ev);
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Key {
            t: ev.t,
            seq: ev.seq,
            slot,
        });
    }

    /// Schedules `ev`, which happens a constant `delay` after now: FIFO order is time order.
    fn push_delayed(&mut self, mut ev: Ev, delay: i64) {
        self.seq += 1;
        ev.seq = self.seq;
        match self.fifos.iter_mut().find(|(d, _)| *d == delay) {
            Some((_, q)) => q.push_back(ev),
            None => self.fifos.push((delay, VecDeque::from([ev]))),
        }
    }

    /// The earliest pending event's (time, source): `usize::MAX` for the heap, else a FIFO.
    #[inline]
    fn next_source(&self) -> Option<(i64, usize)> {
        let mut best: Option<(i64, u64, usize)> =
            self.heap.peek().map(|e| (e.t, e.seq, usize::MAX));
        for (i, (_, q)) in self.fifos.iter().enumerate() {
            if let Some(e) = q.front()
                && best.is_none_or(|(t, s, _)| (e.t, e.seq) < (t, s))
            {
                best = Some((e.t, e.seq, i));
            }
        }
        best.map(|(t, _, i)| (t, i))
    }

    fn pop_from(&mut self, source: usize) -> Option<Ev> {
        if source == usize::MAX {
            let k = self.heap.pop()?;
            self.free_slots.push(k.slot);
            Some(self.slab[k.slot as usize])
        } else {
            self.fifos[source].1.pop_front()
        }
    }

    /// Runs until no arrival and no event is left; returns the number of events handled.
    fn run_loop(&mut self, bound: u64) -> Result<u64, SimError> {
        let mut next = 0usize;
        let mut events = 0u64;
        loop {
            let arrival = self.reqs.get(next).map(|r| r.t_us);
            let event = self.next_source();
            match (arrival, event) {
                (None, None) => break,
                (Some(a), e) if e.is_none_or(|(t, _)| a <= t) => {
                    self.last_t = a;
                    self.arrive(next as u32, a);
                    next += 1;
                }
                (_, Some((_, source))) => {
                    let Some(ev) = self.pop_from(source) else {
                        break;
                    };
                    events += 1;
                    if events > bound {
                        return Err(SimError::EventBound { bound });
                    }
                    self.last_t = ev.t;
                    self.handle(ev);
                }
                (_, None) => break,
            }
        }
        Ok(events)
    }

    fn handle(&mut self, ev: Ev) {
        let st = self.state.get(ev.req);
        match ev.kind {
            Kind::Done => self.done(ev),
            Kind::Response => {
                let ra = (ev.x >= 0).then_some(ev.x);
                self.response(ev.req, ev.dep as usize, ev.t, ev.id, ev.via, ev.status, ra)
            }
            Kind::GatewayRetry => {
                if let Some(st) = st
                    && st.phase == Phase::GatewayWait
                    && st.dispatch == ev.id
                {
                    self.route(ev.req, st.inst as usize, ev.t);
                }
            }
            Kind::ClientRetry => {
                if let Some(st) = st
                    && st.phase == Phase::Backoff
                    && st.attempt == ev.id
                {
                    self.client_send(ev.req, ev.t);
                }
            }
            Kind::ClientTimeout => {
                if let Some(st) = st
                    && st.attempt == ev.id
                    && matches!(st.phase, Phase::InFlight | Phase::GatewayWait)
                {
                    // The attempt is abandoned: its answer, when it comes, is late.
                    self.timed_out_attempts += 1;
                    self.client_failure(ev.req, ev.t, TIMEOUT, None, Cause::Timeout);
                }
            }
        }
    }

    /// Request `req` arrives at the client.
    fn arrive(&mut self, req: u32, now: i64) {
        self.state.arrive(req);
        self.client_send(req, now);
    }

    /// The client sends (or re-sends) live request `req`.
    fn client_send(&mut self, req: u32, now: i64) {
        let instances = self.topo.gateway.instances as usize;
        let inst = if instances > 1 {
            self.rng.below(instances)
        } else {
            0
        };
        let Some(st) = self.state.get_mut(req) else {
            return;
        };
        st.attempt += 1;
        st.gw_tries = 0;
        st.inst = inst as u16;
        st.attempt_start = now;
        st.timeout_armed = false;
        st.fallback = false;
        let r = self.reqs[req as usize];
        if let Err(ra) = self.gw.token_limit_admit(now, r.key, r.prompt as u64) {
            self.rejections.token_limit += 1;
            self.client_failure(req, now, 429, Some(ra), Cause::TokenLimit);
            return;
        }
        self.route(req, inst, now);
    }

    /// The gateway instance picks a backend and sends.
    fn route(&mut self, req: u32, inst: usize, now: i64) {
        let prompt = self.reqs[req as usize].prompt as u64;
        match self.gw.select(inst, now, prompt, &mut self.rng) {
            Choice::Backend(b) => self.dispatch(req, inst, b, now, false),
            Choice::Fallback(b) => self.dispatch(req, inst, b, now, true),
            Choice::Reject {
                status,
                retry_after_us,
            } => {
                if status == 429 {
                    self.rejections.no_backend += 1;
                } else {
                    self.rejections.unavailable += 1;
                }
                self.client_failure(req, now, status, retry_after_us, Cause::Gateway)
            }
        }
    }

    fn dispatch(&mut self, req: u32, inst: usize, b: usize, now: i64, fallback: bool) {
        let dep = self.topo.gateway.backends[b].deployment;
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let rtt = topo.regions[d.region].rtt_us;
        let r = self.reqs[req as usize];
        let timeout_us = topo.client.timeout_us;
        let Some(st) = self.state.get_mut(req) else {
            return;
        };
        st.dispatch += 1;
        st.phase = Phase::InFlight;
        st.backend = b as u16;
        st.fallback = fallback;
        let (dispatch, attempt) = (st.dispatch, st.attempt);
        let deadline = st.attempt_start + timeout_us;
        // A timeout can only strike if an answer could come after the deadline; once armed it
        // covers every later dispatch of the attempt.
        let arm = !st.timeout_armed && now + rtt + service_us(d, &r).0 > deadline;
        if arm {
            st.timeout_armed = true;
        }
        let via = ((inst as u16) << 8) | b as u16;
        if arm {
            self.push(Ev::new(deadline, Kind::ClientTimeout, req, attempt));
        }
        self.gw.on_dispatch(inst, b);
        self.at_backend(req, dep, now, dispatch, via);
    }

    fn count(&mut self, dep: usize, now: i64, f: impl Fn(&mut Series)) {
        if let Some(tl) = &mut self.timeline {
            let i = (now.div_euclid(1_000_000) - tl.start_s).max(0) as usize;
            let s = &mut tl.deployments[dep];
            if s.attempts.len() <= i {
                s.attempts.resize(i + 1, 0);
                s.asked.resize(i + 1, 0);
                s.successes.resize(i + 1, 0);
                s.throttled.resize(i + 1, 0);
                s.tokens.resize(i + 1, 0);
            }
            f(s);
        }
    }

    /// Admission at deployment `dep`: `Ok(estimate charged)` or the refusal (status, Retry-After).
    fn admit(&mut self, req: u32, dep: usize, now: i64) -> Result<f64, (u16, Option<i64>)> {
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        self.stats[dep].attempts += 1;
        let i = self.idx(now);
        let budget = budget(d, &r);
        // As Azure's TPM counter counts a request: prompt + the max_tokens charged.
        let asked = r.prompt as u64 + budget as u64;
        self.count(dep, now, |s| {
            s.attempts[i] += 1;
            s.asked[i] += asked;
        });
        if exceeds_limits(d, &r, budget) {
            self.stats[dep].rejected += 1;
            return Err((400, None));
        }
        let (admit, estimate) = match (&mut self.adm[dep], &d.admission) {
            (Adm::Bucket(b), Admission::Provisioned { output_weight, .. }) => {
                let est =
                    (r.prompt - r.cached.min(r.prompt)) as f64 + output_weight * budget as f64;
                (b.admit(now, est), est)
            }
            (Adm::Limits(l), _) => {
                let est = r.prompt as f64 + budget as f64;
                (l.admit(now, est), est)
            }
            // `run` gives provisioned deployments a bucket and Standard ones limits.
            (Adm::Bucket(_), Admission::Standard { .. }) => return Err((500, None)),
        };
        match admit {
            Admit::Ok => {
                self.meters[dep].add(now, estimate);
                Ok(estimate)
            }
            Admit::Throttled { retry_after_us } => {
                self.stats[dep].throttled += 1;
                self.count(dep, now, |s| s.throttled[i] += 1);
                let ra = d.retry_after_header.then_some(retry_after_us);
                Err((429, ra))
            }
        }
    }

    fn idx(&self, now: i64) -> usize {
        self.timeline.as_ref().map_or(0, |tl| {
            (now.div_euclid(1_000_000) - tl.start_s).max(0) as usize
        })
    }

    fn at_backend(&mut self, req: u32, dep: usize, now: i64, dispatch: u32, via: u16) {
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let rtt = topo.regions[d.region].rtt_us;
        let (served_by, result) = match self.admit(req, dep, now) {
            Ok(est) => (dep, Ok(est)),
            Err(err) => match d.spillover {
                Some(spill) => {
                    self.stats[spill].spilled_in += 1;
                    match self.admit(req, spill, now) {
                        Ok(est) => (spill, Ok(est)),
                        Err(_) => (dep, Err(err)),
                    }
                }
                None => (dep, Err(err)),
            },
        };
        match result {
            Ok(est) => {
                let s = &topo.deployments[served_by];
                let r = self.reqs[req as usize];
                let end = now + service_us(s, &r).0;
                self.push(
                    Ev::new(end, Kind::Done, req, dispatch)
                        .at(served_by)
                        .with(0, est.to_bits() as i64)
                        .via(via),
                );
            }
            Err((status, ra)) => {
                if rtt == 0 {
                    self.response(req, dep, now, dispatch, via, status, ra);
                } else {
                    let ev = Ev::new(now + rtt, Kind::Response, req, dispatch)
                        .at(dep)
                        .with(status, ra.unwrap_or(-1))
                        .via(via);
                    self.push_delayed(ev, rtt);
                }
            }
        }
    }

    /// A deployment finished the work of a dispatch: bill it, correct the charge, and send the
    /// answer back.
    fn done(&mut self, ev: Ev) {
        let (req, dep, now) = (ev.req, ev.dep as usize, ev.t);
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let generated = generated(d, &r);
        if generated < r.completion {
            self.truncated += 1;
        }
        if let (Adm::Bucket(b), Admission::Provisioned { output_weight, .. }) =
            (&mut self.adm[dep], &d.admission)
        {
            let actual =
                (r.prompt - r.cached.min(r.prompt)) as f64 + output_weight * generated as f64;
            let est = f64::from_bits(ev.x as u64);
            b.correct(now, actual - est);
            self.meters[dep].add(now, actual - est);
        }
        // Work done is work billed, whether or not the client still waits for it.
        self.serve(req, dep, now, generated);
        if let Some(l) = &mut self.served {
            l.push(Served {
                t_us: now,
                req,
                dep: dep as u16,
                generated,
            });
        }
        let rtt = topo.regions[d.region].rtt_us;
        let at_gateway = now + rtt;
        // Settling the answer now is safe when nothing at the gateway depends on it (see
        // `success_inline`) and the client's timeout cannot strike before it lands.
        let in_time = self.state.get(req).is_none_or(|st| {
            !st.timeout_armed || st.attempt_start + topo.client.timeout_us >= at_gateway
        });
        if rtt == 0 || (self.success_inline && in_time) {
            self.response(req, dep, at_gateway, ev.id, ev.via, 200, None);
        } else {
            let ev = Ev::new(at_gateway, Kind::Response, req, ev.id)
                .at(dep)
                .with(200, -1)
                .via(ev.via);
            self.push_delayed(ev, rtt);
        }
    }

    /// The answer to dispatch `dispatch` reaches the gateway.
    #[allow(clippy::too_many_arguments)]
    fn response(
        &mut self,
        req: u32,
        dep: usize,
        now: i64,
        dispatch: u32,
        via: u16,
        status: u16,
        ra: Option<i64>,
    ) {
        let (inst, b) = ((via >> 8) as usize, (via & 0xff) as usize);
        let r = self.reqs[req as usize];
        let st = self
            .state
            .get(req)
            .filter(|st| st.phase == Phase::InFlight && st.dispatch == dispatch);
        let outcome = if status == 200 {
            let d = &self.topo.deployments[dep];
            let generated = generated(d, &r);
            let latency_us = match st {
                Some(st) => now - st.attempt_start,
                None => service_us(d, &r).0 + self.topo.regions[d.region].rtt_us,
            };
            Outcome::Ok {
                latency_us,
                tokens: r.prompt as u64 + generated as u64,
                completion: generated as u64,
            }
        } else {
            Outcome::Failed {
                status,
                retry_after_us: ra,
            }
        };
        // Every dispatch gets exactly one answer, and the gateway sees every answer (its
        // in-flight counts and health follow the backends, not the clients).
        self.gw.on_result(inst, now, b, outcome);
        let Some(st) = st else {
            if status == 200 {
                self.stats[dep].late += 1;
            }
            return;
        };
        if status == 200 {
            self.finish_ok(req, dep, now);
            return;
        }
        if st.fallback {
            self.client_failure(req, now, status, ra, Cause::Deployment);
            return;
        }
        let tries = st.gw_tries as u32 + 1;
        if let Some(s) = self.state.get_mut(req) {
            s.gw_tries = tries.min(u16::MAX as u32) as u16;
        }
        match self.gw.retry(inst, now, tries, b, outcome, &mut self.rng) {
            Retry::Now => {
                self.gateway_retries += 1;
                self.note_gateway_retry(req);
                self.route(req, inst, now);
            }
            Retry::After(wait) => {
                self.gateway_retries += 1;
                self.note_gateway_retry(req);
                if let Some(s) = self.state.get_mut(req) {
                    s.phase = Phase::GatewayWait;
                }
                self.push(Ev::new(now + wait, Kind::GatewayRetry, req, dispatch));
            }
            Retry::No => self.client_failure(req, now, status, ra, Cause::Deployment),
        }
    }

    /// Bills and counts the work of a served dispatch (`generated` completion tokens).
    fn serve(&mut self, req: u32, dep: usize, now: i64, generated: u32) {
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let s = &mut self.stats[dep];
        s.successes += 1;
        s.prompt += r.prompt as u64;
        s.cached += r.cached.min(r.prompt) as u64;
        s.completion += generated as u64;
        if !d.is_provisioned()
            && let Some(p) = &d.price
        {
            let cached = r.cached.min(r.prompt) as u64;
            s.cost += p.cost(r.prompt as u64 - cached, cached, generated as u64);
        }
        let tokens = r.prompt as u64 + generated as u64;
        let i = self.idx(now);
        self.count(dep, now, |s| {
            s.successes[i] += 1;
            s.tokens[i] += tokens;
        });
    }

    fn finish_ok(&mut self, req: u32, dep: usize, now: i64) {
        let r = self.reqs[req as usize];
        let generated = generated(&self.topo.deployments[dep], &r);
        self.end_t = self.end_t.max(now);
        self.state.end(req);
        self.succeeded += 1;
        let tokens = r.prompt as u64 + generated as u64;
        self.served_tokens += tokens;
        if self.priority[dep].is_none_or(|p| p > self.p1) {
            self.outside_p1_requests += 1;
            self.outside_p1_tokens += tokens;
        }
        self.latencies.add((now - r.t_us).max(0) as u64);
        if let Some(rec) = &mut self.record {
            let o = &mut rec[req as usize];
            o.served_by = Some(dep);
            o.last_dep = Some(dep);
            o.status = 200;
            o.answers += 1;
            o.ends += 1;
            o.latency_us = now - r.t_us;
        }
        self.gw
            .token_limit_settle(now, r.key, r.prompt as u64, generated as u64);
    }

    fn finish_failed(&mut self, req: u32, now: i64, status: u16, cause: Cause) {
        let last_dep = self
            .state
            .get(req)
            .filter(|st| st.dispatch > 0)
            .map(|st| self.topo.gateway.backends[st.backend as usize].deployment);
        self.end_t = self.end_t.max(now);
        self.state.end(req);
        self.failed += 1;
        if let Some(rec) = &mut self.record {
            let o = &mut rec[req as usize];
            o.ends += 1;
            o.status = status;
            o.from_gateway = matches!(cause, Cause::Gateway | Cause::TokenLimit);
            o.last_dep = if o.from_gateway { None } else { last_dep };
            o.latency_us = now - self.reqs[req as usize].t_us;
        }
    }

    /// The client sees a failure of its current attempt: retry with backoff or give up.
    fn client_failure(&mut self, req: u32, now: i64, status: u16, ra: Option<i64>, cause: Cause) {
        let Some(st) = self.state.get(req) else {
            return;
        };
        let retryable = status == TIMEOUT || status == 429 || status >= 500;
        if retryable && st.attempt <= self.topo.client.max_retries {
            self.schedule_client_retry(req, now, ra);
            return;
        }
        match (cause, status) {
            (Cause::TokenLimit, _) => self.failures.token_limit += 1,
            (Cause::Timeout, _) => self.failures.timeout += 1,
            (_, 429) => self.failures.throttled += 1,
            (_, 400) => self.failures.too_long += 1,
            _ => self.failures.unavailable += 1,
        }
        self.finish_failed(req, now, status, cause);
    }

    fn note_gateway_retry(&mut self, req: u32) {
        if let Some(rec) = &mut self.record {
            rec[req as usize].gateway_retries += 1;
        }
    }

    fn schedule_client_retry(&mut self, req: u32, now: i64, ra: Option<i64>) {
        if let Some(rec) = &mut self.record {
            rec[req as usize].client_retries += 1;
        }
        let c = self.topo.client;
        let Some(st) = self.state.get_mut(req) else {
            return;
        };
        st.phase = Phase::Backoff;
        let attempt = st.attempt;
        let n = attempt as i32 - 1;
        let wait = match ra {
            Some(ra) if c.honour_retry_after && ra <= CLIENT_MAX_RETRY_AFTER_US => ra.max(0) as f64,
            _ => {
                let base = (c.base_us * 2f64.powi(n)).min(c.max_us);
                if c.jitter {
                    base * (1.0 - CLIENT_JITTER * self.rng.next_f64())
                } else {
                    base
                }
            }
        };
        self.client_retries += 1;
        self.push(Ev::new(
            now + wait.round() as i64,
            Kind::ClientRetry,
            req,
            attempt,
        ));
    }

    fn report(mut self, start: i64, events: u64, reservation: Reservation) -> SimReport {
        let end = self.last_t.max(self.end_t).max(start);
        let end_s = (end + 999_999)
            .div_euclid(1_000_000)
            .max(start.div_euclid(1_000_000) + 1);
        for m in &mut self.meters {
            m.advance(end_s * 1_000_000);
        }
        let hours = (end - start).max(0) as f64 / 3.6e9;
        let topo = self.topo;
        let mut deployments = Vec::with_capacity(topo.deployments.len());
        let mut cost = CostSummary {
            reservation,
            hours,
            ..CostSummary::default()
        };
        for (i, d) in topo.deployments.iter().enumerate() {
            let s = &self.stats[i];
            let samples: &[f32] = &self.meters[i].values;
            let (mean, p95, max) = util_stats(samples);
            let ptu = |rate: Option<f64>| rate.map(|r| r * d.capacity as f64 * hours);
            let (hourly, monthly, yearly) = match &d.ptu_price {
                Some(p) if d.is_provisioned() => (
                    ptu(Some(Reservation::Hourly.per_ptu_hour(p))),
                    ptu(Some(Reservation::Monthly.per_ptu_hour(p))),
                    ptu(Some(Reservation::Yearly.per_ptu_hour(p))),
                ),
                _ => (None, None, None),
            };
            let dep_cost = if d.is_provisioned() {
                match reservation {
                    Reservation::Hourly => hourly,
                    Reservation::Monthly => monthly,
                    Reservation::Yearly => yearly,
                }
            } else {
                d.price.as_ref().map(|_| s.cost)
            };
            if d.is_provisioned() {
                match (hourly, monthly, yearly) {
                    (Some(h), Some(m), Some(y)) => {
                        cost.ptu_hourly_usd += h;
                        cost.ptu_monthly_reservation_usd += m;
                        cost.ptu_yearly_reservation_usd += y;
                    }
                    _ => cost.incomplete = true,
                }
            } else {
                match dep_cost {
                    Some(c) => cost.payg_usd += c,
                    None => cost.incomplete = true,
                }
            }
            if let Some(tl) = &mut self.timeline {
                tl.deployments[i].utilisation = samples.to_vec();
            }
            deployments.push(DeploymentReport {
                name: d.name.clone(),
                region: topo.regions[d.region].name.clone(),
                model: d.model.name.clone(),
                sku: d.sku,
                provisioned: d.is_provisioned(),
                capacity: d.capacity,
                priority: self.priority[i],
                attempts: s.attempts,
                successes: s.successes,
                late: s.late,
                throttled: s.throttled,
                rejected: s.rejected,
                spilled_in: s.spilled_in,
                tokens: s.prompt + s.completion,
                prompt_tokens: s.prompt,
                cached_tokens: s.cached,
                completion_tokens: s.completion,
                utilisation_mean: mean,
                utilisation_p95: p95,
                utilisation_max: max,
                cost_usd: dep_cost,
                cost_hourly_usd: hourly,
                cost_monthly_reservation_usd: monthly,
                cost_yearly_reservation_usd: yearly,
            });
        }
        cost.span_usd = cost.payg_usd
            + match reservation {
                Reservation::Hourly => cost.ptu_hourly_usd,
                Reservation::Monthly => cost.ptu_monthly_reservation_usd,
                Reservation::Yearly => cost.ptu_yearly_reservation_usd,
            };
        cost.month_usd = if hours > 0.0 {
            cost.span_usd * crate::catalog::HOURS_PER_MONTH / hours
        } else {
            0.0
        };
        if let Some(tl) = &mut self.timeline {
            tl.seconds = (end_s - tl.start_s).max(0) as usize;
            for s in &mut tl.deployments {
                s.attempts.resize(tl.seconds, 0);
                s.asked.resize(tl.seconds, 0);
                s.successes.resize(tl.seconds, 0);
                s.throttled.resize(tl.seconds, 0);
                s.tokens.resize(tl.seconds, 0);
                s.utilisation.resize(tl.seconds, 0.0);
            }
        }
        let h = &self.latencies;
        let latency = Latency {
            p50: h.quantile(0.5) / 1e3,
            p95: h.quantile(0.95) / 1e3,
            p99: h.quantile(0.99) / 1e3,
            mean: h.mean() / 1e3,
            max: h.max() as f64 / 1e3,
        };
        let arrived = self.reqs.len() as u64;
        SimReport {
            arrived,
            succeeded: self.succeeded,
            failed: self.failed,
            failures: self.failures,
            gateway_rejections: self.rejections,
            retries: self.client_retries + self.gateway_retries,
            client_retries: self.client_retries,
            gateway_retries: self.gateway_retries,
            timed_out_attempts: self.timed_out_attempts,
            truncated: self.truncated,
            throttled: self.stats.iter().map(|s| s.throttled).sum(),
            spillover_share: Spillover {
                requests: ratio(self.outside_p1_requests, self.succeeded),
                tokens: ratio(self.outside_p1_tokens, self.served_tokens),
            },
            latency_ms: latency,
            cost_usd: cost.span_usd,
            cost,
            start_us: start,
            end_us: end,
            events,
            deployments,
            timeline: self.timeline,
            requests: self.record,
            served: self.served,
        }
    }
}

/// The completion budget deployment `d` charges `r` at admission.
#[inline]
fn budget(d: &Deployment, r: &SimRequest) -> u32 {
    match r.budget {
        Budget::Own | Budget::Estimated => r.max_tokens,
        Budget::ModelDefault => d.default_max_tokens.unwrap_or(r.completion),
    }
}

/// Whether the service answers 400 before admission: the prompt is above the input limit, or
/// the request's own `max_tokens` is above the output limit or does not fit the window.
#[inline]
fn exceeds_limits(d: &Deployment, r: &SimRequest, budget: u32) -> bool {
    let prompt = r.prompt as u64;
    prompt > d.max_prompt_tokens
        || (r.budget == Budget::Own
            && (budget as u64 > d.max_output_tokens || prompt + budget as u64 > d.context_window))
}

/// The completion tokens deployment `d` generates for `r`: the trace's completion, cut at the
/// model's output limit and at the request's own `max_tokens`.
#[inline]
pub(super) fn generated(d: &Deployment, r: &SimRequest) -> u32 {
    let g = r
        .completion
        .min(d.max_output_tokens.min(u32::MAX as u64) as u32);
    if r.budget == Budget::Own {
        g.min(r.max_tokens)
    } else {
        g
    }
}

/// Service time at deployment `d` (time to first token plus decoding) and the completion tokens
/// generated.
#[inline]
pub(super) fn service_us(d: &Deployment, r: &SimRequest) -> (i64, u32) {
    let g = generated(d, r);
    // Truncated to the microsecond (a cast, cheaper than rounding on the hot path).
    let t = (d.ttft_us + g as f64 * d.us_per_token) as i64;
    (t, g)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Mean, p95 and max of utilisation samples.
fn util_stats(v: &[f32]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let mut s: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    let p95 = crate::stats::percentile(&mut s, 0.95);
    let max = v.iter().copied().fold(0.0f32, f32::max) as f64;
    (mean, p95, max)
}
