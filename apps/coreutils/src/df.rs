//! `df`: the volume's size, what is used and what is free (whole clusters, the unit FAT
//! allocates in), and whether it is mounted read-only.
//!
//! Rights: read (`StatFs` needs none, but a connection asks for something; read is the
//! least).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};

use fs_api::FatKind;
use fsutil::FsStatus;
use grant::Rights;

use crate::tool::{Command, FAILURE, SUCCESS, Session, Tool, Usage, human_size, no_operands};

/// `df`.
pub const DF: Tool = Tool {
    name: "df",
    usage: "usage: df",
    about: "show the volume's size, used and free space",
    rights: Rights::READ,
    parse,
};

struct DiskFree;

fn parse(arguments: &[&str]) -> Result<Box<dyn Command>, Usage> {
    no_operands(arguments)?;
    Ok(Box::new(DiskFree))
}

/// The table `df` prints.
fn describe(status: &FsStatus) -> String {
    let cluster = u64::from(status.cluster_bytes);
    let total = u64::from(status.total_clusters).saturating_mul(cluster);
    let free = u64::from(status.free_clusters).min(u64::from(status.total_clusters)).saturating_mul(cluster);
    let used = total - free;
    let fat = match status.fat {
        FatKind::Fat12 => "FAT12",
        FatKind::Fat16 => "FAT16",
        FatKind::Fat32 => "FAT32",
    };
    // Rounded up, as df does: a volume with anything on it is not 0% used.
    let percent = match total {
        0 => String::from("-"),
        total => format!("{}%", (u128::from(used) * 100).div_ceil(u128::from(total))),
    };
    let header = ["TYPE", "CLUSTER", "SIZE", "USED", "FREE", "USE%"];
    let row = [
        fat.to_string(),
        human_size(cluster),
        human_size(total),
        human_size(used),
        human_size(free),
        percent,
    ];
    let mut lines = [String::new(), String::new()];
    for (index, (title, cell)) in header.iter().zip(&row).enumerate() {
        let width = title.len().max(cell.len());
        let separator = if index == 0 { "" } else { "  " };
        if index == 0 {
            lines[0].push_str(&format!("{title:<width$}"));
            lines[1].push_str(&format!("{cell:<width$}"));
        } else {
            lines[0].push_str(&format!("{separator}{title:>width$}"));
            lines[1].push_str(&format!("{separator}{cell:>width$}"));
        }
    }
    let mut text = format!("{}\n{}\n", lines[0], lines[1]);
    if status.read_only {
        text.push_str("read-only: the mount check could not finish a repair\n");
    }
    text
}

impl Command for DiskFree {
    fn run(&self, session: &mut Session<'_>) -> i32 {
        match session.fs.stat_fs() {
            Ok(status) => {
                session.print(&describe(&status));
                SUCCESS
            }
            Err(error) => {
                session.complain(&format!("{error}"));
                FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run_tool;
    use fsutil::memory::MemoryFs;

    #[test]
    fn size_used_free() {
        let status = FsStatus {
            fat: FatKind::Fat32,
            cluster_bytes: 4096,
            total_clusters: 65_536,
            free_clusters: 65_000,
            read_only: false,
        };
        assert_eq!(
            describe(&status),
            "TYPE   CLUSTER       SIZE     USED       FREE  USE%\n\
             FAT32  4.0 KiB  256.0 MiB  2.1 MiB  253.9 MiB    1%\n"
        );
        let empty = FsStatus { free_clusters: 65_536, ..status };
        assert!(describe(&empty).ends_with("0 B  256.0 MiB    0%\n"), "{}", describe(&empty));
        let nothing = FsStatus { total_clusters: 0, free_clusters: 7, read_only: true, ..status };
        assert_eq!(
            describe(&nothing),
            "TYPE   CLUSTER  SIZE  USED  FREE  USE%\n\
             FAT32  4.0 KiB   0 B   0 B   0 B     -\n\
             read-only: the mount check could not finish a repair\n"
        );
    }

    #[test]
    fn from_the_filesystem() {
        let mut fs = MemoryFs::new().with_file("/a", &[0; 5000]);
        let ran = run_tool(&DF, &[], "/", &mut fs);
        assert_eq!(ran.status, 0);
        assert!(ran.output.contains("16.0 MiB"), "{}", ran.output);
        assert_eq!(run_tool(&DF, &["/home"], "/", &mut fs).status, 2);
    }
}
