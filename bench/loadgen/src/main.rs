//! Open-loop HTTP/1.1 load generator for scf-bridge's end-to-end benchmark.
//!
//! Why not wrk2 or oha: wrk2 is not packaged by Debian, and oha picks each
//! request at random from its URL/body list, so signed legacy requests would
//! repeat and the bridge would rightly refuse them as replays (4500). This
//! tool sends every request exactly once, in file order.
//!
//! `fixed`: each of `--conns` keep-alive connections runs on its own thread
//! and owns every `conns`-th slot of a global schedule of `--rate` requests
//! per second. A request's latency is measured from its *intended* send time
//! (coordinated-omission correction, as wrk2 does): when a response is late,
//! the requests queued behind it on that connection are charged the wait.
//! Timer slack is set to 1 ns so sleeps wake within a few µs; how late each
//! send actually left is reported separately (`send_late_*`), as the
//! generator's own noise floor.
//!
//! `seq`: `--count` requests one after another on one connection (the large
//! `param` test).
//!
//! Request files (written by `bench/gen_requests.py`): line 1 is the form
//! body shared by every request, each following line the per-request rest
//! (`&Nonce=…&Signature=…`). Body = line 1 + line n.
//!
//! Output: one JSON object on stdout; raw latencies (µs) to `--samples`.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Requests {
    prefixes: Vec<String>,
    /// (prefix index, suffix)
    items: Vec<(usize, String)>,
}

