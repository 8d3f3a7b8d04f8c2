//! The local spill log: [`FileSpill`], the file adapter behind
//! [`byte_actors::ports::SpillLog`]. Persistence appends rows here while Postgres is
//! unreachable (or its memory buffer is full) and reads them back, oldest first, once the
//! database returns.
//!
//! # On disk
//!
//! A directory of segment files named `spill-{n:020}.log`, `n` counting up in write order
//! (zero-padded so a plain `ls` lists them in replay order). Each segment is a sequence of
//! frames, one frame per [`SpillLog::append`] call:
//!
//! ```text
//! offset  size  field
//! 0       4     magic + version: b"BSP1"
//! 4       4     payload length in bytes, u32 little-endian (1 ..= 64 MiB)
//! 8       4     CRC-32 (IEEE, as `crc32fast` computes it) of the payload, u32 little-endian
//! 12      len   payload: the serde_json encoding of the appended `&[Record]` slice
//! ```
//!
//! # Why this shape
//!
//! - **JSON payloads, not bincode/postcard.** [`Record`] carries `serde_json::Value` columns
//!   (event details, intel rows), which only a self-describing format can decode, and the
//!   record structs grow fields over time; JSON tolerates both, and a spilled file can be
//!   read by a human with `strings`. The encoding cost is nothing next to the outage it
//!   covers.
//! - **Magic and CRC per frame.** A crash mid-write leaves a torn tail, and some filesystems
//!   extend a file's size before its data blocks land, leaving zeros. The length prefix alone
//!   cannot tell such garbage from data: the magic rejects zero-filled headers (whose CRC
//!   would otherwise check out, CRC-32 of nothing being 0) and the CRC rejects torn or
//!   bit-flipped payloads, so a bad frame is dropped instead of replayed as wrong rows.
//! - **Segments.** Drained rows are freed by deleting whole files, never by rewriting one,
//!   so disk use tracks the backlog (plus at most one segment) without compaction, and
//!   recovery only ever has to cut the tail of the newest file.
//!
//! # Recovery and replay
//!
//! [`FileSpill::open`] validates every frame of every segment. A bad frame in the last
//! segment is a torn final write: the file is truncated there. A bad frame in an earlier
//! segment can only be disk corruption: it ends that segment's readable data, is counted and
//! logged, and the file is left as it is for inspection until it is released. New appends go
//! to a fresh segment after the recovered ones, so recovered files are never written again.
//!
//! The read position is deliberately not persisted: after a reopen every row still on disk
//! is unread again, including rows that were read (and perhaps committed) but not yet
//! released. That is safe because every row is idempotent downstream (raw chat and events
//! are inserted `ON CONFLICT DO NOTHING` on Twitch's ids, intel rows are upserts or
//! insert-once), and it saves a write and an fsync per release.
//!
//! Memory stays bounded by one frame: segments are read frame by frame through a small
//! buffer, never loaded whole.
//!
//! One process owns a directory at a time; the log does not lock it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use byte_actors::model::Record;
use byte_actors::ports::{SpillCursor, SpillError, SpillLog, SpillRecovery};

/// Frame magic; the trailing byte is the format version.
const MAGIC: [u8; 4] = *b"BSP1";
/// Bytes before each payload: magic, length, CRC.
const HEADER_LEN: usize = 12;
/// Largest payload accepted. Far above any batch Persistence spills; the bound exists so a
/// corrupt length can never make recovery allocate without limit.
const MAX_PAYLOAD: usize = 64 << 20;
/// Write buffer: appends come in batches, so a few of them coalesce into one `write`.
const WRITE_BUFFER: usize = 64 << 10;
/// Read buffer per segment being read.
const READ_BUFFER: usize = 64 << 10;
/// The frame encoding buffer is reused between appends but not kept above this size, so a
/// single huge batch does not pin its memory.
const KEEP_FRAME_BUFFER: usize = 1 << 20;
/// Rows per frame at most, so a large append is encoded in pieces that fit [`MAX_PAYLOAD`]
/// without first encoding the whole of it in vain.
const FRAME_ROWS: usize = 10_000;

/// One segment file and what is known about it.
#[derive(Debug)]
struct Segment {
    number: u64,
    path: PathBuf,
    /// End of the readable data: past the last intact frame.
    end: u64,
    /// Bytes the file occupies (more than `end` when a corrupt tail was kept).
    file_len: u64,
    /// Rows in the frames before `end`.
    rows: u64,
    /// Of those, rows already handed out by `read`.
    rows_read: u64,
}

/// The segment being appended to (always the last one).
#[derive(Debug)]
struct Writer {
    number: u64,
    file: BufWriter<File>,
    /// Everything before this offset has been handed to the OS (survives a failed write).
    flushed_end: u64,
    /// Rows before `flushed_end`.
    flushed_rows: u64,
}

/// An open read handle, positioned at the read cursor.
#[derive(Debug)]
struct Reader {
    number: u64,
    file: BufReader<File>,
}

/// Why a frame could not be read.
enum FrameError {
    /// The file could not be read: worth retrying, nothing is wrong with the data.
    Io(io::Error),
    /// The bytes are not an intact frame.
    Corrupt(String),
}

/// A segment scanned frame by frame.
struct Scan {
    /// Past the last intact frame.
    valid_end: u64,
    /// Rows in intact frames.
    rows: u64,
    /// Why scanning stopped before the limit, if it did.
    corrupt: Option<String>,
}

