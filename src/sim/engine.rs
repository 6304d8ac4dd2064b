//! The event loop.
//!
//! Arrivals come from the (sorted) request slice and are merged with the pending events; equal
//! times pop in insertion order (sequence numbers), arrivals first. Events that follow "now" by
//! a constant delay (a region's round trip: an answer reaching the gateway) go to one FIFO
//! queue per delay, which stays sorted by construction; only events with variable delays
//! (completions, retries, timeouts) go through the binary heap. Work that takes no simulated
//! time (a gateway re-route) is done inline, so a request served on its first attempt costs
//! one heap event. Choices made here:
//! * admission is decided when the request leaves the gateway, and the region's round trip
//!   delays the answer (a 429 reaches the gateway one round trip later, a completion one round
//!   trip after the work ends); the deployment's state thus runs half a round trip (tens of
//!   milliseconds) ahead of the real service, which keeps one event per request;
//! * a client attempt that would outlast `timeout_s` is abandoned at the timeout: the backend
//!   still does (and is charged for) the work, the late answer is ignored, and the client
//!   retries as for any failure without Retry-After;
//! * client backoff: `min(base × 2ⁿ, max)`, times `1 − 0.25 × U` with jitter (openai-python);
//!   a Retry-After of at most 60 s replaces it when `honour_retry_after`;
//! * clients retry 408, 429 and 5xx; a 400 is final;
//! * native spillover happens inside the provisioned deployment's resource at the same instant;
//!   when the Standard deployment refuses too, the provisioned 429 (or 400) is returned.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use super::backend::{Admit, Bucket, Limits, Meter};
use super::gateway::{Choice, GatewayState, Outcome, Retry};
use super::hist::Hist;
use super::topology::{Admission, Topology};
use super::{
    DeploymentReport, Failures, Latency, RequestOutcome, Rng, Series, SimOptions, SimReport,
    SimRequest, Spillover, Timeline,
};

/// Clients honour a Retry-After of at most this long (openai-python).
const CLIENT_MAX_RETRY_AFTER_US: i64 = 60_000_000;
/// Jitter factor of client backoff: delay × (1 − JITTER × U).
const CLIENT_JITTER: f64 = 0.25;
/// Hours in a (non-leap) year, to spread a 1-year reservation over the simulated span.
const HOURS_PER_YEAR: f64 = 8760.0;
/// Status the simulator uses for a client-side timeout.
const TIMEOUT: u16 = 408;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Deployment `dep` finished; `x` holds the admission estimate (f64 bits).
    Done,
    /// A response from `dep` reaches the gateway: `status`, `x` = Retry-After µs (-1: none).
    Response,
    /// The gateway re-routes after sleeping (LiteLLM).
    GatewayRetry,
    /// The client re-sends after backoff.
    ClientRetry,
    /// The client gives up on attempt `attempt`.
    ClientTimeout,
}

#[derive(Debug, Clone, Copy)]
struct Ev {
    t: i64,
    seq: u64,
    x: i64,
    req: u32,
    attempt: u32,
    dep: u16,
    status: u16,
    /// Gateway instance (high byte) and backend index (low byte) of the attempt.
    via: u16,
    kind: Kind,
}