impl Requests {
    fn load(paths: &str) -> Requests {
        let mut prefixes = Vec::new();
        let mut items = Vec::new();
        for path in paths.split(',').filter(|p| !p.is_empty()) {
            let f = File::open(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
            let mut lines = BufReader::with_capacity(1 << 20, f).lines();
            let prefix = lines
                .next()
                .unwrap_or_else(|| die(&format!("{path}: empty")))
                .unwrap_or_else(|e| die(&format!("{path}: {e}")));
            prefixes.push(prefix);
            let p = prefixes.len() - 1;
            for line in lines {
                items.push((p, line.unwrap_or_else(|e| die(&format!("{path}: {e}")))));
            }
        }
        if items.is_empty() {
            die("no requests in the request files");
        }
        Requests { prefixes, items }
    }

    fn raw(&self, i: usize, host: &str, path: &str) -> Vec<u8> {
        let (p, suffix) = &self.items[i];
        let prefix = &self.prefixes[*p];
        let len = prefix.len() + suffix.len();
        let mut out = Vec::with_capacity(len + 200);
        write!(
            out,
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n"
        )
        .expect("vec write");
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        out
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

struct Args {
    map: std::collections::HashMap<String, String>,
}

impl Args {
    fn parse(rest: impl Iterator<Item = String>) -> Args {
        let mut map = std::collections::HashMap::new();
        let mut it = rest.peekable();
        while let Some(k) = it.next() {
            let Some(k) = k.strip_prefix("--") else {
                die(&format!("unexpected argument {k}"))
            };
            let v = it
                .next()
                .unwrap_or_else(|| die(&format!("--{k} needs a value")));
            map.insert(k.to_owned(), v);
        }
        Args { map }
    }
    fn s(&self, k: &str, default: Option<&str>) -> String {
        match (self.map.get(k), default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => die(&format!("--{k} is required")),
        }
    }
    fn f(&self, k: &str, default: Option<&str>) -> f64 {
        self.s(k, default)
            .parse()
            .unwrap_or_else(|_| die(&format!("--{k}: not a number")))
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Outcome {
    Ok,
    /// Status or body not as expected.
    Bad,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Send one request and read its whole response.
    fn exchange(&mut self, raw: &[u8], expect: &[u8]) -> std::io::Result<Outcome> {
        self.stream.write_all(raw)?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "non-UTF-8 head"))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "no status"))?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "no Content-Length"))?;
        while self.buf.len() < head_end + length {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = &self.buf[head_end..head_end + length];
        if status == 200 && find(body, expect).is_some() {
            Ok(Outcome::Ok)
        } else {
            Ok(Outcome::Bad)
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn set_timer_slack() {
    // Sleeps wake within a few µs instead of the default 50 µs slack.
    // Threads inherit it from the thread that creates them.
    let _ = std::fs::write("/proc/self/timerslack_ns", "1");
}

fn sleep_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        std::thread::sleep(t - now);
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<f64>,
    late_us: Vec<f64>,
    ok: u64,
    bad: u64,
    io_errors: u64,
    exhausted: u64,
    /// Every request sent, warm-up included (for CPU per request).
    sent: u64,
}

fn fixed(a: &Args) {
    let addr: SocketAddr = a
        .s("addr", None)
        .parse()
        .unwrap_or_else(|_| die("--addr: host:port"));
    let reqs = Arc::new(Requests::load(&a.s("reqs", None)));
    let rate = a.f("rate", Some("1000"));
    let conns = a.f("conns", Some("8")) as usize;
    let duration = Duration::from_secs_f64(a.f("duration", Some("20")));
    let warmup = Duration::from_secs_f64(a.f("warmup", Some("5")));
    let expect = a.s("expect", Some("")).into_bytes();
    let host = a.s("host", Some("scf.api.qcloud.com"));
    let path = a.s("path", Some("/v2/index.php"));
    let idle_conns = a.f("idle-conns", Some("0")) as usize;
    let samples = a.s("samples", Some(""));
    set_timer_slack();

    let next = Arc::new(AtomicUsize::new(0));
    let take = |next: &AtomicUsize| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        (i < reqs.items.len()).then_some(i)
    };

    // Idle keep-alive connections: one request each, then left open.
    let mut idle = Vec::with_capacity(idle_conns);
    let mut idle_failed = 0u64;
    for _ in 0..idle_conns {
        let Some(i) = take(&next) else {
            die("not enough requests for the idle connections")
        };
        match Conn::open(addr).and_then(|mut c| {
            c.exchange(&reqs.raw(i, &host, &path), &expect)
                .map(|o| (c, o))
        }) {
            Ok((c, Outcome::Ok)) => idle.push(c),
            _ => idle_failed += 1,
        }
    }

    let tally = Arc::new(Mutex::new(Tally::default()));
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let warm_end = start + warmup;
    let end = warm_end + duration;
    let mut threads = Vec::new();
    for c in 0..conns {
        let (reqs, next, tally, expect, host, path) = (
            reqs.clone(),
            next.clone(),
            tally.clone(),
            expect.clone(),
            host.clone(),
            path.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut local = Tally::default();
            let mut conn: Option<Conn> = None;
            let mut j: u64 = 0;
            loop {
                let slot = j * conns as u64 + c as u64;
                j += 1;
                let intended = start + period.mul_f64(slot as f64);
                if intended >= end {
                    break;
                }
                sleep_until(intended);
                let sent = Instant::now();
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= reqs.items.len() {
                    local.exhausted += 1;
                    continue;
                }
                let raw = reqs.raw(i, &host, &path);
                local.sent += 1;
                if conn.is_none() {
                    conn = Conn::open(addr).ok();
                }
                let result = match conn.as_mut() {
                    Some(cn) => cn.exchange(&raw, &expect),
                    None => Err(ErrorKind::ConnectionRefused.into()),
                };
                let done = Instant::now();
                let measured = intended >= warm_end;
                match result {
                    Ok(o) => {
                        if measured {
                            local
                                .latencies_us
                                .push((done - intended).as_secs_f64() * 1e6);
                            local.late_us.push((sent - intended).as_secs_f64() * 1e6);
                            match o {
                                Outcome::Ok => local.ok += 1,
                                Outcome::Bad => local.bad += 1,
                            }
                        }
                    }
                    Err(_) => {
                        conn = None;
                        if measured {
                            local.io_errors += 1;
                        }
                    }
                }
            }
            let mut t = tally.lock().expect("tally");
            t.latencies_us.extend(local.latencies_us);
            t.late_us.extend(local.late_us);
            t.ok += local.ok;
            t.bad += local.bad;
            t.io_errors += local.io_errors;
            t.exhausted += local.exhausted;
            t.sent += local.sent;
        }));
    }
    for t in threads {
        t.join().expect("load thread");
    }
    // Which idle connections did the server keep open?
    let mut idle_open = 0u64;
    for c in &idle {
        let _ = c.stream.set_nonblocking(true);
        let mut b = [0u8; 1];
        match (&c.stream).read(&mut b) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => idle_open += 1,
            _ => {}
        }
    }
    let mut t = tally.lock().expect("tally");
    t.latencies_us.sort_by(f64::total_cmp);
    t.late_us.sort_by(f64::total_cmp);
    if !samples.is_empty() {
        let mut f = std::io::BufWriter::new(
            File::create(&samples).unwrap_or_else(|e| die(&format!("{samples}: {e}"))),
        );
        for l in &t.latencies_us {
            writeln!(f, "{l:.1}").expect("write samples");
        }
    }
    let n = t.latencies_us.len();
    let l = &t.latencies_us;
    println!(
        "{{\"mode\":\"fixed\",\"rate\":{rate},\"conns\":{conns},\"duration_s\":{},\"requests\":{n},\"achieved_rps\":{:.1},\"ok\":{},\"bad\":{},\"io_errors\":{},\"exhausted\":{},\"sent_total\":{},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\"mean_us\":{:.1},\"send_late_p50_us\":{:.1},\"send_late_p99_us\":{:.1},\"idle_conns\":{idle_conns},\"idle_failed\":{idle_failed},\"idle_open_after\":{idle_open}}}",
        duration.as_secs_f64(),
        n as f64 / duration.as_secs_f64(),
        t.ok,
        t.bad,
        t.io_errors,
        t.exhausted,
        t.sent,
        percentile(l, 50.0),
        percentile(l, 90.0),
        percentile(l, 99.0),
        percentile(l, 99.9),
        l.last().copied().unwrap_or(f64::NAN),
        if n > 0 { l.iter().sum::<f64>() / n as f64 } else { f64::NAN },
        percentile(&t.late_us, 50.0),
        percentile(&t.late_us, 99.0),
    );
    drop(idle);
}