/// The spill log in a local directory; see the [module docs](self) for the format.
///
/// Dropping it flushes buffered appends to the OS but does not fsync them: call
/// [`SpillLog::sync`] first for durability.
#[derive(Debug)]
pub struct FileSpill {
    dir: PathBuf,
    segment_bytes: u64,
    /// Segments on disk, oldest first; the writer's, if any, is the last.
    segments: VecDeque<Segment>,
    writer: Option<Writer>,
    reader: Option<Reader>,
    /// The read position. Its segment may no longer (or not yet) exist, in which case reading
    /// continues at the first segment after it.
    pos: SpillCursor,
    /// Number for the next segment created.
    next_segment: u64,
    /// Sealed segments whose data has not been fsynced yet.
    pending_sync: Vec<(PathBuf, File)>,
    /// A segment was created since the directory was last fsynced.
    dir_dirty: bool,
    unread_rows: u64,
    disk_bytes: u64,
    /// Reused frame encoding buffer.
    frame: Vec<u8>,
}

impl FileSpill {
    /// Opens (creating if needed) the log in `dir`; recovers what an earlier process left.
    ///
    /// Every existing segment is validated frame by frame. A torn or corrupt tail of the last
    /// segment is truncated; a bad frame in an earlier segment ends that segment's readable
    /// data. All intact rows on disk are unread afterwards (see the module docs), and a new
    /// segment is started, after `segment_bytes` (checked between appends) the next one.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<(FileSpill, SpillRecovery), SpillError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut numbers = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            if let Some(number) = entry.file_name().to_str().and_then(parse_segment_name) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();

        let mut recovery = SpillRecovery::default();
        let mut segments = VecDeque::with_capacity(numbers.len());
        let mut disk_bytes = 0;
        for (i, &number) in numbers.iter().enumerate() {
            let last = i + 1 == numbers.len();
            let path = segment_path(dir, number);
            let mut file_len = fs::metadata(&path).map_err(io_err(&path))?.len();
            let scan = scan_segment(&path, file_len).map_err(io_err(&path))?;
            if let Some(why) = &scan.corrupt {
                recovery.corrupt_frames += 1;
                if last {
                    // A torn final write: the bytes after the last intact frame were never
                    // acknowledged by a sync that completed, so cutting them loses nothing
                    // that was promised.
                    let cut = file_len - scan.valid_end;
                    truncate(&path, scan.valid_end)?;
                    tracing::warn!(
                        segment = %path.display(),
                        at = scan.valid_end,
                        cut_bytes = cut,
                        reason = %why,
                        "spill log: truncated a torn tail"
                    );
                    recovery.truncated_bytes += cut;
                    file_len = scan.valid_end;
                } else {
                    tracing::error!(
                        segment = %path.display(),
                        at = scan.valid_end,
                        unreadable_bytes = file_len - scan.valid_end,
                        reason = %why,
                        "spill log: corrupt frame in an earlier segment; the rest of it is skipped"
                    );
                }
            }
            if file_len == 0 {
                // Nothing to replay and nothing to inspect.
                remove_file(&path)?;
                continue;
            }
            recovery.rows += scan.rows;
            disk_bytes += file_len;
            segments.push_back(Segment {
                number,
                path,
                end: scan.valid_end,
                file_len,
                rows: scan.rows,
                rows_read: 0,
            });
        }
        let next_segment = numbers.last().map_or(1, |n| n.saturating_add(1));

