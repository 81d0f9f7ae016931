//! A tiny static HTTP/1.1 server (std only: GET and HEAD, one thread per connection, no
//! keep-alive). Enough for the page, its tests and a local look; not for the internet, so it
//! only binds 127.0.0.1.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// The service worker with its cache name tied to the current build: a new wasm or app file
/// changes the script's bytes, which is what makes browsers install the new worker.
pub fn service_worker(root: &Path) -> Result<String> {
    let sw = std::fs::read_to_string(root.join("www/sw.js")).context("cannot read www/sw.js")?;
    // FNV-1a over the files the worker precaches: stable, dependency-free.
    let mut h: u64 = 0xcbf29ce484222325;
    for f in ["index.html", "www/app.js", "www/worker.js", "www/embed.js", "www/style.css", "www/pkg/msf_web.js", "www/pkg/msf_web_bg.wasm"] {
        for b in std::fs::read(root.join(f)).unwrap_or_default() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    Ok(sw.replace("__BUILD_ID__", &format!("{h:016x}")))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "md" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Map a URL path to a file under one of the mounts (longest prefix first). `None` for paths
/// that try to leave the mount.
pub fn resolve(mounts: &[(String, PathBuf)], url_path: &str) -> Option<(PathBuf, bool)> {
    let path = url_path.split(['?', '#']).next().unwrap_or("/");
    let (prefix, dir) = mounts.iter().filter(|(p, _)| path.starts_with(p.as_str())).max_by_key(|(p, _)| p.len())?;
    let rel = &path[prefix.len()..];
    let rel = percent_decode(rel)?;
    if rel.split('/').any(|s| s == ".." || s.starts_with('.') && !s.is_empty()) || rel.contains('\\') {
        return None;
    }
    let is_sw = rel == "sw.js";
    let mut file = dir.join(if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel });
    if file.is_dir() {
        file = file.join("index.html");
    }
    Some((file, is_sw))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(mut s: TcpStream, status: &str, ctype: &str, body: &[u8], head: bool) {
    let hdr = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(hdr.as_bytes());
    if !head {
        let _ = s.write_all(body);
    }
}

fn handle(stream: TcpStream, mounts: &[(String, PathBuf)], repo: &Path) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers; nothing in them changes the answer.
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(stream, "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", false);
    }
    let Some((file, is_sw)) = resolve(mounts, path) else {
        return respond(stream, "404 Not Found", "text/plain", b"not found\n", head);
    };
    // The repository has the worker in www/; served at the root so its scope covers the page.
    if is_sw && !file.exists() {
        return match service_worker(repo) {
            Ok(js) => respond(stream, "200 OK", "text/javascript; charset=utf-8", js.as_bytes(), head),
            Err(_) => respond(stream, "404 Not Found", "text/plain", b"not found\n", head),
        };
    }
    match std::fs::read(&file) {
        Ok(body) => respond(stream, "200 OK", content_type(&file), &body, head),
        Err(_) => respond(stream, "404 Not Found", "text/plain", b"not found\n", head),
    }
}

/// Start serving on 127.0.0.1:`port` (0 picks a free port); returns the port and the thread.
pub fn spawn(mounts: Vec<(String, PathBuf)>, port: u16, repo: PathBuf) -> Result<(u16, JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    let port = listener.local_addr()?.port();
    let h = std::thread::spawn(move || {
        let mounts = std::sync::Arc::new(mounts);
        let repo = std::sync::Arc::new(repo);
        for s in listener.incoming().flatten() {
            let (m, r) = (mounts.clone(), repo.clone());
            std::thread::spawn(move || handle(s, &m, &r));
        }
    });
    Ok((port, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_into_the_longest_mount_and_never_out() {
        let m = vec![("/".to_string(), PathBuf::from("/r")), ("/sub/app/".to_string(), PathBuf::from("/d"))];
        assert_eq!(resolve(&m, "/").unwrap().0, PathBuf::from("/r/index.html"));
        assert_eq!(resolve(&m, "/www/app.js?v=1").unwrap().0, PathBuf::from("/r/www/app.js"));
        assert_eq!(resolve(&m, "/sub/app/www/x%20y.js").unwrap().0, PathBuf::from("/d/www/x y.js"));
        assert!(resolve(&m, "/sw.js").unwrap().1);
        assert!(resolve(&m, "/www/../../etc/passwd").is_none());
        assert!(resolve(&m, "/%2e%2e/etc/passwd").is_none());
        assert!(resolve(&m, "/.git/config").is_none());
    }
}
