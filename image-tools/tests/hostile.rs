//! Hostile layers and archives: whatever a layer says, unpack never writes, links,
//! chmods or deletes outside its target; such entries are refused with a clear error
//! (and the target removed) or contained inside the target.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn main() {
    run_trials(vec![
        trial(
            "hostile_layers_stay_inside",
            &[],
            hostile_layers_stay_inside,
        ),
        trial(
            "hostile_archive_paths_refused",
            &[],
            hostile_archive_paths_refused,
        ),
        trial("sparse_files_stay_sparse", &[], sparse_files_stay_sparse),
        trial("tar_bombs_bounded", &[], tar_bombs_bounded),
    ]);
}

/// A sparse file within the limit unpacks to its full length with its data in place,
/// and the disk holds its data only, not its holes.
fn sparse_files_stay_sparse() -> TestResult {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let size: u64 = 1 << 30;
    let mut t = RawTar::new();
    let mut head = [0u8; 512];
    head[..4].copy_from_slice(b"head");
    t.sparse("sparse", size, &[(0, &head), (size - 4, b"tail")]);
    fs::write(
        env.path("img.tar"),
        docker_archive("sparse:1", &[t.finish()], &["sh"]),
    )?;
    env.ok([
        "load".as_ref(),
        "-i".as_ref(),
        env.path("img.tar").as_os_str(),
    ])?;
    let out = env.path("out");
    env.ok(["unpack".as_ref(), "sparse:1".as_ref(), out.as_os_str()])?;
    let f = out.join("sparse");
    let meta = fs::metadata(&f)?;
    check(
        meta.len() == size,
        format!("length {} not {size}", meta.len()),
    )?;
    check(
        meta.blocks() * 512 < 8 << 20,
        format!("{} bytes on disk for 8 bytes of data", meta.blocks() * 512),
    )?;
    use std::io::{Read, Seek, SeekFrom};
    let mut file = fs::File::open(&f)?;
    let mut head = [0u8; 4];
    file.read_exact(&mut head)?;
    file.seek(SeekFrom::Start(size - 4))?;
    let mut tail = [0u8; 4];
    file.read_exact(&mut tail)?;
    check(
        &head == b"head" && &tail == b"tail",
        "sparse data out of place",
    )
}

/// A layer whose header promises far more data than follows is refused at load (nothing
/// stored); one with many thousands of entries unpacks like any other.
fn tar_bombs_bounded() -> TestResult {
    let env = Env::new();
    let mut h = tar::Header::new_ustar();
    h.as_ustar_mut().unwrap().name[..4].copy_from_slice(b"bomb");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(8 << 30);
    h.set_cksum();
    let mut layer = h.as_bytes().to_vec();
    layer.extend_from_slice(&[1u8; 4096]);
    fs::write(
        env.path("bomb.tar"),
        docker_archive("bomb:1", &[layer], &["sh"]),
    )?;
    let err = env.fails([
        "load".as_ref(),
        "-i".as_ref(),
        env.path("bomb.tar").as_os_str(),
    ])?;
    contains(&err, "layer")?;
    let images = env.ok(["images", "-q"])?;
    check(
        images.trim().is_empty(),
        format!("images after a refused load: {images}"),
    )?;
    let fsck = env.ok(["fsck"])?;
    check(fsck.starts_with("ok:"), &fsck)?;
    check(
        fs::read_dir(env.store.join("blobs/sha256"))?.count() == 0,
        "blobs stored by a refused load",
    )?;

    let mut t = RawTar::new();
    t.dir("many/");
    for i in 0..20_000 {
        t.file(&format!("many/f{i}"), b"");
    }
    fs::write(
        env.path("many.tar"),
        docker_archive("many:1", &[t.finish()], &["sh"]),
    )?;
    env.ok([
        "load".as_ref(),
        "-i".as_ref(),
        env.path("many.tar").as_os_str(),
    ])?;
    let out = env.path("out");
    env.ok(["unpack".as_ref(), "many:1".as_ref(), out.as_os_str()])?;
    let n = fs::read_dir(out.join("many"))?.count();
    check(n == 20_000, format!("{n} of 20000 entries unpacked"))
}