        let spill = FileSpill {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments,
            writer: None,
            reader: None,
            pos: SpillCursor::default(),
            next_segment,
            pending_sync: Vec::new(),
            dir_dirty: false,
            unread_rows: recovery.rows,
            disk_bytes,
            frame: Vec::new(),
        };
        Ok((spill, recovery))
    }

    /// Encodes `rows` into `self.frame` as one frame, or as several when they would not fit
    /// in one (a backlog of 100,000 rows holding channel snapshots encoded to 150 MB once, and
    /// refusing it kept the whole backlog in memory); returns the bytes to write. The frames
    /// go out in one write, so an append is still all or nothing.
    fn encode(&mut self, rows: &[Record]) -> Result<u64, SpillError> {
        if self.frame.capacity() > KEEP_FRAME_BUFFER {
            self.frame = Vec::new();
        }
        self.frame.clear();
        for chunk in rows.chunks(FRAME_ROWS) {
            self.encode_fitting(chunk)?;
        }
        Ok(self.frame.len() as u64)
    }

    /// Appends `rows` to `self.frame` as one frame if it fits, else as two halves (and so on).
    fn encode_fitting(&mut self, rows: &[Record]) -> Result<(), SpillError> {
        let start = self.frame.len();
        self.frame.extend_from_slice(&[0; HEADER_LEN]);
        serde_json::to_writer(&mut self.frame, rows)
            .map_err(|e| SpillError::Encode(e.to_string()))?;
        let len = self.frame.len() - start - HEADER_LEN;
        let Some(len32) = u32::try_from(len).ok().filter(|_| len <= MAX_PAYLOAD) else {
            if rows.len() < 2 {
                return Err(SpillError::Encode(format!(
                    "a row encodes to {len} bytes, above the {MAX_PAYLOAD}-byte frame limit"
                )));
            }
            self.frame.truncate(start);
            let (first, second) = rows.split_at(rows.len() / 2);
            self.encode_fitting(first)?;
            return self.encode_fitting(second);
        };
        let crc = crc32fast::hash(&self.frame[start + HEADER_LEN..]);
        self.frame[start..start + 4].copy_from_slice(&MAGIC);
        self.frame[start + 4..start + 8].copy_from_slice(&len32.to_le_bytes());
        self.frame[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// Starts a new segment file and returns its writer.
    fn create_segment(&mut self) -> Result<Writer, SpillError> {
        let number = self.next_segment;
        let path = segment_path(&self.dir, number);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        self.next_segment = number.saturating_add(1);
        self.dir_dirty = true;
        self.segments.push_back(Segment {
            number,
            path,
            end: 0,
            file_len: 0,
            rows: 0,
            rows_read: 0,
        });
        Ok(Writer {
            number,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            flushed_end: 0,
            flushed_rows: 0,
        })
    }

    /// The path of the writer's segment.
    fn writer_path(&self) -> PathBuf {
        self.segments
            .back()
            .map_or_else(|| self.dir.clone(), |s| s.path.clone())
    }

    /// Hands everything buffered to the OS, so a separate read handle sees it.
    fn flush_writer(&mut self) -> Result<(), SpillError> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        match w.file.flush() {
            Ok(()) => {
                if let Some(seg) = self.segments.back() {
                    w.flushed_end = seg.end;
                    w.flushed_rows = seg.rows;
                }
                Ok(())
            }
            Err(e) => {
                let path = self.writer_path();
                self.fail_writer();
                Err(SpillError::Io {
                    path: path.display().to_string(),
                    source: e,
                })
            }
        }
    }

    /// Closes the writer's segment (rotation): its data goes to the OS now and is fsynced by
    /// the next `sync`, which must cover every row appended before it.
    fn seal_writer(&mut self) -> Result<(), SpillError> {
        self.flush_writer()?;
        if let Some(w) = self.writer.take() {
            let path = self.writer_path();
            let (file, _empty) = w.file.into_parts();
            self.pending_sync.push((path, file));
        }
        Ok(())
    }

    /// After a failed write or flush the file holds an unknown prefix of what was buffered,
    /// possibly ending in a torn frame. Re-establish what is intact, cut the rest and seal
    /// the segment, so the log stays a sequence of whole frames and the next append starts
    /// a clean segment.
    fn fail_writer(&mut self) {
        let Some(w) = self.writer.take() else {
            return;
        };
        // Whatever the BufWriter still holds never reached the file: drop it unwritten.
        let (file, _unwritten) = w.file.into_parts();
        let Some(seg) = self.segments.back_mut().filter(|s| s.number == w.number) else {
            return;
        };
        let on_disk = file.metadata().map_or(seg.file_len, |m| m.len());
        // Frames past `seg.end` belong to the append that failed; they must not count even
        // if their bytes happen to be complete.
        let limit = on_disk.min(seg.end);
        let (good_end, good_rows) = match scan_segment(&seg.path, limit) {
            Ok(scan) => (scan.valid_end, scan.rows),
            Err(_) => (w.flushed_end.min(limit), w.flushed_rows),
        };
        let lost_rows = seg.rows.saturating_sub(good_rows);
        self.unread_rows = self.unread_rows.saturating_sub(lost_rows);
        seg.rows = good_rows;
        seg.rows_read = seg.rows_read.min(good_rows);
        seg.end = good_end;
        let new_len = match file.set_len(good_end) {
            Ok(()) => good_end,
            Err(_) => on_disk,
        };
        self.disk_bytes = self.disk_bytes.saturating_sub(seg.file_len) + new_len;
        seg.file_len = new_len;
        tracing::warn!(
            segment = %seg.path.display(),
            kept_bytes = good_end,
            lost_rows,
            "spill log: write failed; segment sealed at its last intact frame"
        );
        self.pending_sync.push((seg.path.clone(), file));
    }

    /// A frame that fails validation while reading (disk corruption after open): its
    /// segment's readable data ends there, as it would have at open.
    fn cut_segment(&mut self, idx: usize, at: u64, why: &str) {
        let Some(seg) = self.segments.get_mut(idx) else {
            return;
        };
        let lost_rows = seg.rows.saturating_sub(seg.rows_read);
        tracing::error!(
            segment = %seg.path.display(),
            at,
            lost_rows,
            reason = %why,
            "spill log: corrupt frame while reading; the rest of the segment is skipped"
        );
        self.unread_rows = self.unread_rows.saturating_sub(lost_rows);
        seg.rows = seg.rows_read;
        seg.end = at;
        if self.writer.as_ref().is_some_and(|w| w.number == seg.number) {
            // Appending after a frame that can no longer be read would strand the new rows.
            self.writer = None;
        }
        self.reader = None;
    }

    /// Drops all state once everything written has been read and released.
    fn reset_if_drained(&mut self) {
        if self.segments.is_empty() {
            self.writer = None;
            self.reader = None;
            self.pending_sync.clear();
            self.pos = SpillCursor {
                segment: self.next_segment,
                offset: 0,
            };
            self.unread_rows = 0;
            self.disk_bytes = 0;
        }
    }
}

impl SpillLog for FileSpill {
    /// Appends `rows` as one or more frames, in one write. Rotates to a new segment first when the current one has
    /// reached `segment_bytes`. On a write error the segment is sealed at its last intact
    /// frame (this append is not in the log) and the error returned.
    fn append(&mut self, rows: &[Record]) -> Result<(), SpillError> {
        if rows.is_empty() {
            return Ok(());
        }
        let len = self.encode(rows)?;
        if self.writer.is_some()
            && self
                .segments
                .back()
                .is_some_and(|s| s.end >= self.segment_bytes)
        {
            self.seal_writer()?;
        }
        let mut writer = match self.writer.take() {
            Some(w) => w,
            None => self.create_segment()?,
        };
        let written = writer.file.write_all(&self.frame);
        self.writer = Some(writer);
        if let Err(e) = written {
            let path = self.writer_path();
            self.fail_writer();
            return Err(SpillError::Io {
                path: path.display().to_string(),
                source: e,
            });
        }
        if let Some(seg) = self.segments.back_mut() {
            seg.end += len;
            seg.file_len += len;
            seg.rows += rows.len() as u64;
        }
        self.unread_rows += rows.len() as u64;
        self.disk_bytes += len;
        Ok(())
    }

