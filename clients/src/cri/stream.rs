//! The CRI streaming server's exec endpoint (the URL Exec returns), spoken as the
//! Kubernetes API server's websocket clients speak it: an HTTP/1.1 upgrade with the
//! `v4.channel.k8s.io` subprotocol, then binary messages whose first byte is the
//! channel (1 stdout, 2 stderr, 3 the final status as a metav1.Status JSON).

use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// The RFC 6455 sample nonce: any 16 bytes, base64, will do for the handshake.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const PROTOCOL: &str = "v4.channel.k8s.io";

/// What one exec stream carried.
#[derive(Debug, Default)]
pub struct Streamed {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The status message of channel 3.
    pub status: String,
}

/// Runs the exec behind `url` (no stdin, no tty) to its end.
pub fn exec(url: &str) -> Result<Streamed> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("streaming URL {url} is not plain http"))?;
    let (host, path) = rest
        .split_once('/')
        .context("streaming URL without a path")?;
    let mut s = TcpStream::connect(host).with_context(|| format!("connect {host}"))?;
    // A hang guard, not a timing assertion.
    s.set_read_timeout(Some(crate::cmd::HANG_GUARD))?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
    )?;
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        headers.push(h.trim_end().to_string());
    }
    ensure!(
        status_line.split_whitespace().nth(1) == Some("101"),
        "websocket upgrade refused: {} {headers:?}",
        status_line.trim_end()
    );
    let mut out = Streamed::default();
    while let Some((opcode, payload)) = read_frame(&mut r)? {
        match opcode {
            // Binary or text: a channel byte, then that channel's bytes.
            1 | 2 => match payload.split_first() {
                Some((1, data)) => out.stdout.extend_from_slice(data),
                Some((2, data)) => out.stderr.extend_from_slice(data),
                Some((3, data)) => out.status.push_str(&String::from_utf8_lossy(data)),
                _ => {}
            },
            8 => break,
            _ => {}
        }
    }
    Ok(out)
}

/// One server frame (servers never mask): (opcode, payload), `None` at EOF.
fn read_frame(r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 2];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let opcode = head[0] & 0x0f;
    if head[1] & 0x80 != 0 {
        bail!("the server sent a masked frame");
    }
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u16::from_be_bytes(b) as u64
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => n as u64,
    };
    ensure!(len <= 1 << 24, "websocket frame of {len} bytes");
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)?;
    Ok(Some((opcode, payload)))
}

/// The exit code a v4 status reports: 0 for Success, else the ExitCode cause.
pub fn exit_code(status: &str) -> Result<i32> {
    let v: serde_json::Value =
        serde_json::from_str(status).with_context(|| format!("exec status {status:?}"))?;
    if v.get("status").and_then(|s| s.as_str()) == Some("Success") {
        return Ok(0);
    }
    v.pointer("/details/causes")
        .and_then(|c| c.as_array())
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("reason").and_then(|r| r.as_str()) == Some("ExitCode"))
        })
        .and_then(|c| c.get("message")?.as_str()?.parse().ok())
        .with_context(|| format!("exec status without an exit code: {status}"))
}

/// Runs the exec behind `url` and checks its stdout holds `want` and it exited
/// `code`; says what was seen.
pub fn check_exec(url: &str, want: &str, code: i32) -> Result<String> {
    let s = exec(url)?;
    let stdout = String::from_utf8_lossy(&s.stdout);
    let got = exit_code(&s.status)?;
    ensure!(
        stdout.contains(want) && got == code,
        "exec stream: stdout {stdout:?}, exit {got} (want {want:?}, {code}); stderr {:?}",
        String::from_utf8_lossy(&s.stderr)
    );
    Ok(format!(
        "websocket {PROTOCOL}: stdout and exit code {code} seen"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_of_v4_statuses() {
        assert_eq!(
            exit_code(r#"{"metadata":{},"status":"Success"}"#).unwrap(),
            0
        );
        let failed = r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 5], exit code 5","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"5"}]}}"#;
        assert_eq!(exit_code(failed).unwrap(), 5);
        assert!(exit_code(r#"{"status":"Failure"}"#).is_err());
    }

    #[test]
    fn frames_of_each_length_form() {
        let mut bytes = vec![0x82, 3, 1, b'h', b'i'];
        bytes.extend([0x82, 126, 0, 200]);
        bytes.extend(std::iter::repeat_n(7u8, 200));
        let mut r = &bytes[..];
        assert_eq!(read_frame(&mut r).unwrap(), Some((2, vec![1, b'h', b'i'])));
        let (op, p) = read_frame(&mut r).unwrap().unwrap();
        assert_eq!((op, p.len()), (2, 200));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }
}