fn seq(a: &Args) {
    let addr: SocketAddr = a
        .s("addr", None)
        .parse()
        .unwrap_or_else(|_| die("--addr: host:port"));
    let reqs = Requests::load(&a.s("reqs", None));
    let count = (a.f("count", Some("10")) as usize).min(reqs.items.len());
    let expect = a.s("expect", Some("")).into_bytes();
    let host = a.s("host", Some("scf.api.qcloud.com"));
    let path = a.s("path", Some("/v2/index.php"));
    let mut conn = Conn::open(addr).unwrap_or_else(|e| die(&format!("connect: {e}")));
    let (mut ok, mut bad, mut errors) = (0u64, 0u64, 0u64);
    let mut lat = Vec::with_capacity(count);
    let body_len = reqs.prefixes[reqs.items[0].0].len() + reqs.items[0].1.len();
    for i in 0..count {
        let raw = reqs.raw(i, &host, &path);
        let t0 = Instant::now();
        match conn.exchange(&raw, &expect) {
            Ok(Outcome::Ok) => ok += 1,
            Ok(Outcome::Bad) => bad += 1,
            Err(e) => {
                eprintln!("loadgen: request {i}: {e}");
                errors += 1;
                conn = Conn::open(addr).unwrap_or_else(|e| die(&format!("connect: {e}")));
                continue;
            }
        }
        lat.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let first = lat.first().copied().unwrap_or(f64::NAN);
    lat.sort_by(f64::total_cmp);
    println!(
        "{{\"mode\":\"seq\",\"body_bytes\":{body_len},\"requests\":{},\"ok\":{ok},\"bad\":{bad},\"io_errors\":{errors},\"first_us\":{first:.1},\"p50_us\":{:.1},\"min_us\":{:.1},\"max_us\":{:.1}}}",
        lat.len(),
        percentile(&lat, 50.0),
        lat.first().copied().unwrap_or(f64::NAN),
        lat.last().copied().unwrap_or(f64::NAN),
    );
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    let args = Args::parse(argv);
    match cmd.as_str() {
        "fixed" => fixed(&args),
        "seq" => seq(&args),
        _ => die("usage: loadgen fixed|seq --addr HOST:PORT --reqs FILE[,FILE] [options]"),
    }
}