    /// Flushes and `sync_data`s the current segment and any segment sealed since the last
    /// sync, then fsyncs the directory if a segment was created since then.
    ///
    /// After a failed fsync the state of the affected rows on disk is unknown (the kernel may
    /// have dropped the pages), and retrying the fsync would falsely succeed, so the segment
    /// is sealed and the error returned; its rows stay readable in this process.
    fn sync(&mut self) -> Result<(), SpillError> {
        self.flush_writer()?;
        while let Some((path, file)) = self.pending_sync.pop() {
            file.sync_data().map_err(io_err(&path))?;
        }
        if let Some(w) = self.writer.as_ref()
            && let Err(e) = w.file.get_ref().sync_data()
        {
            let path = self.writer_path();
            self.writer = None;
            return Err(SpillError::Io {
                path: path.display().to_string(),
                source: e,
            });
        }
        if self.dir_dirty {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&self.dir))?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Reads whole frames after the read cursor, oldest first, until at least `max` rows are
    /// collected or the log is exhausted. Frames are never split, so the result exceeds `max`
    /// when the last frame taken straddles it (by less than one frame). Returns the cursor
    /// just past the last frame read (the current read position when nothing was read).
    ///
    /// An I/O error after some rows were read is held back until the next call, so rows the
    /// cursor has moved past are never lost.
    fn read(&mut self, max: usize) -> Result<(Vec<Record>, SpillCursor), SpillError> {
        let mut out = Vec::new();
        let mut last_frame_end = None;
        while out.len() < max {
            let idx = self
                .segments
                .partition_point(|s| s.number < self.pos.segment);
            let Some(seg) = self.segments.get(idx) else {
                break;
            };
            if seg.number != self.pos.segment {
                self.pos = SpillCursor {
                    segment: seg.number,
                    offset: 0,
                };
                self.reader = None;
            }
            if self.pos.offset >= seg.end {
                match self.segments.get(idx + 1) {
                    Some(next) => {
                        self.pos = SpillCursor {
                            segment: next.number,
                            offset: 0,
                        };
                        self.reader = None;
                        continue;
                    }
                    None => break,
                }
            }
            let (number, end) = (seg.number, seg.end);
            if let Some(w) = &self.writer
                && w.number == number
                && w.flushed_end < end
            {
                match self.flush_writer() {
                    Ok(()) => {}
                    Err(e) if out.is_empty() => return Err(e),
                    Err(_) => break,
                }
                // A failed flush may have moved the segment's end: look again.
                continue;
            }

            let path = &self.segments[idx].path;
            if self.reader.as_ref().is_none_or(|r| r.number != number) {
                let opened = File::open(path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(self.pos.offset))?;
                    Ok(f)
                });
                match opened {
                    Ok(f) => {
                        self.reader = Some(Reader {
                            number,
                            file: BufReader::with_capacity(READ_BUFFER, f),
                        });
                    }
                    Err(e) if out.is_empty() => return Err(io_err(path)(e)),
                    Err(_) => break,
                }
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            match read_frame(&mut reader.file, end - self.pos.offset) {
                Ok((rows, frame_len)) => {
                    let n = rows.len() as u64;
                    self.pos.offset += frame_len;
                    let seg = &mut self.segments[idx];
                    seg.rows_read += n;
                    self.unread_rows = self.unread_rows.saturating_sub(n);
                    out.extend(rows);
                    last_frame_end = Some(self.pos);
                }
                Err(FrameError::Io(e)) => {
                    // The handle's position is unknown now: reopen at the cursor next time.
                    self.reader = None;
                    if out.is_empty() {
                        return Err(io_err(&self.segments[idx].path)(e));
                    }
                    break;
                }
                Err(FrameError::Corrupt(why)) => {
                    let at = self.pos.offset;
                    self.cut_segment(idx, at, &why);
                }
            }
        }
        Ok((out, last_frame_end.unwrap_or(self.pos)))
    }

    /// Deletes the segments wholly before `upto.segment`, and `upto.segment` itself when
    /// `upto` is at its end and it is not being written, but never a segment not yet fully
    /// read. Once everything written is read and released, the last segment goes too and
    /// the log starts over empty (a fresh segment on the next append).
    ///
    /// Deletions are not fsynced: a deleted segment that reappears after a crash only replays
    /// rows the database already holds, which is harmless (see the module docs).
    fn release(&mut self, upto: SpillCursor) -> Result<(), SpillError> {
        while let Some(seg) = self.segments.front() {
            let released =
                seg.number < upto.segment || (seg.number == upto.segment && upto.offset >= seg.end);
            let read = seg.number < self.pos.segment
                || (seg.number == self.pos.segment && self.pos.offset >= seg.end);
            if !(released && read) {
                break;
            }
            let is_writer = self.writer.as_ref().is_some_and(|w| w.number == seg.number);
            if is_writer && (self.segments.len() > 1 || self.unread_rows > 0) {
                break;
            }
            remove_file(&seg.path)?;
            if is_writer {
                // Everything in it has been read and released: the buffer need not reach disk.
                if let Some(w) = self.writer.take() {
                    drop(w.file.into_parts());
                }
            }
            if self.reader.as_ref().is_some_and(|r| r.number == seg.number) {
                self.reader = None;
            }
            let path = seg.path.clone();
            self.pending_sync.retain(|(p, _)| *p != path);
            self.disk_bytes = self.disk_bytes.saturating_sub(seg.file_len);
            self.segments.pop_front();
        }
        self.reset_if_drained();
        Ok(())
    }

    fn unread_rows(&self) -> u64 {
        self.unread_rows
    }

    fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }
}

