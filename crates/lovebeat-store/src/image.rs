//! The services image: every service record in one sequential file,
//! written at a clean shutdown so that the next start reads one file
//! instead of walking sled's `services` tree key by key (at a million
//! services, well under a second instead of about eight).
//!
//! The image is a cache of the tree, never the only copy of anything. It
//! names the store generation it equals, and the next load takes it only
//! when that is still the store's generation, its format is this
//! lovebeat's and its checksum holds; the load removes it either way, so
//! it is good for exactly one start. A crash, a save, an import since the
//! shutdown, or a torn or foreign file: the load reads the tree instead.
//! It is written to a temporary file and renamed into place without a
//! sync: a file that a crash tore fails its checksum.
//!
//! Layout, integers little-endian: [`MAGIC`] (8 bytes), the format (`u32`,
//! [`FORMAT_VERSION`]), the generation (`u64`), the number of services
//! (`u64`); per service, in name order, its name and its record (the
//! `record` module's bytes), each as a length (`u32`) and the bytes; then
//! the CRC-32 of everything before it (`u32`).

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use lovebeat_core::ServiceRecord;

use crate::replace;
use crate::schema::{self, FORMAT_VERSION};

/// The image's file name in the store directory.
pub(crate) const FILE: &str = "services.image";
const MAGIC: &[u8; 8] = b"LBIMAGE\n";

/// Writes `records` as the image of the store at `dir` as of `generation`.
pub(crate) fn write(
    dir: &Path,
    generation: u64,
    mut records: Vec<ServiceRecord>,
) -> io::Result<()> {
    records.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    replace::replace(&dir.join(FILE), |file| write_to(file, generation, &records))
}

fn write_to(file: File, generation: u64, records: &[ServiceRecord]) -> io::Result<()> {
    let file = Checksummed {
        inner: file,
        crc: crc32fast::Hasher::new(),
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT_VERSION.to_le_bytes())?;
    out.write_all(&generation.to_le_bytes())?;
    out.write_all(&(records.len() as u64).to_le_bytes())?;
    for record in records {
        put(&mut out, record.name.as_bytes())?;
        put(&mut out, &schema::encode_service(record))?;
    }
    let Checksummed { mut inner, crc } = out.into_inner().map_err(|e| e.into_error())?;
    inner.write_all(&crc.finalize().to_le_bytes())
}

fn put(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record over 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

/// A file that keeps the CRC-32 of what was written to it.
struct Checksummed {
    inner: File,
    crc: crc32fast::Hasher,
}

impl Write for Checksummed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.crc.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The services of the image in `dir`, if there is one and it is the
/// store's as of `generation`; removes it (and any temporary left by a
/// shutdown cut short) whether it was taken or not.
pub(crate) fn take(dir: &Path, generation: u64) -> Option<Vec<ServiceRecord>> {
    let path = dir.join(FILE);
    let _ = fs::remove_file(replace::temporary(&path));
    let read = match File::open(&path) {
        Ok(file) => read(file, generation),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => Err(e.to_string()),
    };
    let _ = fs::remove_file(&path);
    match read {
        Ok(services) => Some(services),
        Err(why) => {
            tracing::info!(
                "{}: not used, {why}; reading the database instead",
                path.display()
            );
            None
        }
    }
}

/// Reads an image as it streams by (a million services are half a
/// gigabyte, never held whole); the checksum is checked at the end, and a
/// mismatch discards everything read.
fn read(file: File, generation: u64) -> Result<Vec<ServiceRecord>, String> {
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut input = Input {
        reader: BufReader::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
        left: size,
    };
    if input.array()? != *MAGIC {
        return Err("it is not a services image".to_owned());
    }
    let format = u32::from_le_bytes(input.array()?);
    if format != FORMAT_VERSION {
        return Err(format!("it is of format {format}, not {FORMAT_VERSION}"));
    }
    let imaged = u64::from_le_bytes(input.array()?);
    if imaged != generation {
        return Err(format!(
            "it is of save {imaged} and the database has had {generation}"
        ));
    }
    let count = u64::from_le_bytes(input.array()?);
    // Each service takes at least its two lengths: no huge reservation
    // for a count the file cannot hold.
    let mut services = Vec::with_capacity(count.min(size / 8) as usize);
    let (mut name, mut record) = (Vec::new(), Vec::new());
    for _ in 0..count {
        input.text(&mut name)?;
        input.text(&mut record)?;
        services.push(schema::decode_service(&name, &record).map_err(|e| e.to_string())?);
    }
    let computed = input.crc.clone().finalize();
    if u32::from_le_bytes(input.array()?) != computed {
        return Err("its checksum does not match (a shutdown cut short?)".to_owned());
    }
    if input.left > 0 {
        return Err("it has bytes after its checksum".to_owned());
    }
    Ok(services)
}

/// The rest of an image file, read in order, and the CRC-32 of what was
/// read so far.
struct Input {
    reader: BufReader<File>,
    crc: crc32fast::Hasher,
    /// Bytes of the file not read yet.
    left: u64,
}

impl Input {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if buf.len() as u64 > self.left {
            return Err("it ends early".to_owned());
        }
        self.reader.read_exact(buf).map_err(|e| e.to_string())?;
        self.left -= buf.len() as u64;
        self.crc.update(buf);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut bytes = [0; N];
        self.fill(&mut bytes)?;
        Ok(bytes)
    }

    /// A length (`u32`) and that many bytes, into `bytes`.
    fn text(&mut self, bytes: &mut Vec<u8>) -> Result<(), String> {
        let len = u32::from_le_bytes(self.array()?);
        if u64::from(len) > self.left {
            return Err("it ends early".to_owned());
        }
        bytes.resize(len as usize, 0);
        self.fill(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::service;

    fn records() -> Vec<ServiceRecord> {
        vec![service("b", 2), service("a", 1), service("c", 3)]
    }

    #[test]
    fn an_image_is_taken_once_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, records()).unwrap();
        let taken = take(dir.path(), 7).expect("the image of generation 7");
        let names: Vec<&str> = taken.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(taken[0], service("a", 1));
        assert_eq!(take(dir.path(), 7), None, "an image is good for one start");
    }

    #[test]
    fn an_image_of_another_generation_is_not_taken_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, records()).unwrap();
        assert_eq!(take(dir.path(), 8), None);
        assert!(!dir.path().join(FILE).exists());
    }

    #[test]
    fn a_damaged_or_cut_image_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, records()).unwrap();
        let whole = fs::read(dir.path().join(FILE)).unwrap();
        let mut flipped = whole.clone();
        flipped[40] ^= 1;
        for bad in [flipped, whole[..whole.len() - 9].to_vec(), Vec::new()] {
            fs::write(dir.path().join(FILE), bad).unwrap();
            assert_eq!(take(dir.path(), 7), None);
        }
    }

    #[test]
    fn a_temporary_left_by_a_cut_shutdown_is_removed_and_never_taken() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7, records()).unwrap();
        let path = dir.path().join(FILE);
        fs::rename(&path, replace::temporary(&path)).unwrap();
        assert_eq!(take(dir.path(), 7), None);
        assert!(!replace::temporary(&path).exists());
    }
}