enum Expect {
    /// Refused: the error names this, and the target is gone.
    Refused(&'static str),
    /// Unpacked: these paths (relative to the target) hold these contents.
    Contained(&'static [(&'static str, &'static str)]),
    /// Either refused or unpacked; only the safety invariants are checked.
    Safe,
}

struct Case {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    expect: Expect,
}

fn cases(victim: &Path) -> Vec<Case> {
    let v = victim.display().to_string();
    let vs = format!("{v}/secret");
    let tar = |f: &dyn Fn(&mut RawTar)| {
        let mut t = RawTar::new();
        f(&mut t);
        t.finish()
    };
    vec![
        Case {
            name: "dotdot file",
            layers: vec![tar(&|t| {
                t.file("../../victim/secret", b"pwned");
            })],
            expect: Expect::Refused("'..'"),
        },
        Case {
            name: "dotdot in the middle",
            layers: vec![tar(&|t| {
                t.dir("a/").file("a/../../../victim/new", b"pwned");
            })],
            expect: Expect::Refused("'..'"),
        },
        Case {
            name: "absolute names",
            layers: vec![tar(&|t| {
                t.file("/abs-file", b"inside").file(&vs, b"pwned");
            })],
            expect: Expect::Safe,
        },
        Case {
            name: "symlinked parent to /",
            layers: vec![tar(&|t| {
                t.dir("etc/")
                    .symlink("up", "/")
                    .file("up/etc/pwned", b"inside");
            })],
            expect: Expect::Contained(&[("etc/pwned", "inside")]),
        },
        Case {
            name: "symlinked parent to the victim",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v)
                    .file("esc/secret", b"pwned")
                    .file("esc/new", b"pwned");
            })],
            expect: Expect::Safe,
        },
        Case {
            name: "relative symlink climbing out",
            layers: vec![tar(&|t| {
                t.dir("victim/")
                    .symlink("esc", "../../../../../../../../victim")
                    .file("esc/secret", b"inside");
            })],
            expect: Expect::Contained(&[("victim/secret", "inside")]),
        },
        Case {
            name: "symlink then write across layers",
            layers: vec![
                tar(&|t| {
                    t.symlink("esc", &v);
                }),
                tar(&|t| {
                    t.file("esc/secret", b"pwned");
                }),
            ],
            expect: Expect::Safe,
        },
        Case {
            name: "hard link with dotdot",
            layers: vec![tar(&|t| {
                t.hardlink("hl", "../../victim/secret");
            })],
            expect: Expect::Refused("hard link target"),
        },
        Case {
            name: "hard link to an absolute host path",
            layers: vec![tar(&|t| {
                t.hardlink("hl", &vs);
            })],
            expect: Expect::Refused("hard link"),
        },
        Case {
            name: "hard link through a symlinked parent",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v).hardlink("hl", "esc/secret");
            })],
            expect: Expect::Refused("hard link"),
        },
        Case {
            name: "whiteout with dotdot",
            layers: vec![tar(&|t| {
                t.file("../../victim/.wh.secret", b"");
            })],
            expect: Expect::Refused("'..'"),
        },
        Case {
            name: "whiteout through a symlinked parent",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v).file("esc/.wh.secret", b"");
            })],
            expect: Expect::Safe,
        },
        Case {
            name: "opaque whiteout through symlinked parents",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v)
                    .symlink("esc2", "../../victim")
                    .file("esc/.wh..wh..opq", b"")
                    .file("esc2/.wh..wh..opq", b"");
            })],
            expect: Expect::Safe,
        },
        Case {
            name: "whiteout of dotdot",
            layers: vec![tar(&|t| {
                t.dir("d/").file("d/.wh..", b"");
            })],
            expect: Expect::Refused("whiteout"),
        },
        Case {
            name: "directory entry over a symlink",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v)
                    .entry("esc/", tar::EntryType::Directory, "", b"", 0o777);
            })],
            expect: Expect::Safe,
        },
        Case {
            name: "file over a symlink to a host file",
            layers: vec![tar(&|t| {
                t.symlink("esc", &vs).file("esc", b"inside");
            })],
            expect: Expect::Contained(&[("esc", "inside")]),
        },
        Case {
            name: "symlink loop as a parent",
            layers: vec![tar(&|t| {
                t.symlink("a", "b").symlink("b", "a").file("a/x", b"pwned");
            })],
            expect: Expect::Refused("a/x"),
        },
        Case {
            name: "symlink to itself as a parent",
            layers: vec![tar(&|t| {
                t.symlink("self", "self").file("self/deeper/x", b"pwned");
            })],
            expect: Expect::Refused("self/deeper/x"),
        },
        Case {
            name: "symlink loop through the root",
            layers: vec![tar(&|t| {
                t.dir("d/")
                    .symlink("d/up", "../d/up")
                    .symlink("d/loop", "/d/loop")
                    .file("d/up/x", b"pwned");
            })],
            expect: Expect::Refused("d/up/x"),
        },
        Case {
            name: "huge sparse file",
            layers: vec![tar(&|t| {
                t.sparse(
                    "sparse",
                    1 << 40,
                    &[(0, &[7u8; 512]), ((1 << 40) - 4, b"tail")],
                );
            })],
            expect: Expect::Refused("sparse file of 1099511627776 bytes"),
        },
        Case {
            name: "device node through a symlinked parent",
            layers: vec![tar(&|t| {
                t.symlink("esc", &v)
                    .entry("esc/null", tar::EntryType::Char, "", b"", 0o666);
            })],
            expect: Expect::Safe,
        },
    ]
}