/// `spill-{n:020}.log` in `dir`.
fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("spill-{number:020}.log"))
}

/// The segment number in a file name, if it is a segment's.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("spill-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Wraps an I/O error with the path it concerns.
fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpillError + '_ {
    move |source| SpillError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Removes a file; one already gone is fine.
fn remove_file(path: &Path) -> Result<(), SpillError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Cuts a file to `len` bytes, durably: the cut must not be undone by a crash, or the torn
/// frame would come back in front of rows appended later.
fn truncate(path: &Path, len: u64) -> Result<(), SpillError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.set_len(len).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Validates the frames of a segment from its start up to `limit` bytes, one at a time.
/// Real read errors are returned; bad bytes end the scan with a reason.
fn scan_segment(path: &Path, limit: u64) -> io::Result<Scan> {
    let mut file = BufReader::with_capacity(READ_BUFFER, File::open(path)?);
    let mut scan = Scan {
        valid_end: 0,
        rows: 0,
        corrupt: None,
    };
    while scan.valid_end < limit {
        match read_frame(&mut file, limit - scan.valid_end) {
            Ok((rows, frame_len)) => {
                scan.valid_end += frame_len;
                scan.rows += rows.len() as u64;
            }
            Err(FrameError::Io(e)) => return Err(e),
            Err(FrameError::Corrupt(why)) => {
                scan.corrupt = Some(why);
                break;
            }
        }
    }
    Ok(scan)
}

