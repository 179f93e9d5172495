//! The MLLP door's memory bound, measured on the real `portal` binary: messages of every
//! pathological shape just under the 1 MiB frame limit, sent over a real socket, raise the
//! process's peak resident memory (`VmHWM`) by no more than the documented bound over an
//! ordinary ORU^R01. A memory bound, not a timing: the kernel's high-water
//! mark only ever grows, so each shape is checked against the same baseline.

use crate::hl7::e2e::send;
use crate::hl7::rig::edited;
use crate::support::binary::start_with;

/// docs/hl7.md, "Memory": all the shapes one after the other over one connection raise the
/// peak by at most 96 MiB with the default 1 MiB frame limit, storage in the embedded SQLite
/// and the allocator's per-thread reserves included (measured 58–68 MiB, where it levels
/// off; the tree parser took 367 MiB for the first shape alone).
const BOUND: u64 = 96 * 1024 * 1024;
const FRAME_LIMIT: usize = 1024 * 1024;

/// Peak resident set of a process, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// The CBC result as a new order (control id, accession and placer number of its own),
/// then `tail`, cut to fit the frame limit.
fn oru_with(id: &str, tail: &[u8]) -> Vec<u8> {
    let accession = format!("ACC-{id}");
    let placer = format!("ORD-{id}");
    cbc_with(
        &[
            ("LAB20260301-0001", id),
            ("LAB-77120", &accession),
            ("ORD-448812", &placer),
        ],
        tail,
    )
}

fn cbc_with(replacements: &[(&str, &str)], tail: &[u8]) -> Vec<u8> {
    let mut message = edited("oru_r01_v251_cbc.hl7", replacements);
    message.extend_from_slice(tail);
    message.truncate(FRAME_LIMIT);
    message
}

fn repeated(head: &[u8], unit: &[u8], bytes: usize) -> Vec<u8> {
    let mut tail = head.to_vec();
    tail.extend(unit.repeat(bytes / unit.len()));
    tail
}

/// The shapes that made the tree parser take hundreds of MiB (issue 26), and their kin.
fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let million = 1_000_000;
    vec![
        (
            "fields",
            oru_with("MEM-F", &repeated(b"NTE|1||", b"|", million)),
        ),
        (
            "components",
            oru_with("MEM-C", &repeated(b"NTE|1||", b"^", million)),
        ),
        (
            "repetitions",
            oru_with("MEM-R", &repeated(b"NTE|1||", b"~", million)),
        ),
        (
            "subcomponents",
            oru_with("MEM-S", &repeated(b"NTE|1||", b"&", million)),
        ),
        (
            "escapes",
            oru_with("MEM-E", &repeated(b"NTE|1||", b"\\F\\", million)),
        ),
        (
            "mixed",
            oru_with("MEM-M", &repeated(b"NTE|1||", b"|^~&", million)),
        ),
        (
            "short segments",
            oru_with("MEM-N", &repeated(b"", b"NTE|1\r", million)),
        ),
        (
            "one huge field",
            oru_with("MEM-H", &repeated(b"NTE|1||", b"A", million)),
        ),
        (
            "unsupported type",
            cbc_with(
                &[
                    ("ORU^R01^ORU_R01", "ZZZ^Z99"),
                    ("LAB20260301-0001", "MEM-T"),
                ],
                &repeated(b"NTE|1||", b"|", million),
            ),
        ),
        (
            "unparseable",
            oru_with("MEM-U", &repeated(b"not a segment|", b"|", million)),
        ),
    ]
}

#[tokio::test]
async fn pathological_messages_stay_within_the_documented_memory_bound() {
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::hl7::e2e::free_port();
    let bind = format!("127.0.0.1:{port}");
    let server = start_with(dir.path(), &[("PORTAL_MLLP_BIND", bind.as_str())]).await;
    let pid = server.child.id();

    for i in 0..3 {
        let (code, ack) = send(port, &oru_with(&format!("MEM-WARM-{i}"), b"")).await;
        assert_eq!(code, "AA", "{ack}");
    }
    let baseline = vm_hwm(pid);
    let mut report = Vec::new();
    for (name, message) in shapes() {
        assert!(
            message.len() <= FRAME_LIMIT,
            "{name}: {} bytes",
            message.len()
        );
        let (code, ack) = send(port, &message).await;
        assert!(!code.is_empty(), "{name}: no MSA in {ack}");
        let grown = vm_hwm(pid).saturating_sub(baseline);
        report.push(format!("{name}: {code}, +{} KiB", grown / 1024));
        assert!(
            grown <= BOUND,
            "{name}: peak RSS grew by {} KiB over the ordinary ORU (bound {} KiB); so far: {report:?}",
            grown / 1024,
            BOUND / 1024
        );
    }
    eprintln!(
        "hl7 memory over baseline {} KiB: {report:?}",
        baseline / 1024
    );
}