impl Ev {
    fn new(t: i64, kind: Kind, req: u32, attempt: u32) -> Ev {
        Ev {
            t,
            seq: 0,
            x: 0,
            req,
            attempt,
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

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.seq == o.seq
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest time, then lowest sequence.
        o.t.cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

/// Per-request progress.
#[derive(Debug, Clone, Copy, Default)]
struct ReqState {
    attempt: u32,
    client_tries: u16,
    gw_tries: u16,
    inst: u16,
    /// Gateway backend index of the current dispatch.
    backend: u16,
    fallback: bool,
    done: bool,
    attempt_start: i64,
    sent: i64,
}

/// Progress of the requests in flight: a slab of [`ReqState`] reused as requests finish, and a
/// map from request to slot. Memory is 4 bytes per request plus the states of those in flight
/// (a week of traffic would otherwise need a state per request).
struct States {
    slot_of: Vec<u32>,
    slab: Vec<ReqState>,
    free: Vec<u32>,
}

/// `slot_of` marks: never seen, and finished.
const NO_SLOT: u32 = u32::MAX;
const FINISHED: u32 = u32::MAX - 1;

impl States {
    fn new(n: usize) -> Self {
        States {
            slot_of: vec![NO_SLOT; n],
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A copy of the state (a finished request reads as `done`).
    #[inline]
    fn get(&self, req: u32) -> ReqState {
        match self.slot_of[req as usize] {
            NO_SLOT => ReqState::default(),
            FINISHED => ReqState {
                done: true,
                ..ReqState::default()
            },
            s => self.slab[s as usize],
        }
    }

    /// The state of a live request, allocated on first use.
    #[inline]
    fn get_mut(&mut self, req: u32) -> &mut ReqState {
        let s = self.slot_of[req as usize];
        let s = if s == NO_SLOT || s == FINISHED {
            let slot = match self.free.pop() {
                Some(f) => f,
                None => {
                    self.slab.push(ReqState::default());
                    (self.slab.len() - 1) as u32
                }
            };
            self.slab[slot as usize] = ReqState::default();
            self.slot_of[req as usize] = slot;
            slot
        } else {
            s
        };
        &mut self.slab[s as usize]
    }

    /// The request is answered or has failed: its slot is reused.
    fn finish(&mut self, req: u32) {
        let s = self.slot_of[req as usize];
        if s != NO_SLOT && s != FINISHED {
            self.free.push(s);
        }
        self.slot_of[req as usize] = FINISHED;
    }
}

#[derive(Debug, Clone, Default)]
struct DepStats {
    attempts: u64,
    successes: u64,
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

struct Sim<'a> {
    topo: &'a Topology,
    reqs: &'a [SimRequest],
    state: States,
    /// Attempt ids are unique across the run, so a late answer never matches a newer attempt.
    next_attempt: u32,
    heap: BinaryHeap<Ev>,
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
    succeeded: u64,
    failed: u64,
    client_retries: u64,
    gateway_retries: u64,
    outside_p1_requests: u64,
    outside_p1_tokens: u64,
    served_tokens: u64,
    timeline: Option<Timeline>,
    record: Option<Vec<RequestOutcome>>,
    last_t: i64,
    /// Latest time an answer reached a client.
    end_t: i64,
    /// Successful answers change nothing at the gateway for the APIM policies without a token
    /// limit, so they are settled when the deployment finishes instead of as an event.
    success_inline: bool,
}

/// Runs the simulation of `reqs` (sorted by arrival) through `topo`.
pub fn run(topo: &Topology, reqs: &[SimRequest], opts: SimOptions) -> SimReport {
    let start = reqs.first().map_or(0, |r| r.t_us);
    let start_s = start.div_euclid(1_000_000);
    let deps = &topo.deployments;
    let adm = deps
        .iter()
        .map(|d| match d.admission {
            Admission::Provisioned {
                drain_per_us,
                bucket_tokens,
                max_prompt_tokens,
                ..
            } => Adm::Bucket(Bucket::new(
                drain_per_us,
                bucket_tokens,
                max_prompt_tokens,
                start,
            )),
            Admission::Standard {
                tpm_limit,
                rpm_limit,
                tpm_window_us,
                rpm_window_us,
            } => Adm::Limits(Limits::new(
                tpm_limit,
                rpm_limit,
                tpm_window_us,
                rpm_window_us,
            )),
        })
        .collect();
    let meters = deps
        .iter()
        .map(|d| {
            let per_minute = match d.admission {
                Admission::Provisioned { drain_per_us, .. } => drain_per_us * 60e6,
                Admission::Standard { tpm_limit, .. } => tpm_limit as f64,
            };
            Meter::new(per_minute, start)
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
        next_attempt: 0,
        heap: BinaryHeap::with_capacity(1024),
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
        succeeded: 0,
        failed: 0,
        client_retries: 0,
        gateway_retries: 0,
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
        last_t: start,
        end_t: start,
        success_inline: !topo.gateway.policy.is_litellm() && topo.gateway.token_limit.is_none(),
    };
    sim.run_loop();
    sim.report(start)
}

impl Sim<'_> {
    /// Schedules `ev` (its sequence number is assigned here).
    fn push(&mut self, mut ev: Ev) {
        self.seq += 1;
        ev.seq = self.seq;
        self.heap.push(ev);
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
            self.heap.pop()
        } else {
            self.fifos[source].1.pop_front()
        }
    }

    fn run_loop(&mut self) {
        let mut next = 0usize;
        loop {
            let arrival = self.reqs.get(next).map(|r| r.t_us);
            let event = self.next_source();
            match (arrival, event) {
                (None, None) => break,
                (Some(a), e) if e.is_none_or(|(t, _)| a <= t) => {
                    self.last_t = a;
                    self.client_send(next as u32, a);
                    next += 1;
                }
                (_, Some((_, source))) => {
                    let Some(ev) = self.pop_from(source) else {
                        break;
                    };
                    self.last_t = ev.t;
                    self.handle(ev);
                }
                (_, None) => break,
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev.kind {
            Kind::Done => self.done(
                ev.req,
                ev.dep as usize,
                ev.t,
                ev.attempt,
                ev.via,
                f64::from_bits(ev.x as u64),
            ),
            Kind::Response => {
                let ra = (ev.x >= 0).then_some(ev.x);
                self.response(
                    ev.req,
                    ev.dep as usize,
                    ev.t,
                    ev.attempt,
                    ev.via,
                    ev.status,
                    ra,
                )
            }
            Kind::GatewayRetry => {
                let st = self.state.get(ev.req);
                if st.attempt == ev.attempt && !st.done {
                    self.route(ev.req, st.inst as usize, ev.t);
                }
            }
            Kind::ClientRetry => self.client_send(ev.req, ev.t),
            Kind::ClientTimeout => {
                let st = self.state.get(ev.req);
                if st.attempt == ev.attempt && !st.done {
                    // Invalidate the abandoned attempt: its late answer will be ignored.
                    self.state.get_mut(ev.req).attempt = u32::MAX;
                    if let Some(rec) = &mut self.record {
                        rec[ev.req as usize].last_attempt = u32::MAX;
                    }
                    self.client_failure(ev.req, ev.t, TIMEOUT, None);
                }
            }
        }
    }

    /// The client sends (or re-sends) request `req`.
    fn client_send(&mut self, req: u32, now: i64) {
        let instances = self.topo.gateway.instances as usize;
        let inst = if instances > 1 {
            self.rng.below(instances)
        } else {
            0
        };
        self.next_attempt = self.next_attempt.wrapping_add(1);
        let attempt = self.next_attempt;
        if let Some(rec) = &mut self.record {
            rec[req as usize].last_attempt = attempt;
        }
        let st = self.state.get_mut(req);
        st.attempt = attempt;
        st.gw_tries = 0;
        st.inst = inst as u16;
        st.attempt_start = now;
        let r = self.reqs[req as usize];
        if let Err(ra) = self.gw.token_limit_admit(now, r.key, r.prompt as u64) {
            self.failures_pending_token_limit(req, now, ra);
            return;
        }
        self.route(req, inst, now);
    }

    fn failures_pending_token_limit(&mut self, req: u32, now: i64, ra: i64) {
        let st = self.state.get(req);
        if st.client_tries as u32 >= self.topo.client.max_retries {
            self.failures.token_limit += 1;
            self.finish_failed(req);
        } else {
            self.schedule_client_retry(req, now, Some(ra));
        }
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
            } => self.client_failure(req, now, status, retry_after_us),
        }
    }

    fn dispatch(&mut self, req: u32, inst: usize, b: usize, now: i64, fallback: bool) {
        let dep = self.topo.gateway.backends[b].deployment;
        self.gw.on_dispatch(inst, b);
        let st = self.state.get_mut(req);
        st.backend = b as u16;
        st.fallback = fallback;
        st.sent = now;
        let attempt = st.attempt;
        let deadline = st.attempt_start + self.topo.client.timeout_us;
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let rtt = self.topo.regions[d.region].rtt_us;
        // A timeout can only strike if the answer could come after the deadline.
        let r = self.reqs[req as usize];
        if now + rtt + service_us(d.ttft_us, d.output_tokens_per_s, r.completion) > deadline {
            self.push(Ev::new(deadline, Kind::ClientTimeout, req, attempt));
        }
        self.at_backend(req, dep, now, attempt);
    }

    fn count(&mut self, dep: usize, now: i64, f: impl Fn(&mut Series)) {
        if let Some(tl) = &mut self.timeline {
            let i = (now.div_euclid(1_000_000) - tl.start_s).max(0) as usize;
            let s = &mut tl.deployments[dep];
            if s.attempts.len() <= i {
                s.attempts.resize(i + 1, 0);
                s.successes.resize(i + 1, 0);
                s.throttled.resize(i + 1, 0);
                s.tokens.resize(i + 1, 0);
            }
            f(s);
        }
    }

    /// Admission at deployment `dep`; on success the completion is scheduled.
    fn admit(&mut self, req: u32, dep: usize, now: i64) -> Result<f64, (u16, Option<i64>)> {
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        self.stats[dep].attempts += 1;
        let i = self.idx(now);
        self.count(dep, now, |s| s.attempts[i] += 1);
        let (admit, estimate) = match (&mut self.adm[dep], &d.admission) {
            (Adm::Bucket(b), Admission::Provisioned { output_weight, .. }) => {
                let est = (r.prompt - r.cached.min(r.prompt)) as f64
                    + output_weight * r.max_tokens as f64;
                (b.admit(now, r.prompt as u64, est), est)
            }
            (Adm::Limits(l), _) => {
                let est = r.prompt as f64 + r.max_tokens as f64;
                (l.admit(now, est), est)
            }
            _ => unreachable_admission(),
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
            Admit::TooLong => {
                self.stats[dep].rejected += 1;
                Err((400, None))
            }
        }
    }

    fn idx(&self, now: i64) -> usize {
        self.timeline.as_ref().map_or(0, |tl| {
            (now.div_euclid(1_000_000) - tl.start_s).max(0) as usize
        })
    }

    fn at_backend(&mut self, req: u32, dep: usize, now: i64, attempt: u32) {
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let rtt = self.topo.regions[d.region].rtt_us;
        let st = self.state.get(req);
        let via = (st.inst << 8) | st.backend;
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
                let end = now + service_us(s.ttft_us, s.output_tokens_per_s, r.completion);
                self.push(
                    Ev::new(end, Kind::Done, req, attempt)
                        .at(served_by)
                        .with(0, est.to_bits() as i64)
                        .via(via),
                );
            }
            Err((status, ra)) => {
                if rtt == 0 {
                    self.response(req, dep, now, attempt, via, status, ra);
                } else {
                    let ev = Ev::new(now + rtt, Kind::Response, req, attempt)
                        .at(dep)
                        .with(status, ra.unwrap_or(-1))
                        .via(via);
                    self.push_delayed(ev, rtt);
                }
            }
        }
    }

    fn done(&mut self, req: u32, dep: usize, now: i64, attempt: u32, via: u16, est: f64) {
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        if let (Adm::Bucket(b), Admission::Provisioned { output_weight, .. }) =
            (&mut self.adm[dep], &d.admission)
        {
            let actual =
                (r.prompt - r.cached.min(r.prompt)) as f64 + output_weight * r.completion as f64;
            b.correct(now, actual - est);
            self.meters[dep].add(now, actual - est);
        }
        let rtt = self.topo.regions[d.region].rtt_us;
        if rtt == 0 || self.success_inline {
            // Nothing else can depend on this answer before it lands (see `success_inline`):
            // settle it now, stamped with its arrival time at the gateway.
            self.response(req, dep, now + rtt, attempt, via, 200, None);
        } else {
            let ev = Ev::new(now + rtt, Kind::Response, req, attempt)
                .at(dep)
                .with(200, -1)
                .via(via);
            self.push_delayed(ev, rtt);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn response(
        &mut self,
        req: u32,
        dep: usize,
        now: i64,
        attempt: u32,
        via: u16,
        status: u16,
        ra: Option<i64>,
    ) {
        let st = self.state.get(req);
        let (inst, b) = ((via >> 8) as usize, (via & 0xff) as usize);
        let r = self.reqs[req as usize];
        let live = st.attempt == attempt && !st.done;
        let outcome = if status == 200 {
            let latency_us = if live {
                now - st.sent
            } else {
                // The attempt's state is gone: its latency is its service time and round trip.
                let d = &self.topo.deployments[dep];
                service_us(d.ttft_us, d.output_tokens_per_s, r.completion)
                    + self.topo.regions[d.region].rtt_us
            };
            Outcome::Ok {
                latency_us,
                tokens: r.prompt as u64 + r.completion as u64,
                completion: r.completion as u64,
            }
        } else {
            Outcome::Failed {
                status,
                retry_after_us: ra,
            }
        };
        if status == 200
            && let Some(rec) = &mut self.record
            && rec[req as usize].last_attempt == attempt
        {
            // Every success of the latest attempt, even one arriving after the request is
            // done: the invariant "answered at most once" is checked on this count.
            rec[req as usize].answers += 1;
        }
        if live || status == 200 {
            self.gw.on_result(inst, now, b, outcome);
        }
        if status == 200 {
            // Work done is work billed, whether or not the client still waits for it.
            self.serve(req, dep, now);
        }
        if !live {
            return;
        }
        if status == 200 {
            self.finish_ok(req, dep, now);
            return;
        }
        if st.fallback {
            self.client_failure(req, now, status, ra);
            return;
        }
        let tries = st.gw_tries as u32 + 1;
        self.state.get_mut(req).gw_tries = tries.min(u16::MAX as u32) as u16;
        match self.gw.retry(inst, now, tries, outcome, &mut self.rng) {
            Retry::Now => {
                self.gateway_retries += 1;
                self.note_gateway_retry(req);
                self.route(req, inst, now);
            }
            Retry::After(wait) => {
                self.gateway_retries += 1;
                self.note_gateway_retry(req);
                self.push(Ev::new(now + wait, Kind::GatewayRetry, req, st.attempt));
            }
            Retry::No => self.client_failure(req, now, status, ra),
        }
    }

    /// Bills and counts the work of a served attempt.
    fn serve(&mut self, req: u32, dep: usize, now: i64) {
        let r = self.reqs[req as usize];
        let topo = self.topo;
        let d = &topo.deployments[dep];
        let s = &mut self.stats[dep];
        s.successes += 1;
        s.prompt += r.prompt as u64;
        s.cached += r.cached.min(r.prompt) as u64;
        s.completion += r.completion as u64;
        if !d.is_provisioned()
            && let Some(p) = &d.price
        {
            let cached = r.cached.min(r.prompt) as u64;
            s.cost += p.cost(r.prompt as u64 - cached, cached, r.completion as u64);
        }
        let tokens = r.prompt as u64 + r.completion as u64;
        let i = self.idx(now);
        self.count(dep, now, |s| {
            s.successes[i] += 1;
            s.tokens[i] += tokens;
        });
    }

    fn finish_ok(&mut self, req: u32, dep: usize, now: i64) {
        let r = self.reqs[req as usize];
        self.end_t = self.end_t.max(now);
        self.state.finish(req);
        self.succeeded += 1;
        let tokens = r.prompt as u64 + r.completion as u64;
        self.served_tokens += tokens;
        if self.priority[dep].is_none_or(|p| p > self.p1) {
            self.outside_p1_requests += 1;
            self.outside_p1_tokens += tokens;
        }
        self.latencies.add((now - r.t_us).max(0) as u64);
        if let Some(rec) = &mut self.record {
            let o = &mut rec[req as usize];
            o.served_by = Some(dep);
            o.latency_us = now - r.t_us;
        }
        self.gw
            .token_limit_settle(now, r.key, r.prompt as u64, r.completion as u64);
    }

    fn finish_failed(&mut self, req: u32) {
        self.state.finish(req);
        self.failed += 1;
    }

    /// The client sees a failure: retry with backoff or give up.
    fn client_failure(&mut self, req: u32, now: i64, status: u16, ra: Option<i64>) {
        let retryable = status == TIMEOUT || status == 429 || status >= 500;
        let st = self.state.get(req);
        if retryable && (st.client_tries as u32) < self.topo.client.max_retries {
            self.schedule_client_retry(req, now, ra);
            return;
        }
        match status {
            429 => self.failures.throttled += 1,
            400 => self.failures.too_long += 1,
            TIMEOUT => self.failures.timeout += 1,
            _ => self.failures.unavailable += 1,
        }
        self.finish_failed(req);
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
        let st = self.state.get_mut(req);
        let n = st.client_tries as i32;
        st.client_tries += 1;
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
            0,
        ));
    }

    fn report(mut self, start: i64) -> SimReport {
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
        let mut cost = 0.0;
        let mut incomplete = false;
        for (i, d) in topo.deployments.iter().enumerate() {
            let s = &self.stats[i];
            let samples: &[f32] = &self.meters[i].values;
            let (mean, p95, max) = util_stats(samples);
            let (dep_cost, reserved) = if d.is_provisioned() {
                let reserved = d
                    .ptu_yearly
                    .map(|y| y * d.capacity as f64 * hours / HOURS_PER_YEAR);
                (
                    d.ptu_hourly.map(|h| h * d.capacity as f64 * hours),
                    reserved,
                )
            } else {
                (d.price.as_ref().map(|_| s.cost), None)
            };
            match dep_cost {
                Some(c) => cost += c,
                None => incomplete = true,
            }
            if let Some(tl) = &mut self.timeline {
                tl.deployments[i].utilisation = samples.to_vec();
            }
            deployments.push(DeploymentReport {
                name: d.name.clone(),
                region: topo.regions[d.region].name.clone(),
                model: d.model.name.clone(),
                sku: d.sku.to_string(),
                capacity: d.capacity,
                priority: self.priority[i],
                attempts: s.attempts,
                successes: s.successes,
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
                cost_1y_reservation_usd: reserved,
            });
        }
        if let Some(tl) = &mut self.timeline {
            tl.seconds = (end_s - tl.start_s).max(0) as usize;
            for s in &mut tl.deployments {
                s.attempts.resize(tl.seconds, 0);
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
            retries: self.client_retries + self.gateway_retries,
            client_retries: self.client_retries,
            gateway_retries: self.gateway_retries,
            throttled: self.stats.iter().map(|s| s.throttled).sum(),
            spillover_share: Spillover {
                requests: ratio(self.outside_p1_requests, self.succeeded),
                tokens: ratio(self.outside_p1_tokens, self.served_tokens),
            },
            latency_ms: latency,
            cost_usd: cost,
            cost_incomplete: incomplete,
            start_us: start,
            end_us: end,
            deployments,
            timeline: self.timeline,
            requests: self.record,
        }
    }
}

fn unreachable_admission() -> ! {
    // Provisioned deployments always get a bucket and Standard ones limits (see `run`).
    panic!("admission state does not match the deployment kind")
}

/// Time to first token plus decoding time.
fn service_us(ttft_us: f64, tps: f64, completion: u32) -> i64 {
    // Truncated to the microsecond (a cast, cheaper than rounding on the hot path).
    (ttft_us + completion as f64 / tps * 1e6) as i64
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
    let mut s: Vec<f32> = v.to_vec();
    let p95 = percentile_f32(&mut s, 0.95);
    let max = v.iter().copied().fold(0.0f32, f32::max) as f64;
    (mean, p95, max)
}

/// Linear-interpolated percentile (numpy's default) of `v`, reordering it.
fn percentile_f32(v: &mut [f32], p: f64) -> f64 {
    let pos = p * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, a, rest) = v.select_nth_unstable_by(lo, f32::total_cmp);
    let a = *a as f64;
    if frac == 0.0 || rest.is_empty() {
        return a;
    }
    let b = rest.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    a + (b - a) * frac
}