/// Reads and checks one frame from `r`, which must be at a frame boundary with `remaining`
/// bytes of readable data ahead. Returns the rows and the frame's length.
fn read_frame<R: Read>(r: &mut R, remaining: u64) -> Result<(Vec<Record>, u64), FrameError> {
    if remaining < HEADER_LEN as u64 {
        return Err(FrameError::Corrupt(format!(
            "{remaining} bytes, less than a frame header"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).map_err(eof_is_corrupt)?;
    if header[0..4] != MAGIC {
        return Err(FrameError::Corrupt(format!(
            "bad magic {:02x?}",
            &header[0..4]
        )));
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let frame_len = HEADER_LEN as u64 + u64::from(len);
    if len == 0 || len as usize > MAX_PAYLOAD || frame_len > remaining {
        return Err(FrameError::Corrupt(format!(
            "payload length {len} out of bounds ({} bytes left)",
            remaining - HEADER_LEN as u64
        )));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).map_err(eof_is_corrupt)?;
    let actual = crc32fast::hash(&payload);
    if actual != crc {
        return Err(FrameError::Corrupt(format!(
            "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        )));
    }
    let rows = serde_json::from_slice::<Vec<Record>>(&payload)
        .map_err(|e| FrameError::Corrupt(format!("undecodable payload: {e}")))?;
    Ok((rows, frame_len))
}

/// A file shorter than its recorded length (shrunk underneath us) is bad data, not a
/// transient I/O error.
fn eof_is_corrupt(e: io::Error) -> FrameError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        FrameError::Corrupt("file ends inside a frame".to_owned())
    } else {
        FrameError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use byte_actors::model::{
        ChannelLogin, ChatRecord, EventKind, EventRecord, IntelKind, IntelRecord,
    };
    use chrono::{DateTime, Utc};
    use tempfile::TempDir;

    use super::*;

    fn chat(i: i64) -> Record {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000 + i, 0).unwrap();
        Record::Chat(Arc::new(ChatRecord {
            message_id: format!("msg-{i}"),
            channel: ChannelLogin::parse("forsen").unwrap(),
            room_id: Some("22484632".into()),
            user_id: format!("{}", 1000 + i),
            user_login: format!("viewer{i}"),
            display_name: format!("Viewer{i}"),
            text: format!("hello-{i:06} from chat"),
            bits: None,
            badges: "subscriber/12".into(),
            emotes: String::new(),
            is_moderator: false,
            is_subscriber: true,
            sent_at: t,
            received_at: t,
            seq: i,
        }))
    }

    fn event(i: i64) -> Record {
        Record::Event(Arc::new(EventRecord {
            event_id: format!("ev-{i}"),
            channel: ChannelLogin::from_twitch("abc"),
            kind: EventKind::Raid,
            user_login: Some("raider".into()),
            amount: Some(i),
            details: serde_json::json!({ "viewers": i, "nested": { "a": [1, 2, 3] } }),
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            seq: i,
        }))
    }

    fn intel(i: i64) -> Record {
        Record::Intel(Arc::new(IntelRecord {
            kind: IntelKind::Rollup,
            key: format!("forsen/{i}"),
            row: serde_json::json!({ "channel": "forsen", "minute": i, "messages": 3 }),
        }))
    }

    /// A mix of all three kinds, identified by `i`.
    fn row(i: i64) -> Record {
        match i % 5 {
            3 => event(i),
            4 => intel(i),
            _ => chat(i),
        }
    }

    fn rows(from: i64, n: i64) -> Vec<Record> {
        (from..from + n).map(row).collect()
    }

    fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
        let mut files: Vec<(u64, u64)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter_map(|e| {
                let n = parse_segment_name(e.file_name().to_str()?)?;
                Some((n, e.metadata().unwrap().len()))
            })
            .collect();
        files.sort_unstable();
        files
    }

    fn on_disk_bytes(dir: &Path) -> u64 {
        segment_files(dir).iter().map(|(_, len)| len).sum()
    }

    /// Reads everything left, `chunk` rows at a time.
    fn drain(spill: &mut FileSpill, chunk: usize) -> (Vec<Record>, SpillCursor) {
        let mut all = Vec::new();
        let mut cursor = SpillCursor::default();
        loop {
            let (got, c) = spill.read(chunk).unwrap();
            if got.is_empty() {
                return (all, cursor.max(c));
            }
            cursor = c;
            all.extend(got);
        }
    }

    #[test]
    fn round_trip_across_many_segments() {
        let dir = TempDir::new().unwrap();
        let (mut spill, recovery) = FileSpill::open(dir.path(), 512).unwrap();
        assert_eq!(recovery, SpillRecovery::default());
        let mut written = Vec::new();
        for b in 0..60 {
            let batch = rows(b * 3, 3);
            spill.append(&batch).unwrap();
            written.extend(batch);
        }
        spill.sync().unwrap();
        let files = segment_files(dir.path());
        assert!(files.len() >= 10, "expected many segments, got {files:?}");
        let numbers: Vec<u64> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (1..=files.len() as u64).collect::<Vec<_>>());
        assert_eq!(spill.disk_bytes(), on_disk_bytes(dir.path()));

        let (read, cursor) = drain(&mut spill, 7);
        assert_eq!(read, written);
        assert_eq!(cursor.segment, *numbers.last().unwrap());
        assert_eq!(spill.unread_rows(), 0);
    }

    #[test]
    fn reads_whole_frames_and_may_exceed_max_by_less_than_one_frame() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        spill.append(&rows(0, 4)).unwrap();
        spill.append(&rows(4, 4)).unwrap();
        spill.append(&rows(8, 4)).unwrap();
        let (got, _) = spill.read(5).unwrap();
        assert_eq!(got, rows(0, 8), "stops after the frame that reaches max");
        let (got, _) = spill.read(0).unwrap();
        assert!(got.is_empty());
        let (got, _) = spill.read(100).unwrap();
        assert_eq!(got, rows(8, 4));
        let (got, _) = spill.read(100).unwrap();
        assert!(got.is_empty());
        assert!(spill.append(&[]).is_ok());
        assert_eq!(spill.unread_rows(), 0);
    }

    #[test]
    fn a_large_append_is_written_as_several_frames_and_reads_back_whole() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 30).unwrap();
        let many = rows(0, 2 * FRAME_ROWS as i64 + 5);
        spill.append(&many).unwrap();
        spill.sync().unwrap();
        // A read stops after the frame that reaches its maximum: one frame's worth.
        let (first, _) = spill.read(1).unwrap();
        assert_eq!(first.len(), FRAME_ROWS, "frames of at most FRAME_ROWS rows");
        drop(spill);
        let (mut spill, recovery) = FileSpill::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(recovery.rows, many.len() as u64);
        assert_eq!(recovery.corrupt_frames, 0);
        assert_eq!(drain(&mut spill, 1_000_000).0, many);
    }

    #[test]
    fn order_is_kept_across_interleaved_appends_and_reads() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 300).unwrap();
        let mut next = 0;
        let mut read = Vec::new();
        let mut last_cursor = SpillCursor::default();
        for round in 0..40 {
            let n = 1 + round % 4;
            spill.append(&rows(next, n)).unwrap();
            next += n;
            if round % 3 == 0 {
                spill.sync().unwrap();
            }
            let (got, cursor) = spill.read((round % 5) as usize + 1).unwrap();
            assert!(
                cursor >= last_cursor,
                "cursor went back: {cursor:?} < {last_cursor:?}"
            );
            last_cursor = cursor;
            read.extend(got);
            assert_eq!(spill.unread_rows(), (next as usize - read.len()) as u64);
        }
        let (rest, _) = drain(&mut spill, 3);
        read.extend(rest);
        assert_eq!(read, rows(0, next));
    }

    #[test]
    fn release_deletes_segments_and_resets_when_drained() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 400).unwrap();
        for b in 0..30 {
            spill.append(&rows(b * 2, 2)).unwrap();
        }
        spill.sync().unwrap();
        let before = segment_files(dir.path());
        assert!(before.len() >= 5, "{before:?}");
        assert_eq!(spill.disk_bytes(), on_disk_bytes(dir.path()));

        // Half way: segments before the cursor's go, the cursor's own stays (unless finished).
        let (got, cursor) = spill.read(30).unwrap();
        assert_eq!(got, rows(0, 30));
        spill.release(cursor).unwrap();
        let after = segment_files(dir.path());
        assert!(after.len() < before.len(), "{after:?}");
        assert!(after.iter().all(|(n, _)| *n >= cursor.segment));
        assert_eq!(spill.disk_bytes(), on_disk_bytes(dir.path()));

        // A stale cursor releases nothing more.
        spill.release(SpillCursor::default()).unwrap();
        assert_eq!(segment_files(dir.path()), after);

        // Releasing past what was read deletes nothing unread.
        spill
            .release(SpillCursor {
                segment: u64::MAX,
                offset: u64::MAX,
            })
            .unwrap();
        assert_eq!(segment_files(dir.path()).len(), after.len());

        // Drained and released: nothing left on disk.
        let (rest, cursor) = drain(&mut spill, 1000);
        assert_eq!(rest, rows(30, 30));
        spill.release(cursor).unwrap();
        assert!(segment_files(dir.path()).is_empty());
        assert_eq!(spill.disk_bytes(), 0);
        assert_eq!(spill.unread_rows(), 0);

        // And it starts over, with a fresh segment numbered after the old ones.
        spill.append(&rows(100, 3)).unwrap();
        spill.sync().unwrap();
        let fresh = segment_files(dir.path());
        assert_eq!(fresh.len(), 1);
        assert!(fresh[0].0 > before.last().unwrap().0);
        assert_eq!(spill.disk_bytes(), on_disk_bytes(dir.path()));
        let (got, cursor) = spill.read(10).unwrap();
        assert_eq!(got, rows(100, 3));
        spill.release(cursor).unwrap();
        assert!(segment_files(dir.path()).is_empty());
        assert_eq!(spill.disk_bytes(), 0);
    }

    #[test]
    fn releasing_the_drained_writer_segment_resets() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        spill.append(&rows(0, 3)).unwrap();
        let (got, cursor) = spill.read(10).unwrap();
        assert_eq!(got, rows(0, 3), "unsynced rows are readable");
        spill.release(cursor).unwrap();
        assert!(segment_files(dir.path()).is_empty());
        assert_eq!(spill.disk_bytes(), 0);
        // Nothing half-released: a row appended after the read keeps the segment.
        spill.append(&rows(3, 1)).unwrap();
        let (_, cursor) = spill.read(10).unwrap();
        spill.append(&rows(4, 1)).unwrap();
        spill.release(cursor).unwrap();
        assert_eq!(segment_files(dir.path()).len(), 1);
        assert_eq!(spill.unread_rows(), 1);
        assert_eq!(spill.read(10).unwrap().0, rows(4, 1));
    }

    #[test]
    fn reopen_recovers_every_row_still_on_disk() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 400).unwrap();
        for b in 0..20 {
            spill.append(&rows(b * 2, 2)).unwrap();
        }
        spill.sync().unwrap();
        // Read 25 rows, release only what those cover; a few more are read but not released.
        let (_, cursor) = spill.read(25).unwrap();
        spill.release(cursor).unwrap();
        let (_, _) = spill.read(5).unwrap();
        let left_on_disk = segment_files(dir.path());
        let first_left = left_on_disk[0].0;
        drop(spill);

        let (mut spill, recovery) = FileSpill::open(dir.path(), 400).unwrap();
        assert_eq!(recovery.corrupt_frames, 0);
        assert_eq!(recovery.truncated_bytes, 0);
        assert_eq!(spill.unread_rows(), recovery.rows);
        assert_eq!(spill.disk_bytes(), on_disk_bytes(dir.path()));
        let (again, _) = drain(&mut spill, 1000);
        assert_eq!(again.len() as u64, recovery.rows);
        // Whole segments survive, so the replay starts at a segment boundary at or before the
        // released cursor and runs to the end, in order.
        let first = rows(0, 40).iter().position(|r| *r == again[0]).unwrap() as i64;
        assert!(first <= 26, "replay starts at row {first}");
        assert_eq!(again, rows(first, 40 - first));
        assert!(first_left <= cursor.segment + 1);

        // New rows go after the recovered ones, in a new segment.
        spill.append(&rows(40, 2)).unwrap();
        spill.sync().unwrap();
        assert!(segment_files(dir.path()).last().unwrap().0 > left_on_disk.last().unwrap().0);
        drop(spill);
        let (mut spill, recovery) = FileSpill::open(dir.path(), 400).unwrap();
        assert_eq!(recovery.rows, 40 - first as u64 + 2);
        assert_eq!(drain(&mut spill, 7).0, rows(first, 42 - first));
    }

    #[test]
    fn torn_tail_is_cut_and_earlier_frames_survive() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        for b in 0..5 {
            spill.append(&rows(b * 3, 3)).unwrap();
        }
        spill.sync().unwrap();
        drop(spill);
        let (n, len) = segment_files(dir.path())[0];
        let path = segment_path(dir.path(), n);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 5)
            .unwrap();

        let (mut spill, recovery) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(recovery.rows, 12);
        assert_eq!(recovery.corrupt_frames, 1);
        let cut = recovery.truncated_bytes;
        assert!(cut > 0 && cut < len);
        assert_eq!(fs::metadata(&path).unwrap().len(), len - 5 - cut);
        assert_eq!(spill.disk_bytes(), len - 5 - cut);
        // The log goes on after the cut.
        spill.append(&rows(100, 1)).unwrap();
        let (got, _) = drain(&mut spill, 100);
        let mut expected = rows(0, 12);
        expected.extend(rows(100, 1));
        assert_eq!(got, expected);
    }

    #[test]
    fn garbage_and_zero_filled_tails_are_cut() {
        for tail in [
            b"\x00\x01garbage, not a frame at all".to_vec(),
            vec![0u8; 4096],
        ] {
            let dir = TempDir::new().unwrap();
            let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
            spill.append(&rows(0, 2)).unwrap();
            spill.append(&rows(2, 2)).unwrap();
            spill.sync().unwrap();
            drop(spill);
            let (n, len) = segment_files(dir.path())[0];
            let path = segment_path(dir.path(), n);
            OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(&tail)
                .unwrap();

            let (mut spill, recovery) = FileSpill::open(dir.path(), 1 << 20).unwrap();
            assert_eq!(
                recovery,
                SpillRecovery {
                    rows: 4,
                    corrupt_frames: 1,
                    truncated_bytes: tail.len() as u64,
                }
            );
            assert_eq!(fs::metadata(&path).unwrap().len(), len);
            assert_eq!(drain(&mut spill, 100).0, rows(0, 4));
        }
    }

    /// Flips one letter of a chat text, which leaves the JSON valid: only the CRC can tell.
    fn flip_text_byte(path: &Path, i: i64) {
        let mut bytes = fs::read(path).unwrap();
        let needle = format!("hello-{i:06}");
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap();
        bytes[at] = b'j';
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn flipped_payload_byte_is_caught_by_crc() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1).unwrap();
        // segment_bytes = 1: one frame per segment, segments 1..=4 holding rows 0..8.
        for b in 0..4 {
            spill.append(&[chat(b * 2), chat(b * 2 + 1)]).unwrap();
        }
        spill.sync().unwrap();
        drop(spill);
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 4);

        // In an earlier segment: its frame is skipped, the file kept, later segments intact.
        let earlier = segment_path(dir.path(), files[1].0);
        flip_text_byte(&earlier, 2);
        let (mut spill, recovery) = FileSpill::open(dir.path(), 1).unwrap();
        assert_eq!(
            recovery,
            SpillRecovery {
                rows: 6,
                corrupt_frames: 1,
                truncated_bytes: 0,
            }
        );
        assert_eq!(fs::metadata(&earlier).unwrap().len(), files[1].1);
        assert_eq!(spill.unread_rows(), 6);
        let (got, cursor) = drain(&mut spill, 100);
        let mut expected: Vec<Record> = vec![chat(0), chat(1)];
        expected.extend((4..8).map(chat));
        assert_eq!(got, expected);
        // Released with the rest, the corrupt file goes too.
        spill.release(cursor).unwrap();
        assert!(segment_files(dir.path()).is_empty());
        drop(spill);

        // In the last segment: cut, like a torn tail.
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        spill.append(&[chat(10)]).unwrap();
        spill.append(&[chat(11)]).unwrap();
        spill.sync().unwrap();
        drop(spill);
        let (n, len) = segment_files(dir.path())[0];
        let path = segment_path(dir.path(), n);
        flip_text_byte(&path, 11);
        let (mut spill, recovery) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(recovery.rows, 1);
        assert_eq!(recovery.corrupt_frames, 1);
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            len - recovery.truncated_bytes
        );
        assert_eq!(drain(&mut spill, 100).0, vec![chat(10)]);
    }

    #[test]
    fn unread_rows_tracks_appends_reads_and_recovery() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 256).unwrap();
        assert_eq!(spill.unread_rows(), 0);
        spill.append(&rows(0, 5)).unwrap();
        spill.append(&rows(5, 5)).unwrap();
        assert_eq!(spill.unread_rows(), 10);
        let (got, cursor) = spill.read(3).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(spill.unread_rows(), 5);
        spill.release(cursor).unwrap();
        assert_eq!(
            spill.unread_rows(),
            5,
            "release does not change what is unread"
        );
        spill.append(&rows(10, 2)).unwrap();
        assert_eq!(spill.unread_rows(), 7);
        spill.sync().unwrap();
        drop(spill);

        let (mut spill, recovery) = FileSpill::open(dir.path(), 256).unwrap();
        assert_eq!(spill.unread_rows(), recovery.rows);
        assert!(recovery.rows >= 7);
        drain(&mut spill, 4);
        assert_eq!(spill.unread_rows(), 0);
    }

    #[test]
    fn a_failed_write_seals_the_segment_at_its_last_intact_frame() {
        let dir = TempDir::new().unwrap();
        let (mut spill, _) = FileSpill::open(dir.path(), 1 << 20).unwrap();
        spill.append(&rows(0, 2)).unwrap();
        spill.append(&rows(2, 2)).unwrap();
        spill.sync().unwrap();
        let intact = on_disk_bytes(dir.path());
        spill.append(&rows(4, 2)).unwrap();
        spill.sync().unwrap();
        // As if the write of the last frame had only partly reached the file.
        let (n, len) = segment_files(dir.path())[0];
        let path = segment_path(dir.path(), n);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        spill.fail_writer();
        assert!(spill.writer.is_none());
        assert_eq!(spill.unread_rows(), 4);
        assert_eq!(fs::metadata(&path).unwrap().len(), intact);
        assert_eq!(spill.disk_bytes(), intact);
        // The next append starts a clean segment; nothing is lost but the torn frame.
        spill.append(&rows(6, 1)).unwrap();
        spill.sync().unwrap();
        assert_eq!(segment_files(dir.path()).len(), 2);
        let mut expected = rows(0, 4);
        expected.extend(rows(6, 1));
        assert_eq!(drain(&mut spill, 100).0, expected);
    }

    #[test]
    fn foreign_files_are_left_alone() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
        fs::write(dir.path().join("spill-1.log"), "not a segment name").unwrap();
        let (mut spill, recovery) = FileSpill::open(dir.path(), 256).unwrap();
        assert_eq!(recovery, SpillRecovery::default());
        spill.append(&rows(0, 1)).unwrap();
        let (_, cursor) = spill.read(1).unwrap();
        spill.release(cursor).unwrap();
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("spill-1.log").exists());
    }

    #[test]
    fn an_empty_leftover_segment_is_removed() {
        let dir = TempDir::new().unwrap();
        fs::write(segment_path(dir.path(), 7), b"").unwrap();
        let (mut spill, recovery) = FileSpill::open(dir.path(), 256).unwrap();
        assert_eq!(recovery, SpillRecovery::default());
        assert!(segment_files(dir.path()).is_empty());
        spill.append(&rows(0, 1)).unwrap();
        spill.sync().unwrap();
        assert_eq!(segment_files(dir.path())[0].0, 8, "numbering continues");
    }
}

/// Opens a [`FileSpill`] in a directory each time Persistence starts.
#[derive(Debug, Clone)]
pub struct FileSpillFactory {
    dir: PathBuf,
    segment_bytes: u64,
}

impl FileSpillFactory {
    /// Segments of 64 MiB: large enough that rotation is rare, small enough that a drained
    /// segment frees its space soon.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            segment_bytes: 64 << 20,
        }
    }
}

impl byte_actors::ports::SpillFactory for FileSpillFactory {
    fn open(&self) -> Result<(Box<dyn SpillLog>, SpillRecovery), SpillError> {
        let (log, recovery) = FileSpill::open(&self.dir, self.segment_bytes)?;
        Ok((Box::new(log), recovery))
    }
}
