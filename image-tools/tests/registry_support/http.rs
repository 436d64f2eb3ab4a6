//! A tiny HTTP/1.1 server on a thread (one connection per request, `Connection:
//! close`), and a proxy built on it that forwards to a registry and can misbehave.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, q)) = self.target.split_once('?') else {
            return vec![];
        };
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes (the Content-Length still promises all).
    pub truncate: Option<usize>,
    /// After the body, send filler bytes until the client hangs up (no Content-Length).
    pub endless: bool,
    /// With `endless`: one filler byte per interval instead of as fast as possible.
    pub drip: Option<std::time::Duration>,
}

impl Resp {
    pub fn new(status: u16, body: &[u8]) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: body.to_vec(),
            truncate: None,
            endless: false,
            drip: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &h);
                });
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_req(conn: &TcpStream) -> std::io::Result<Req> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Req {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req
        .header("Content-Length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        req.body = body;
    } else if req
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
        req.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("Transfer-Encoding"));
        req.headers
            .push(("Content-Length".into(), req.body.len().to_string()));
    }
    Ok(req)
}

fn serve(mut conn: TcpStream, handler: &Handler) -> std::io::Result<()> {
    let req = read_req(&conn)?;
    let resp = handler(&req);
    let mut head = format!("HTTP/1.1 {} X\r\n", resp.status);
    let mut has_len = false;
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("Content-Length") {
            has_len = true;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len && !resp.endless {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        let n = resp
            .truncate
            .unwrap_or(resp.body.len())
            .min(resp.body.len());
        conn.write_all(&resp.body[..n])?;
        if resp.endless {
            // Until the client gives up: its write error ends this thread.
            let filler = [b' '; 1 << 16];
            loop {
                match resp.drip {
                    Some(every) => {
                        conn.write_all(b" ")?;
                        conn.flush()?;
                        std::thread::sleep(every);
                    }
                    None => conn.write_all(&filler)?,
                }
            }
        }
    }
    conn.flush()?;
    let _ = conn.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Sends `req` to `upstream` (host:port) over HTTP/1.0 and reads the whole answer.
pub fn forward(upstream: &str, req: &Req) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.0\r\n", req.method, req.target);
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("Connection") {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(&req.body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("Connection") && !k.eq_ignore_ascii_case("Transfer-Encoding")
        })
        .collect();
    Ok(Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
        truncate: None,
        endless: false,
        drip: None,
    })
}

/// What the proxy does with one request.
pub enum Fault {
    Pass,
    Status(u16),
    /// The registry's answer with its body cut in half.
    Truncate,
    /// The registry's answer with one byte of the body changed.
    Corrupt,
    /// This body instead (content digest headers dropped).
    Replace(Vec<u8>),
    /// Holds the request until [`Gate::open`].
    Hold(Arc<Gate>),
    /// The registry's answer, then filler bytes without end.
    Endless,
    /// A 307 to this location instead of an answer.
    Redirect(String),
}

/// A gate a held request waits behind; `arrived` counts requests waiting.
#[derive(Default)]
pub struct Gate {
    state: Mutex<(bool, usize)>,
    cv: Condvar,
}

impl Gate {
    pub fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut g = self.state.lock().unwrap();
        g.1 += 1;
        self.cv.notify_all();
        while !g.0 {
            g = self.cv.wait(g).unwrap();
        }
    }
    /// Blocks until `n` requests are held.
    pub fn wait_arrived(&self, n: usize) {
        let mut g = self.state.lock().unwrap();
        while g.1 < n {
            g = self.cv.wait(g).unwrap();
        }
    }
}

pub type Rule = Arc<dyn Fn(&Req) -> Fault + Send + Sync>;

/// A proxy in front of a registry: every request is logged (`METHOD path`), the rule
/// decides what happens to it.
pub struct Proxy {
    pub server: Server,
    pub log: Arc<Mutex<Vec<String>>>,
    pub rule: Arc<Mutex<Rule>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let log = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Arc::new(|_: &Req| Fault::Pass)));
        let (log2, rule2, up) = (log.clone(), rule.clone(), upstream.to_string());
        let server = Server::start(Arc::new(move |req: &Req| {
            log2.lock()
                .unwrap()
                .push(format!("{} {}", req.method, req.path()));
            let r = rule2.lock().unwrap().clone();
            let fault = r(req);
            if let Fault::Status(code) = fault {
                return Resp::new(code, b"{\"errors\":[{\"code\":\"TEST\",\"message\":\"injected by the test proxy\"}]}")
                    .header("Content-Type", "application/json");
            }
            if let Fault::Redirect(to) = &fault {
                return Resp::new(307, b"").header("Location", to);
            }
            if let Fault::Hold(gate) = &fault {
                gate.wait();
            }
            let mut resp = match forward(&up, req) {
                Ok(r) => r,
                Err(e) => return Resp::new(502, e.to_string().as_bytes()),
            };
            match fault {
                Fault::Truncate => resp.truncate = Some(resp.body.len() / 2),
                Fault::Corrupt => {
                    if let Some(b) = resp.body.last_mut() {
                        *b ^= 0xff;
                    }
                }
                Fault::Endless => {
                    resp.headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case("Content-Length"));
                    resp.endless = true;
                }
                Fault::Replace(body) => {
                    resp.headers.retain(|(k, _)| {
                        !k.eq_ignore_ascii_case("Content-Length")
                            && !k.eq_ignore_ascii_case("Docker-Content-Digest")
                    });
                    resp.body = body;
                }
                _ => {}
            }
            resp
        }));
        Proxy { server, log, rule }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    pub fn set(&self, rule: impl Fn(&Req) -> Fault + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Arc::new(rule);
    }

    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Headers as a map (last wins), for handlers.
pub fn header_map(req: &Req) -> HashMap<String, String> {
    req.headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}