fn outside(env: &Env) -> std::collections::BTreeMap<String, String> {
    let mut s = snapshot(env.dir.path());
    s.retain(|k, _| !k.starts_with("work/out") && !k.starts_with("store"));
    s
}

fn hostile_layers_stay_inside() -> TestResult {
    let probe = Env::new();
    let mut failures = Vec::new();
    for case in cases(&probe.path("victim")) {
        let env = Env::new();
        let victim = env.path("victim");
        fs::create_dir_all(&victim)?;
        fs::write(victim.join("secret"), "keep")?;
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o700))?;
        fs::set_permissions(victim.join("secret"), fs::Permissions::from_mode(0o600))?;
        fs::create_dir_all(env.path("work"))?;
        // The cases name the probe's victim path; point it at this env's victim.
        let layers: Vec<Vec<u8>> = case
            .layers
            .iter()
            .map(|l| {
                replace_all(
                    l,
                    probe.path("victim").display().to_string().as_bytes(),
                    victim.display().to_string().as_bytes(),
                )
            })
            .collect();
        fs::write(
            env.path("img.tar"),
            docker_archive("hostile:1", &layers, &["sh"]),
        )?;
        if let Err(e) = env.ok([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("img.tar").as_os_str(),
        ]) {
            failures.push(format!("{}: load failed: {e:?}", case.name));
            continue;
        }
        let before = outside(&env);
        let out = env.path("work/out");
        let result = env.run(["unpack".as_ref(), "hostile:1".as_ref(), out.as_os_str()]);
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        let after = outside(&env);
        let d = diff(&before, &after);
        if !d.is_empty() {
            failures.push(format!(
                "{}: CHANGED OUTSIDE THE TARGET:\n  {}",
                case.name,
                d.join("\n  ")
            ));
        }
        if fs::read_to_string(victim.join("secret")).ok().as_deref() != Some("keep") {
            failures.push(format!("{}: victim file changed", case.name));
        }
        match case.expect {
            Expect::Refused(msg) => {
                if result.status.success() {
                    failures.push(format!("{}: expected a refusal", case.name));
                } else if !stderr.contains(msg) {
                    failures.push(format!(
                        "{}: error {stderr:?} does not mention {msg:?}",
                        case.name
                    ));
                } else if out.exists() {
                    failures.push(format!("{}: target left behind after a refusal", case.name));
                }
            }
            Expect::Contained(files) => {
                if !result.status.success() {
                    failures.push(format!(
                        "{}: expected containment, got error {stderr}",
                        case.name
                    ));
                }
                for (path, content) in files {
                    if fs::read_to_string(out.join(path)).ok().as_deref() != Some(*content) {
                        failures.push(format!(
                            "{}: {path} should hold {content:?} inside the target",
                            case.name
                        ));
                    }
                }
            }
            Expect::Safe => {
                if !result.status.success() && out.exists() {
                    failures.push(format!("{}: target left behind after an error", case.name));
                }
            }
        }
    }
    check(failures.is_empty(), failures.join("\n"))
}

fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    // Tar headers hold names in fixed fields: only same-length replacements keep them valid.
    assert_eq!(from.len(), to.len(), "victim paths differ in length");
    let mut out = data.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    // Checksums changed with the names: recompute every header's.
    let mut pos = 0;
    while pos + 512 <= out.len() {
        let block = &mut out[pos..pos + 512];
        if block.iter().all(|b| *b == 0) {
            break;
        }
        let mut h = tar::Header::new_old();
        h.as_mut_bytes().copy_from_slice(block);
        let size = h.entry_size().unwrap_or(0) as usize;
        h.set_cksum();
        block.copy_from_slice(h.as_bytes());
        pos += 512 + size.div_ceil(512) * 512;
    }
    out
}

fn hostile_archive_paths_refused() -> TestResult {
    let env = Env::new();
    let store_before = snapshot(&env.store);
    // An archive member named with '..' and a manifest pointing outside the archive.
    let mut t = RawTar::new();
    t.file("../evil.json", b"{}").file(
        "manifest.json",
        br#"[{"Config":"../evil.json","RepoTags":["x:1"],"Layers":[]}]"#,
    );
    fs::write(env.path("a.tar"), t.finish())?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("a.tar").as_os_str(),
        ])?,
        "'..'",
    )?;
    let mut t = RawTar::new();
    t.file(
        "manifest.json",
        br#"[{"Config":"/etc/passwd","RepoTags":["x:1"],"Layers":[]}]"#,
    );
    fs::write(env.path("b.tar"), t.finish())?;
    contains(
        &env.fails([
            "load".as_ref(),
            "-i".as_ref(),
            env.path("b.tar").as_os_str(),
        ])?,
        "archive is missing /etc/passwd",
    )?;
    let mut after = snapshot(&env.store);
    after.retain(|k, _| !k.ends_with(".lock"));
    let mut before = store_before;
    before.retain(|k, _| !k.ends_with(".lock"));
    // The store did not exist before the first command; compare with an empty layout.
    check(
        after.keys().all(|k| {
            k == "blobs"
                || k == "blobs/sha256"
                || k == "tmp"
                || k == "index.json"
                || k == "oci-layout"
        }),
        format!("{after:?}"),
    )?;
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(env.store.join("index.json"))?)?;
    check(
        index["manifests"]
            .as_array()
            .map(|m| m.is_empty())
            .unwrap_or(false),
        "no image recorded",
    )?;
    check(
        fs::read_dir(env.store.join("blobs/sha256"))?.count() == 0,
        "no blob left",
    )?;
    check(
        fs::read_dir(env.store.join("tmp"))?.count() == 0,
        "no staging left",
    )?;
    check(
        !env.dir.path().parent().unwrap().join("evil.json").exists(),
        "nothing written outside",
    )?;
    Ok(())
}
